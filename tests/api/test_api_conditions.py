"""Condition merging keeps lastTransitionTime unless the status changes."""

from __future__ import annotations

from modelprefetch.api.conditions import ConditionStatus, ConditionType, merge_condition

OLD = [
    {
        "type": "Ready",
        "status": "False",
        "reason": "Prefetching",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
]


def test_same_status_keeps_transition_time() -> None:
    """A new reason with the same status keeps lastTransitionTime."""
    merged = merge_condition(
        OLD,
        type_=ConditionType.READY,
        status=ConditionStatus.FALSE,
        reason="Waiting",
        message="m",
        now="2026-01-02T00:00:00Z",
        generation=3,
    )
    assert (merged.last_transition_time, merged.reason) == ("2026-01-01T00:00:00Z", "Waiting")


def test_changed_status_sets_transition_time() -> None:
    """A status change sets lastTransitionTime to now."""
    merged = merge_condition(
        OLD,
        type_=ConditionType.READY,
        status=ConditionStatus.TRUE,
        reason="Ready",
        message="",
        now="2026-01-02T00:00:00Z",
        generation=3,
    )
    assert merged.last_transition_time == "2026-01-02T00:00:00Z"


def test_new_condition_sets_transition_time() -> None:
    """A condition seen for the first time gets lastTransitionTime now."""
    merged = merge_condition(
        [],
        type_=ConditionType.RESOLVED,
        status=ConditionStatus.TRUE,
        reason="Resolved",
        message="",
        now="2026-01-02T00:00:00Z",
        generation=1,
    )
    assert (merged.last_transition_time, merged.observed_generation) == (
        "2026-01-02T00:00:00Z",
        1,
    )
