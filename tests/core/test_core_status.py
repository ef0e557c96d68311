"""Condition verdicts, transitions and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from modelprefetch.api.conditions import Condition, ConditionStatus, ConditionType
from modelprefetch.api.status import NodeCounts
from modelprefetch.core.plan import NORMAL, WARNING
from modelprefetch.core.status import (
    Verdict,
    conditions,
    prefetched_verdict,
    ready_verdict,
    resolved_verdict,
    rfc3339,
    transition_events,
)
from modelprefetch.core.world import Problem

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TRUE = Verdict(ConditionStatus.TRUE, "Fine", "")


def test_rfc3339_is_utc_with_z() -> None:
    """Timestamps are converted to UTC and end in Z."""
    moment = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2026-01-02T03:04:05Z"


def test_resolve_error_becomes_the_reason() -> None:
    """A resolve failure is reported with its own reason and message."""
    verdict = resolved_verdict("r:1", None, Problem("NotFound", "Manifest r:1 not found"))
    assert verdict == Verdict(ConditionStatus.FALSE, "NotFound", "Manifest r:1 not found")


def test_all_ready_is_prefetched() -> None:
    """Every desired node ready and no rollout: Prefetched True."""
    verdict = prefetched_verdict(NodeCounts(desired=3, ready=3), paused=False, rolling_out=False)
    assert (verdict.status, verdict.reason) == (ConditionStatus.TRUE, "Prefetched")


def test_progress_message_counts_states() -> None:
    """While prefetching, the message gives ready/desired and the other states."""
    counts = NodeCounts(desired=5, ready=3, pulling=1, waiting=1)
    verdict = prefetched_verdict(counts, paused=False, rolling_out=False)
    assert verdict.message == "3/5 nodes hold the model, 1 pulling, 1 waiting, 0 failed"


def test_only_failures_left_is_nodes_failed() -> None:
    """When nothing pulls or waits and some nodes failed, the reason is NodesFailed."""
    verdict = prefetched_verdict(
        NodeCounts(desired=2, ready=1, failed=1), paused=False, rolling_out=False
    )
    assert verdict.reason == "NodesFailed"


def test_rollout_is_not_prefetched_yet() -> None:
    """Even with all nodes ready, a pending rollout keeps Prefetched False."""
    verdict = prefetched_verdict(NodeCounts(desired=2, ready=2), paused=False, rolling_out=True)
    assert (verdict.status, verdict.reason) == (ConditionStatus.FALSE, "RollingOut")


def test_no_target_nodes() -> None:
    """No desired node: Prefetched False with NoTargetNodes."""
    verdict = prefetched_verdict(NodeCounts(), paused=False, rolling_out=False)
    assert verdict.reason == "NoTargetNodes"


def test_ready_takes_the_first_failing_reason() -> None:
    """Ready explains itself with the first condition that is not True."""
    failing = Verdict(ConditionStatus.FALSE, "DerivingImage", "m")
    later = Verdict(ConditionStatus.FALSE, "Prefetching", "p")
    assert ready_verdict([TRUE, failing, later]).reason == "DerivingImage"


def test_ready_when_everything_is_true() -> None:
    """All conditions True make Ready True."""
    assert ready_verdict([TRUE, TRUE, TRUE]).status is ConditionStatus.TRUE


def all_conditions(status: ConditionStatus, reason: str) -> list[Condition]:
    verdict = Verdict(status, reason, "")
    return conditions([], dict.fromkeys(ConditionType, verdict), now=NOW, generation=2)


def as_read_back(current: list[Condition]) -> list[dict[str, object]]:
    """Conditions as the next reconcile reads them from the API server."""
    return [c.to_dict() for c in current]


def test_conditions_come_in_display_order() -> None:
    """Conditions are ordered Resolved, (Verified,) Mountable, Prefetched, Ready."""
    types = [c.type for c in all_conditions(ConditionStatus.TRUE, "Fine")]
    assert types == ["Resolved", "Verified", "Mountable", "Prefetched", "Ready"]


def test_failure_transitions_are_warnings() -> None:
    """A condition turning False with a trouble reason is a Warning event."""
    before = all_conditions(ConditionStatus.TRUE, "Fine")
    after = all_conditions(ConditionStatus.FALSE, "RegistryUnauthorized")
    assert {e.type for e in transition_events(as_read_back(before), after)} == {WARNING}


def test_progress_transitions_are_normal() -> None:
    """A condition turning False with a progress reason is a Normal event."""
    before = all_conditions(ConditionStatus.TRUE, "Fine")
    after = all_conditions(ConditionStatus.FALSE, "Prefetching")
    assert {e.type for e in transition_events(as_read_back(before), after)} == {NORMAL}


def test_unchanged_status_emits_nothing() -> None:
    """A changed reason with the same status is no transition."""
    before = all_conditions(ConditionStatus.FALSE, "Prefetching")
    after = all_conditions(ConditionStatus.FALSE, "Paused")
    assert transition_events(as_read_back(before), after) == []
