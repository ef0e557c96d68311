"""The pure planner: one World in, one Plan out.

    targeting -> runtime groups -> per-node wave state -> admissions -> rollout
    -> DaemonSets, node labels, status, events, requeue

Level-based: the plan depends only on the World (labels carry admission times,
status.failedNodes carries failure history, ranking is by node name), so replanning
after a restart at any point gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.admission import admit_within_storage, storage_events, with_storage_waits
from modelprefetch.core.builders import build_holder_daemonset, holder_daemonset_name
from modelprefetch.core.labels import (
    prefetch_label_key,
    warm_key_for,
)
from modelprefetch.core.node_labels import keys_in_use, label_changes
from modelprefetch.core.node_phases import node_phases, summarize
from modelprefetch.core.plan import Plan
from modelprefetch.core.report import (
    build_status,
    events_for,
    invalid_spec_status,
    unresolved_status,
    unverified_status,
)
from modelprefetch.core.rollout import Retirement, retire
from modelprefetch.core.targeting import Targets, group_by_mount, matching_nodes
from modelprefetch.core.waves import (
    NodeProgress,
    NodeState,
    classify,
    failure_records,
    parse_time,
    wave_size,
)
from modelprefetch.core.world import HolderPod, Problem, World
from modelprefetch.oci.artifact import LayerFormat, ResolvedArtifact

__all__ = ["plan", "verified_file_digests"]


def verified_file_digests(artifact: ResolvedArtifact) -> dict[str, str]:
    """Path -> sha256 of every raw-layer file: a raw layer's digest is the file's own, so
    `hold` can prove the mounted file (native or re-wrapped in the derived image) is the
    verified one. Only reached with a verified digest (the planner gates before)."""
    return {
        layer.path: layer.digest
        for layer in artifact.layers
        if layer.layer_format is LayerFormat.RAW
        and layer.path
        and layer.digest.startswith("sha256:")
    }


def plan(world: World) -> Plan:
    """Decide DaemonSets, node labels, status and events for one ModelDeployment.

    Four cases: an invalid spec (report it, change nothing), a reference not resolved
    yet (report that, change nothing), a digest that spec.model.verify rejects (report
    why, change nothing), and the full plan.
    """
    spec = world.spec
    if spec is None:
        problem = world.spec_error or Problem("InvalidSpec", "The spec is invalid")
        status = invalid_spec_status(world, problem)
        return Plan(status=status, events=tuple(events_for(world, "", status, ())))
    if world.resolved is None:
        status = unresolved_status(world, spec)
        return Plan(
            status=status, events=tuple(events_for(world, spec.model.reference, status, ()))
        )
    if world.verification is not None and not world.verification.verified:
        # nothing is pulled and no node changes until the digest verifies
        status = unverified_status(world, spec)
        return Plan(
            status=status, events=tuple(events_for(world, spec.model.reference, status, ()))
        )
    holders = _holders_by_node(world.holder_pods)
    targets = group_by_mount(
        world.resolved,
        matching_nodes(spec.nodes, world.nodes, world.settings.holder_tolerations),
        allow_derivation=spec.model.allow_derivation,
        needs_subpath=spec.mount.sub_path is not None,
    )
    records = failure_records(world.previous)
    progress = [
        classify(
            node,
            label_key,
            holders.get((daemonset, node.name)),
            timeout=spec.prefetch.timeout,
            now=world.now,
            failure=records.get(node.name),
        )
        for group in targets.groups
        # one label key and DaemonSet name per group, not per node (a hash each)
        for label_key, daemonset in [
            (
                prefetch_label_key(world.namespace, world.name, group.digest),
                holder_daemonset_name(world.name, world.namespace, group.digest),
            )
        ]
        for node in group.nodes
    ]
    wave = wave_size(spec.prefetch.max_concurrent_nodes, targets.desired)
    slots = wave - sum(p.state is NodeState.PULLING for p in progress)
    admitted, storage_waits = admit_within_storage(world, world.resolved, targets, progress, slots)
    retirements = _retirements(world, holders, targets, progress)
    holder_sets = {
        prefetch_label_key(world.namespace, world.name, g.digest): holder_daemonset_name(
            world.name, world.namespace, g.digest
        )
        for g in targets.groups
    }
    phases = node_phases(
        progress,
        lambda p: holders.get((holder_sets[p.label_key], p.node.name)),
        world.pull_events,
        world.previous,
        now=world.now,
    )
    status = build_status(
        world,
        spec,
        world.resolved,
        targets=targets,
        progress=progress,
        admitted=admitted,
        paused=wave == 0,
        rolling_out=any(not r.done for r in retirements),
        label_keys=keys_in_use(targets, world, retirements),
        records=records,
        retirements=retirements,
        progress_block=summarize(
            phases,
            desired=targets.desired,
            wave=wave,
            now=world.now,
            extra_pending=len(targets.awaiting_derivation),
        ),
    )
    status = with_storage_waits(status, storage_waits)
    requeue = _requeue_after(world, spec, status, progress, admitted, retirements)
    if storage_waits:  # re-check the disks at the poll interval: space may appear
        poll = world.settings.poll_interval.total_seconds()
        requeue = poll if requeue is None else min(requeue, poll)
    return Plan(
        status=status,
        daemonsets=tuple(_daemonsets(world, spec, targets, world.resolved)),
        delete_daemonsets=tuple(sorted(r.daemonset.name for r in retirements if r.done)),
        node_labels=label_changes(world, targets, progress, admitted, retirements),
        events=tuple(
            events_for(world, spec.model.reference, status, retirements)
            + storage_events(world, storage_waits)
        ),
        requeue_after=requeue,
        publish_derived_image=bool(targets.awaiting_derivation),
        node_states=_node_states(progress),
        prefetched=_prefetched(progress, world.now),
    )


_METRIC_STATE = {
    NodeState.READY: "ready",
    NodeState.PULLING: "pulling",
    NodeState.WAITING: "waiting",
    NodeState.FAILED: "failed",
    NodeState.BACKOFF: "failed",
}


def _node_states(progress: list[NodeProgress]) -> dict[str, str]:
    """Per node, the state of its newest mount (later groups win; one group per runtime)."""
    return {p.node.name: _METRIC_STATE[p.state] for p in progress}


def _prefetched(progress: list[NodeProgress], now: datetime) -> dict[str, float]:
    """Nodes Ready now but not yet marked warm: their pull just finished."""
    return {
        p.node.name: max(0.0, (now - p.admitted).total_seconds())
        for p in progress
        if p.state is NodeState.READY
        and p.admitted is not None
        and warm_key_for(p.label_key) not in p.node.labels
    }


def _daemonsets(
    world: World, spec: ModelDeploymentSpec, targets: Targets, artifact: ResolvedArtifact
) -> list[dict[str, Any]]:
    """One holder DaemonSet per mounted reference."""
    return [
        build_holder_daemonset(
            namespace=world.namespace,
            name=world.name,
            uid=world.uid,
            spec=spec,
            reference=group.reference,
            digest=group.digest,
            files=artifact.files,
            settings=world.settings,
            file_digests=verified_file_digests(artifact) if world.verification else None,
        )
        for group in targets.groups
    ]


def _holders_by_node(pods: Iterable[HolderPod]) -> dict[tuple[str, str], HolderPod]:
    """Holder pods by (DaemonSet, node); a Ready pod wins over a replacement in progress."""
    result: dict[tuple[str, str], HolderPod] = {}
    for pod in sorted(pods, key=lambda p: (p.ready, p.name)):
        if pod.node_name is not None:
            result[(pod.daemonset, pod.node_name)] = pod
    return result


def _retirements(
    world: World,
    holders: dict[tuple[str, str], HolderPod],
    targets: Targets,
    progress: list[NodeProgress],
) -> list[Retirement]:
    current = {
        prefetch_label_key(world.namespace, world.name, group.digest) for group in targets.groups
    }
    states = {p.node.name: p.state for p in progress}
    pending = {node.name for node in targets.awaiting_derivation}
    return [
        retire(daemonset, world.nodes, holders, states, pending)
        for daemonset in sorted(world.daemonsets, key=lambda d: d.name)
        if daemonset.label_key not in current
    ]


def _requeue_after(
    world: World,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    progress: list[NodeProgress],
    admitted: list[NodeProgress],
    retirements: list[Retirement],
) -> float | None:
    """Seconds until the next timeout or retry; at most the poll interval while busy."""
    due: list[timedelta] = []
    timeout = spec.prefetch.timeout
    for p in progress:
        if p.state is NodeState.PULLING and p.admitted is not None:
            due.append(p.admitted + timeout - world.now)
    for entry in status.failed_nodes:
        retry_at = parse_time(entry.retry_at)
        if retry_at is not None:
            due.append(retry_at - world.now)
    busy = admitted or any(p.state is NodeState.PULLING for p in progress)
    if busy or any(not r.done for r in retirements):
        due.append(world.settings.poll_interval)
    if not due:
        return None
    return max(min(due).total_seconds(), 1.0)
