"""Who joins the next wave when the image filesystem has a say (core.capacity).

With capacity checks on (`World.storage` is not None), a WAITING node is admitted only
if the model, at its runtime's storage factor, fits below the kubelet's thresholds.
A node with DiskPressure is never admitted, and while a node of the wave (one pulling
now) has DiskPressure the wave admits nobody: the pulls may be what fills the disks.
Nodes refused for storage stay WAITING and are judged again at every pass with fresh
stats, so they join when space appears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelprefetch.api.status import MAX_LISTED_NODES, ModelDeploymentStatus, StorageWaitingNode
from modelprefetch.core.capacity import (
    DISK_PRESSURE,
    Fit,
    NodeStorage,
    judge,
    model_cost,
)
from modelprefetch.core.labels import prefetch_label_key
from modelprefetch.core.plan import WARNING, Event
from modelprefetch.core.targeting import Targets
from modelprefetch.core.waves import NodeProgress, NodeState, admit
from modelprefetch.core.world import World
from modelprefetch.oci.artifact import ResolvedArtifact


@dataclass(frozen=True, slots=True)
class StorageWait:
    """A node that was not admitted because of its disk, and why (with the numbers)."""

    node: str
    reason: str  # InsufficientStorage | DiskPressure | StorageUnknown
    message: str


def digests_by_label_key(world: World, targets: Targets) -> dict[str, str]:
    """The mounted digest behind each current prefetch label key."""
    return {
        prefetch_label_key(world.namespace, world.name, group.digest): group.digest
        for group in targets.groups
    }


def admit_within_storage(
    world: World,
    artifact: ResolvedArtifact,
    targets: Targets,
    progress: Sequence[NodeProgress],
    slots: int,
) -> tuple[list[NodeProgress], list[StorageWait]]:
    """The nodes that join the wave now, and the candidates refused for storage."""
    if world.storage is None:
        return admit(progress, slots), []
    storage = world.storage
    digests = digests_by_label_key(world, targets)
    pressured = sorted(
        p.node.name for p in progress if p.state is NodeState.PULLING and p.node.disk_pressure
    )
    if pressured:
        message = (
            f"Node {pressured[0]} of the wave has DiskPressure: no node joins the wave "
            "until it clears"
        )
        return [], [StorageWait(name, DISK_PRESSURE, message) for name in pressured]
    verdicts: dict[str, Fit] = {}

    def fits(p: NodeProgress) -> bool:
        if p.node.name not in storage and not p.node.disk_pressure:
            # Past the candidates the reconciler asked this pass (it asks in name order
            # until the wave is full): neither admitted nor reported, asked next pass.
            return False
        verdicts[p.node.name] = _verdict(world, storage, artifact, digests, p)
        return verdicts[p.node.name].fits

    admitted = admit(progress, slots, fits)
    waits = [
        StorageWait(name, fit.reason, fit.message)
        for name, fit in sorted(verdicts.items())
        if fit.reason is not None
    ]
    return admitted, waits


def _verdict(
    world: World,
    storage: Mapping[str, NodeStorage],
    artifact: ResolvedArtifact,
    digests: Mapping[str, str],
    p: NodeProgress,
) -> Fit:
    if p.node.disk_pressure:
        return Fit(DISK_PRESSURE, f"Node {p.node.name} has DiskPressure")
    found = storage[p.node.name]
    cost = model_cost(artifact, digests.get(p.label_key, artifact.digest), p.node.runtime_version)
    return judge(found, cost, world.storage_policy)


MAX_STORAGE_EVENTS = 5  # per reconcile; the rest are in status.storageWaitingNodes


def with_storage_waits(
    status: ModelDeploymentStatus, waits: Sequence[StorageWait]
) -> ModelDeploymentStatus:
    """The status listing the nodes refused for storage (at most MAX_LISTED_NODES)."""
    listed = [
        StorageWaitingNode(name=w.node, reason=w.reason, message=w.message)
        for w in waits[:MAX_LISTED_NODES]
    ]
    return status.model_copy(update={"storage_waiting_nodes": listed})


def storage_events(world: World, waits: Sequence[StorageWait]) -> list[Event]:
    """A Warning per node newly refused (or refused for a new reason), level-based on
    the previous status so a node waiting for hours is reported once."""
    before = {
        (entry.get("name"), entry.get("reason"))
        for entry in world.previous.get("storageWaitingNodes") or ()
        if isinstance(entry, dict)
    }
    fresh = [w for w in waits if (w.node, w.reason) not in before]
    return [
        Event(WARNING, w.reason, f"Node {w.node} not admitted: {w.message}")
        for w in fresh[:MAX_STORAGE_EVENTS]
    ]
