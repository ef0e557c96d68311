"""Holder pods' pull Events, watched and folded per pod (reconciler.pull_events)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelprefetch import constants
from modelprefetch.core.builders import CONTAINER_NAME
from modelprefetch.core.pulls import PULLED, PULLING, fold_pull_event, pulls_by_pod
from modelprefetch.reconciler.pull_events import PullEvents, ReasonFolds
from modelprefetch.reconciler.views import ClusterViews
from modelprefetch.reconciler.wakeups import Wakeups

HOLDER = "llama-prefetch-0123456789ab-x7k2q"
OTHER_HOLDER = "llama-prefetch-0123456789ab-zz9qp"
MESSAGE = 'Successfully pulled image "m" in {s}s ({s}s including waiting). Image size: 8 bytes.'


def event(
    reason: str,
    at: str,
    *,
    pod: str = HOLDER,
    namespace: str = "ns",
    uid: str = "u",
    seconds: int = 4,
) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace},
        "reason": reason,
        "message": MESSAGE.format(s=seconds) if reason == PULLED else "Pulling image",
        "firstTimestamp": at,
        "lastTimestamp": at,
    }


def test_only_holder_pods_are_kept_and_a_deleted_event_drops_its_pod() -> None:
    folds = ReasonFolds()
    folds.replace_all(
        [
            event(PULLED, "2026-01-01T00:00:05Z"),
            event(PULLED, "2026-01-01T00:00:05Z", pod="vllm-6d4f9c7b8-x7k2q"),  # a workload
            event(PULLED, "2026-01-01T00:00:05Z", pod="llama-prefetch-NOTHEX12345-x7k2q"),
        ]
    )
    assert list(folds.folds) == [("ns", HOLDER)]
    folds.apply("DELETED", event(PULLED, "2026-01-01T00:00:05Z"))
    assert folds.folds == {}
    folds.apply("ADDED", {"reason": PULLED})  # no involvedObject: ignored, no error
    assert folds.folds == {}


def test_the_two_reasons_merge_and_a_relist_replaces_only_its_own_reason() -> None:
    pulls = PullEvents()
    pulls.pulling.apply("ADDED", event(PULLING, "2026-01-01T00:00:01Z"))
    pulls.pulled.apply("ADDED", event(PULLED, "2026-01-01T00:00:09Z", uid="done"))
    pulls.pulling.apply("ADDED", event(PULLING, "2026-01-01T00:00:00Z", pod=OTHER_HOLDER))
    found = pulls.of("ns", [HOLDER, OTHER_HOLDER, "not-known"])
    mine = found[HOLDER]
    assert mine.pulling_since is not None and mine.pulling_since.second == 1
    assert mine.pulled_at is not None and mine.pulled_at.second == 9
    assert mine.pull is not None and mine.pull.pull_seconds == 4.0 and mine.event_uid == "done"
    assert found[OTHER_HOLDER].pulled_at is None
    assert pulls.of("elsewhere", [HOLDER]) == {}  # namespaces are kept apart
    # the Pulling watch re-listed (only the other pod's event is left): Pulled folds stay
    pulls.pulling.replace_all([event(PULLING, "2026-01-01T00:00:00Z", pod=OTHER_HOLDER)])
    again = pulls.of("ns", [HOLDER])[HOLDER]
    assert again.pulling_since is None and again.pulled_at is not None
    pulls.forget("ns", HOLDER)
    assert pulls.of("ns", [HOLDER]) == {} and len(pulls) == 1


_STAMPS = st.lists(
    st.tuples(st.sampled_from([PULLING, PULLED]), st.integers(0, 59), st.integers(1, 9)),
    min_size=1,
    max_size=6,
    unique_by=lambda t: t[1],  # distinct times: "the last Pulled" is then one event
)


@given(_STAMPS)
def test_folding_one_event_at_a_time_in_any_order_equals_reading_them_all(
    stamps: list[tuple[str, int, int]],
) -> None:
    """A watch delivers Events in any order (and a listing in another): the fold is the
    same, and equal to reading the whole list at once."""
    events = [
        event(reason, f"2026-01-01T00:00:{second:02d}Z", uid=f"u{second}", seconds=seconds)
        for reason, second, seconds in stamps
    ]
    expected = pulls_by_pod(events, {HOLDER}).get(HOLDER)
    for order in itertools.islice(itertools.permutations(events), 24):
        folded = None
        for one in order:
            folded = fold_pull_event(folded, one) or folded
        assert folded == expected


def _pod(name: str, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {
                constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
                constants.LABEL_DEPLOYMENT: "llama",
            },
            "ownerReferences": [{"kind": "DaemonSet", "name": "llama-prefetch-0123456789ab"}],
        },
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": CONTAINER_NAME, "state": {"waiting": {}}}],
        },
    }


def test_a_reconcile_gets_the_pulls_of_its_own_holders_and_a_gone_pod_is_forgotten() -> None:
    views = ClusterViews(Wakeups())
    views.holders.replace_all([_pod(HOLDER)])
    views.pull_events.pulling.apply("ADDED", event(PULLING, "2026-01-01T00:00:01Z"))
    views.pull_events.pulling.apply(
        "ADDED", event(PULLING, "2026-01-01T00:00:01Z", pod=OTHER_HOLDER)
    )
    assert set(views.surroundings(("ns", "llama")).pull_events) == {HOLDER}
    assert views.surroundings(("ns", "other")).pull_events == {}
    views.holders.apply("DELETED", _pod(HOLDER))
    assert len(views.pull_events) == 1  # only the pod the view never had is left
