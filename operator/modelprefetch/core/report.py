"""Assemble the typed status and the events of a plan (see `core.status` for the rules).

Three statuses, one per case the planner meets: resolved (everything is known),
unresolved (only Resolved and Ready can change) and invalid spec (only Ready can
change). All three build `ModelDeploymentStatus` and their conditions go through the
one merge in `core.status.conditions`, which keeps lastTransitionTime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from modelprefetch.api.conditions import ConditionStatus, ConditionType
from modelprefetch.api.status import (
    MAX_LISTED_NODES,
    FailedNode,
    ModelDeploymentStatus,
    NodeCounts,
    ProgressStatus,
    UnmountableNode,
)
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.mounts import resolved_block
from modelprefetch.core.plan import NORMAL, WARNING, Event
from modelprefetch.core.rollout import Retirement
from modelprefetch.core.status import (
    Verdict,
    conditions,
    mountable_verdict,
    not_resolved,
    prefetched_verdict,
    ready_verdict,
    resolved_verdict,
    rfc3339,
    transition_events,
    verified_verdict,
)
from modelprefetch.core.targeting import Targets
from modelprefetch.core.waves import FailureRecord, NodeProgress, NodeState, retry_delay
from modelprefetch.core.world import Problem, World
from modelprefetch.oci.artifact import ResolvedArtifact

MAX_FAILURE_EVENTS = 5  # per reconcile; the rest are in status.failedNodes


def build_status(
    world: World,
    spec: ModelDeploymentSpec,
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
    progress_block: ProgressStatus | None = None,
) -> ModelDeploymentStatus:
    """The complete status of a resolved ModelDeployment."""
    counts = count_nodes(targets, progress, admitted)
    verdicts = {
        ConditionType.RESOLVED: resolved_verdict(
            spec.model.reference, artifact.digest, world.resolve_error
        ),
        **_verified(world),
        ConditionType.MOUNTABLE: mountable_verdict(targets, world.derive_error),
        ConditionType.PREFETCHED: prefetched_verdict(
            counts, paused=paused, rolling_out=rolling_out
        ),
    }
    verdicts[ConditionType.READY] = ready_verdict(list(verdicts.values()))
    return ModelDeploymentStatus(
        observed_generation=world.generation,
        resolved=resolved_block(world, spec, artifact, targets.groups, progress, retirements),
        nodes=counts,
        failed_nodes=failed_nodes(world, progress, records),
        unmountable_nodes=[
            UnmountableNode(name=n.name, runtime=n.runtime, reason=n.reason, message=n.message)
            for n in targets.unmountable[:MAX_LISTED_NODES]
        ],
        node_label_keys=list(label_keys),
        conditions=conditions(
            _previous_conditions(world), verdicts, now=world.now, generation=world.generation
        ),
        progress=progress_block,
    )


def unverified_status(world: World, spec: ModelDeploymentSpec) -> ModelDeploymentStatus:
    """Resolved but not verified: say why; the nodes keep what they had (nothing new is
    pulled), the other conditions keep what they said about it."""
    digest = world.resolved.digest if world.resolved else None
    verdicts = {
        ConditionType.RESOLVED: resolved_verdict(spec.model.reference, digest, world.resolve_error),
        **_verified(world),
    }
    blocked = verdicts[ConditionType.VERIFIED]
    fallback = Problem(blocked.reason, blocked.message)
    kept = (ConditionType.MOUNTABLE, ConditionType.PREFETCHED)
    verdicts.update(_kept_verdicts(world, kept, fallback=fallback))
    verdicts[ConditionType.READY] = Verdict(ConditionStatus.FALSE, blocked.reason, blocked.message)
    return _carried_over(world, verdicts)


def _verified(world: World) -> dict[ConditionType, Verdict]:
    """The Verified verdict when verification is asked for, else nothing."""
    if world.verification is None:
        return {}
    return {ConditionType.VERIFIED: verified_verdict(world.verification)}


def unresolved_status(world: World, spec: ModelDeploymentSpec) -> ModelDeploymentStatus:
    """The previous status with Resolved (and Ready) updated: nothing else is known.

    After an operator restart with the registry unreachable, the last resolved digest is
    still held and mounted: Ready then follows the previous Mountable and Prefetched.
    """
    last_digest = (world.previous.get("resolved") or {}).get("digest")
    resolved = resolved_verdict(spec.model.reference, last_digest, world.resolve_error)
    verdicts = {ConditionType.RESOLVED: resolved}
    verdicts.update(_kept_verdicts(world, (ConditionType.MOUNTABLE, ConditionType.PREFETCHED)))
    parts = [resolved] if last_digest is None else list(verdicts.values())
    verdicts[ConditionType.READY] = ready_verdict(parts)
    return _carried_over(world, verdicts)


def invalid_spec_status(world: World, problem: Problem) -> ModelDeploymentStatus:
    """The previous status with Ready False: the spec cannot be acted on.

    Reachable only with the validating webhook off. The other conditions keep what they
    said (the DaemonSets and labels stay as they were), and keep their transition times.
    """
    kept = (ConditionType.RESOLVED, ConditionType.MOUNTABLE, ConditionType.PREFETCHED)
    verdicts = _kept_verdicts(world, kept, fallback=problem)
    verdicts[ConditionType.READY] = Verdict(ConditionStatus.FALSE, problem.reason, problem.message)
    return _carried_over(world, verdicts)


def _kept_verdicts(
    world: World, types: Iterable[ConditionType], fallback: Problem | None = None
) -> dict[ConditionType, Verdict]:
    """The previous verdict of each condition type; Unknown where there is none."""
    previous = {c.get("type"): c for c in _previous_conditions(world)}
    verdicts = {}
    for type_ in types:
        old = previous.get(type_)
        if old is not None:
            verdicts[type_] = Verdict(
                ConditionStatus(old["status"]), old["reason"], old.get("message", "")
            )
        elif fallback is not None:
            message = f"Not evaluated: {fallback.message}"
            verdicts[type_] = Verdict(ConditionStatus.UNKNOWN, fallback.reason, message)
        else:
            verdicts[type_] = not_resolved()
    return verdicts


def _carried_over(world: World, verdicts: Mapping[ConditionType, Verdict]) -> ModelDeploymentStatus:
    """The previous status (what still holds of it) with new conditions."""
    merged = conditions(
        _previous_conditions(world), verdicts, now=world.now, generation=world.generation
    )
    return previous_status(world).model_copy(
        update={"observed_generation": world.generation, "conditions": merged}
    )


def previous_status(world: World) -> ModelDeploymentStatus:
    """The status read back, typed; empty when it does not parse (hand-edited, foreign)."""
    try:
        return ModelDeploymentStatus.model_validate(dict(world.previous))
    except ValidationError:
        return ModelDeploymentStatus()


def count_nodes(
    targets: Targets, progress: Sequence[NodeProgress], admitted: Sequence[NodeProgress]
) -> NodeCounts:
    """Targeted nodes by state, after this plan's admissions."""
    states = [p.state for p in progress]
    ready = states.count(NodeState.READY)
    return NodeCounts(
        desired=targets.desired,
        ready=ready,
        pulling=states.count(NodeState.PULLING) + len(admitted),
        waiting=states.count(NodeState.WAITING) - len(admitted) + len(targets.awaiting_derivation),
        failed=states.count(NodeState.FAILED) + states.count(NodeState.BACKOFF),
        unmountable=len(targets.unmountable),
        summary=f"{ready}/{targets.desired}",
    )


def failed_nodes(
    world: World, progress: Sequence[NodeProgress], records: Mapping[str, FailureRecord]
) -> list[FailedNode]:
    """status.failedNodes: new failures with their next retry, and older ones not yet Ready."""
    previous = {e.get("name"): e for e in world.previous.get("failedNodes") or ()}
    entries: list[FailedNode] = []
    for p in sorted(progress, key=lambda p: p.node.name):
        name = p.node.name
        if p.state is NodeState.FAILED and p.failure is not None:
            attempts = records[name].attempts + 1 if name in records else 1
            delay = retry_delay(
                attempts, world.settings.retry_backoff, world.settings.retry_backoff_max
            )
            entries.append(
                FailedNode(
                    name=name,
                    reason=p.failure.reason,
                    message=p.failure.message,
                    failed_at=rfc3339(world.now),
                    attempts=attempts,
                    retry_at=rfc3339(world.now + delay),
                )
            )
        elif p.state is not NodeState.READY and name in previous:
            try:
                entries.append(FailedNode.model_validate(previous[name]))
            except ValidationError:
                continue  # an entry we cannot read is dropped, the node is classified anew
    return entries[:MAX_LISTED_NODES]


def events_for(
    world: World,
    reference: str,
    status: ModelDeploymentStatus,
    retirements: Iterable[Retirement],
) -> list[Event]:
    """Condition transitions, digest changes, node failures and finished rollouts."""
    events = transition_events(_previous_conditions(world), status.conditions)
    old_digest = (world.previous.get("resolved") or {}).get("digest")
    new_digest = status.resolved.digest if status.resolved else None
    if old_digest and new_digest and old_digest != new_digest:
        message = f"{reference} now resolves to {new_digest} (was {old_digest})"
        events.append(Event(NORMAL, "DigestChanged", message))
    now = rfc3339(world.now)
    fresh = [e for e in status.failed_nodes if e.failed_at == now]
    for entry in fresh[:MAX_FAILURE_EVENTS]:
        message = f"Node {entry.name}: {entry.message}"
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
