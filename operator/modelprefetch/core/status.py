"""The ModelDeployment status: counts, conditions and events, from the planner's findings.

Pure: everything comes in as arguments. Conditions keep lastTransitionTime while their
status does not change; an Event is emitted whenever a condition's status changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelprefetch.api.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    merge_condition,
)
from modelprefetch.api.status import NodeCounts
from modelprefetch.core.plan import NORMAL, WARNING, Event
from modelprefetch.core.targeting import Targets
from modelprefetch.core.world import Problem, Verification

# Reasons that describe progress, not trouble: their transitions are Normal events.
PROGRESS_REASONS = frozenset(
    {"Resolving", "NotResolved", "Prefetching", "RollingOut", "DerivingImage", "Paused"}
)
CONDITION_ORDER = (
    ConditionType.RESOLVED,
    ConditionType.VERIFIED,
    ConditionType.MOUNTABLE,
    ConditionType.PREFETCHED,
    ConditionType.READY,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A condition's value before timestamps are attached."""

    status: ConditionStatus
    reason: str
    message: str


def rfc3339(moment: datetime) -> str:
    """UTC timestamp as Kubernetes writes it: 2026-01-02T03:04:05Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolved_verdict(reference: str, digest: str | None, error: Problem | None) -> Verdict:
    """Resolved: is a digest known. A failed refresh keeps the last digest in use."""
    if digest is not None and error is not None:
        message = f"Using {digest}; resolving {reference} again failed: {error.message}"
        return Verdict(ConditionStatus.TRUE, "RefreshFailed", message)
    if digest is not None:
        return Verdict(ConditionStatus.TRUE, "Resolved", f"Resolved {reference} to {digest}")
    if error is not None:
        return Verdict(ConditionStatus.FALSE, error.reason, error.message)
    return Verdict(ConditionStatus.UNKNOWN, "Resolving", f"Resolving {reference}")


def mountable_verdict(targets: Targets, derive_error: Problem | None) -> Verdict:
    """Mountable: does every matching node's runtime have a reference it mounts as files."""
    if derive_error is not None and targets.awaiting_derivation:
        return Verdict(ConditionStatus.FALSE, derive_error.reason, derive_error.message)
    unmountable = targets.unmountable
    if targets.desired == 0 and unmountable:
        first = unmountable[0]
        message = f"No matching node can mount the model; node {first.name}: {first.message}"
        return Verdict(ConditionStatus.FALSE, first.reason, message)
    if targets.desired == 0:
        return Verdict(ConditionStatus.FALSE, "NoMatchingNodes", "No node matches spec.nodes")
    if targets.awaiting_derivation:
        count = len(targets.awaiting_derivation)
        message = f"{count} nodes wait for a derived OCI image: {targets.derivation_message}"
        return Verdict(ConditionStatus.FALSE, "DerivingImage", message)
    references = ", ".join(group.reference for group in targets.groups)
    if unmountable:
        names = ", ".join(node.name for node in unmountable[:5])
        message = (
            f"{len(unmountable)} matching nodes cannot mount the model and are not targeted"
            f" ({names}); {targets.desired} nodes mount {references}"
        )
        return Verdict(ConditionStatus.TRUE, "SomeNodesUnmountable", message)
    message = f"{targets.desired} nodes mount {references}"
    return Verdict(ConditionStatus.TRUE, "Mountable", message)


def prefetched_verdict(counts: NodeCounts, *, paused: bool, rolling_out: bool) -> Verdict:
    """Prefetched: does every targeted node hold the current model."""
    if counts.desired == 0:
        return Verdict(ConditionStatus.FALSE, "NoTargetNodes", "No node can hold the model")
    if counts.ready == counts.desired and not rolling_out:
        return Verdict(
            ConditionStatus.TRUE, "Prefetched", f"All {counts.desired} nodes hold the model"
        )
    progress = (
        f"{counts.ready}/{counts.desired} nodes hold the model, {counts.pulling} pulling,"
        f" {counts.waiting} waiting, {counts.failed} failed"
    )
    if paused:
        return Verdict(ConditionStatus.FALSE, "Paused", f"Prefetching is paused: {progress}")
    if counts.failed and not counts.pulling and not counts.waiting:
        return Verdict(ConditionStatus.FALSE, "NodesFailed", progress)
    if rolling_out and counts.ready == counts.desired:
        message = f"{progress}; removing the previous digest"
        return Verdict(ConditionStatus.FALSE, "RollingOut", message)
    if rolling_out:
        message = f"{progress}; nodes keep the previous digest until the new one is Ready"
        return Verdict(ConditionStatus.FALSE, "RollingOut", message)
    return Verdict(ConditionStatus.FALSE, "Prefetching", progress)


def ready_verdict(parts: Sequence[Verdict]) -> Verdict:
    """Ready: the first condition that is not True explains why not."""
    for part in parts:
        if part.status is not ConditionStatus.TRUE:
            return Verdict(ConditionStatus.FALSE, part.reason, part.message)
    return Verdict(ConditionStatus.TRUE, "Ready", "The model is prefetched on every target node")


def verified_verdict(verification: Verification) -> Verdict:
    """Verified: did the resolved digest's signature verify (see modelprefetch.verify)."""
    status = ConditionStatus.TRUE if verification.verified else ConditionStatus.FALSE
    message = verification.message
    if verification.proof:
        message = f"{message}; {verification.proof}"
    return Verdict(status, verification.reason, message)


def not_resolved(reason: str = "NotResolved") -> Verdict:
    """Any condition that cannot be known before the reference resolves."""
    return Verdict(ConditionStatus.UNKNOWN, reason, "Waiting for the model reference to resolve")


def conditions(
    previous: Iterable[Mapping[str, Any]],
    verdicts: Mapping[ConditionType, Verdict],
    *,
    now: datetime,
    generation: int,
) -> list[Condition]:
    """The conditions, in display order, keeping transition times (Verified only when
    a verdict for it is given: verification is optional).

    The one place conditions are made: every status the planner writes (resolved,
    unresolved, invalid spec) goes through here.
    """
    previous = list(previous)
    return [
        merge_condition(
            previous,
            type_=type_,
            status=verdicts[type_].status,
            reason=verdicts[type_].reason,
            message=verdicts[type_].message,
            now=rfc3339(now),
            generation=generation,
        )
        for type_ in CONDITION_ORDER
        if type_ in verdicts
    ]


def transition_events(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Condition]
) -> list[Event]:
    """One Event per condition whose status changed (or appeared)."""
    before = {c.get("type"): c.get("status") for c in previous}
    events = []
    for condition in current:
        if before.get(condition.type) == condition.status:
            continue
        healthy = condition.status is ConditionStatus.TRUE
        kind = NORMAL if healthy or condition.reason in PROGRESS_REASONS else WARNING
        events.append(Event(kind, condition.reason, condition.message))
    return events
