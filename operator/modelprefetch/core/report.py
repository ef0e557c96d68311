"""Assemble the status dict and the events of a plan (see `core.status` for the rules)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelprefetch.api.conditions import ConditionStatus, ConditionType
from modelprefetch.api.status import MAX_LISTED_NODES
from modelprefetch.core.labels import prefetch_label_key, warm_key_for
from modelprefetch.core.plan import NORMAL, WARNING, Event
from modelprefetch.core.rollout import Retirement
from modelprefetch.core.status import (
    Counts,
    Verdict,
    conditions,
    mountable_verdict,
    not_resolved,
    prefetched_verdict,
    ready_verdict,
    resolved_verdict,
    rfc3339,
    transition_events,
)
from modelprefetch.core.targeting import MountGroup, Targets
from modelprefetch.core.waves import FailureRecord, NodeProgress, NodeState, retry_delay
from modelprefetch.core.world import World
from modelprefetch.oci.artifact import ResolvedArtifact

MAX_FAILURE_EVENTS = 5  # per reconcile; the rest are in status.failedNodes


def build_status(
    world: World,
    artifact: ResolvedArtifact,
    *,
    targets: Targets,
    progress: Sequence[NodeProgress],
    admitted: Sequence[NodeProgress],
    paused: bool,
    rolling_out: bool,
    label_keys: Sequence[str],
    records: Mapping[str, FailureRecord],
    retirements: Sequence[Retirement],
) -> dict[str, Any]:
    """The complete status of a resolved ModelDeployment."""
    counts = count_nodes(targets, progress, admitted)
    verdicts = {
        ConditionType.RESOLVED: resolved_verdict(
            world.spec.model.reference, artifact.digest, world.resolve_error
        ),
        ConditionType.MOUNTABLE: mountable_verdict(targets, world.derive_error),
        ConditionType.PREFETCHED: prefetched_verdict(
            counts, paused=paused, rolling_out=rolling_out
        ),
    }
    verdicts[ConditionType.READY] = ready_verdict(list(verdicts.values()))
    return {
        "observedGeneration": world.generation,
        "resolved": resolved_block(world, artifact, targets.groups, progress, retirements),
        "nodes": counts.to_status(),
        "failedNodes": failed_nodes(world, progress, records),
        "unmountableNodes": [
            {"name": n.name, "runtime": n.runtime, "reason": n.reason, "message": n.message}
            for n in targets.unmountable[:MAX_LISTED_NODES]
        ],
        "nodeLabelKeys": list(label_keys),
        "conditions": conditions(
            _previous_conditions(world), verdicts, now=world.now, generation=world.generation
        ),
    }


def unresolved_status(world: World) -> dict[str, Any]:
    """The previous status with Resolved (and Ready) updated: nothing else is known.

    After an operator restart with the registry unreachable, the last resolved digest is
    still held and mounted: Ready then follows the previous Mountable and Prefetched.
    """
    previous = {c.get("type"): c for c in _previous_conditions(world)}
    last_digest = (world.previous.get("resolved") or {}).get("digest")
    resolved = resolved_verdict(world.spec.model.reference, last_digest, world.resolve_error)
    verdicts = {ConditionType.RESOLVED: resolved}
    for type_ in (ConditionType.MOUNTABLE, ConditionType.PREFETCHED):
        old = previous.get(type_)
        verdicts[type_] = (
            Verdict(ConditionStatus(old["status"]), old["reason"], old.get("message", ""))
            if old
            else not_resolved()
        )
    parts = [resolved] if last_digest is None else list(verdicts.values())
    verdicts[ConditionType.READY] = ready_verdict(parts)
    status = dict(world.previous)
    status["observedGeneration"] = world.generation
    status["conditions"] = conditions(
        previous.values(), verdicts, now=world.now, generation=world.generation
    )
    return status


def count_nodes(
    targets: Targets, progress: Sequence[NodeProgress], admitted: Sequence[NodeProgress]
) -> Counts:
    """Targeted nodes by state, after this plan's admissions."""
    states = [p.state for p in progress]
    return Counts(
        desired=targets.desired,
        ready=states.count(NodeState.READY),
        pulling=states.count(NodeState.PULLING) + len(admitted),
        waiting=states.count(NodeState.WAITING) - len(admitted) + len(targets.awaiting_derivation),
        failed=states.count(NodeState.FAILED) + states.count(NodeState.BACKOFF),
        unmountable=len(targets.unmountable),
    )


def resolved_block(
    world: World,
    artifact: ResolvedArtifact,
    groups: Sequence[MountGroup],
    progress: Sequence[NodeProgress],
    retirements: Sequence[Retirement],
) -> dict[str, Any]:
    """status.resolved: what the reference resolved to and what is mounted."""
    mounts = mount_entries(world, groups, progress, retirements)
    block: dict[str, Any] = {
        "reference": world.spec.model.reference,
        "digest": artifact.digest,
        "shortDigest": short_digest(artifact.digest),
        "mountedReference": webhook_reference(mounts),
        "mounts": mounts,
        "kind": str(artifact.kind),
        "format": artifact.format,
        "name": artifact.name,
        "family": artifact.family,
        "paramSize": artifact.param_size,
        "sizeBytes": artifact.size_bytes,
        "fileCount": len(artifact.files),
        "resolvedAt": rfc3339(world.resolved_at) if world.resolved_at else None,
    }
    return {key: value for key, value in block.items() if value is not None}


def mount_entries(
    world: World,
    groups: Sequence[MountGroup],
    progress: Sequence[NodeProgress],
    retirements: Sequence[Retirement],
) -> list[dict[str, Any]]:
    """Current references by runtime group, then previous ones still held somewhere."""
    ready = Counter(p.label_key for p in progress if p.state is NodeState.READY)
    entries = []
    for group in groups:
        label_key = prefetch_label_key(world.namespace, world.name, group.digest)
        entries.append(
            {
                "reference": group.reference,
                "digest": group.digest,
                "runtimes": list(group.runtimes),
                "nodes": len(group.nodes),
                "ready": ready[label_key],
                "nodeLabel": warm_key_for(label_key),
                "current": True,
            }
        )
    for retirement in retirements:
        if retirement.done or not retirement.keep_nodes:
            continue
        ds = retirement.daemonset
        entries.append(
            {
                "reference": ds.reference,
                "digest": ds.digest,
                "runtimes": [],
                "nodes": len(retirement.keep_nodes),
                "ready": len(retirement.keep_nodes),
                "nodeLabel": warm_key_for(ds.label_key),
                "current": False,
            }
        )
    return entries


def webhook_reference(mounts: Sequence[Mapping[str, Any]]) -> str | None:
    """The one reference the webhook mounts into new pods.

    The one Ready on most nodes, so new pods start warm: during a rollout that stays the
    previous digest until the new one has caught up. Ties go to the current digest, then
    to the reference most targeted nodes can mount.
    """
    if not mounts:
        return None
    best = max(mounts, key=lambda m: (m["ready"], m["current"], m["nodes"], m["reference"]))
    return str(best["reference"])


def short_digest(digest: str) -> str:
    """sha256:0123456789ab (12 hex digits), for kubectl get."""
    algorithm, _, hexdigits = digest.partition(":")
    return f"{algorithm}:{hexdigits[:12]}"


def failed_nodes(
    world: World, progress: Sequence[NodeProgress], records: Mapping[str, FailureRecord]
) -> list[dict[str, Any]]:
    """status.failedNodes: new failures with their next retry, and older ones not yet Ready."""
    previous = {e.get("name"): e for e in world.previous.get("failedNodes") or ()}
    entries: list[dict[str, Any]] = []
    for p in sorted(progress, key=lambda p: p.node.name):
        name = p.node.name
        if p.state is NodeState.FAILED and p.failure is not None:
            attempts = records[name].attempts + 1 if name in records else 1
            delay = retry_delay(
                attempts, world.settings.retry_backoff, world.settings.retry_backoff_max
            )
            entries.append(
                {
                    "name": name,
                    "reason": p.failure.reason,
                    "message": p.failure.message,
                    "failedAt": rfc3339(world.now),
                    "attempts": attempts,
                    "retryAt": rfc3339(world.now + delay),
                }
            )
        elif p.state is not NodeState.READY and name in previous:
            entries.append(dict(previous[name]))
    return entries[:MAX_LISTED_NODES]


def events_for(
    world: World, status: Mapping[str, Any], retirements: Iterable[Retirement]
) -> list[Event]:
    """Condition transitions, digest changes, node failures and finished rollouts."""
    events = transition_events(_previous_conditions(world), status.get("conditions") or ())
    old_digest = (world.previous.get("resolved") or {}).get("digest")
    new_digest = (status.get("resolved") or {}).get("digest")
    if old_digest and new_digest and old_digest != new_digest:
        message = f"{world.spec.model.reference} now resolves to {new_digest} (was {old_digest})"
        events.append(Event(NORMAL, "DigestChanged", message))
    now = rfc3339(world.now)
    fresh = [e for e in status.get("failedNodes") or () if e.get("failedAt") == now]
    for entry in fresh[:MAX_FAILURE_EVENTS]:
        message = f"Node {entry['name']}: {entry['message']}"
        events.append(Event(WARNING, "NodePrefetchFailed", message))
    for retirement in retirements:
        if retirement.done:
            events.append(_retired_event(retirement, new_digest))
    return events


def _retired_event(retirement: Retirement, current_digest: str | None) -> Event:
    ds = retirement.daemonset
    if ds.digest == current_digest:
        message = f"Deleting prefetch DaemonSet {ds.name}: no node needs digest {ds.digest}"
        return Event(NORMAL, "PrefetchRetired", message)
    message = f"Deleting prefetch DaemonSet {ds.name} of previous digest {ds.digest}"
    return Event(NORMAL, "RolloutComplete", message)


def _previous_conditions(world: World) -> list[Mapping[str, Any]]:
    return list(world.previous.get("conditions") or ())
