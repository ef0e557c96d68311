"""An invalid spec is one more case of the planner: Ready False, nothing else touched."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from modelprefetch.core.plan import WARNING, Plan
from modelprefetch.core.planner import plan
from modelprefetch.core.status import rfc3339
from modelprefetch.core.world import Problem, World

from .helpers import NOW, existing, holder, key, node, world

PROBLEM = Problem("InvalidSpec", "The spec is invalid: model.reference: Field required")


def ready_world() -> World:
    """A ModelDeployment Ready on one node, as the planner last wrote it."""
    before = world(
        nodes=(node("n1", labels={key(): rfc3339(NOW)}),),
        daemonsets=(existing(),),
        holder_pods=(holder("n1", ready=True),),
    )
    status = plan(before).status
    assert status.conditions[-1].status == "True"  # the fixture is what it says
    return replace(before, previous_status=status.to_dict())


def invalid(previous: World, later: timedelta, generation: int = 2) -> World:
    """The same object after an edit that breaks the spec, seen `later`."""
    return replace(
        previous,
        spec=None,
        spec_error=PROBLEM,
        generation=generation,
        now=NOW + later,
        resolved=None,
    )


def conditions(result: Plan) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in result.status.to_dict()["conditions"]}


def test_invalid_spec_sets_ready_false_with_the_reason() -> None:
    """Ready turns False with reason InvalidSpec and the field errors as message."""
    ready = conditions(plan(invalid(ready_world(), timedelta(minutes=1))))["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "InvalidSpec",
        PROBLEM.message,
    )


def test_invalid_spec_keeps_the_other_conditions() -> None:
    """Resolved, Mountable and Prefetched keep their values and transition times."""
    previous = ready_world()
    before = {c["type"]: c for c in previous.previous["conditions"]}
    after = conditions(plan(invalid(previous, timedelta(minutes=1))))
    kept = ("Resolved", "Mountable", "Prefetched")
    assert [(after[t]["status"], after[t]["lastTransitionTime"]) for t in kept] == [
        (before[t]["status"], before[t]["lastTransitionTime"]) for t in kept
    ]


def test_invalid_spec_keeps_transition_time_on_every_pass() -> None:
    """A second pass over the same invalid spec keeps Ready's lastTransitionTime."""
    first = plan(invalid(ready_world(), timedelta(minutes=1)))
    seen_again = replace(
        invalid(ready_world(), timedelta(minutes=5)), previous_status=first.status.to_dict()
    )
    again = plan(seen_again)
    assert conditions(again)["Ready"]["lastTransitionTime"] == rfc3339(NOW + timedelta(minutes=1))


def test_invalid_spec_keeps_the_rest_of_the_status() -> None:
    """Counts, the resolved model and the label keys stay; observedGeneration moves on."""
    previous = ready_world()
    status = plan(invalid(previous, timedelta(minutes=1), generation=7)).status.to_dict()
    old = dict(previous.previous)
    assert (status["resolved"], status["nodes"], status["nodeLabelKeys"]) == (
        old["resolved"],
        old["nodes"],
        old["nodeLabelKeys"],
    )
    assert status["observedGeneration"] == 7


def test_invalid_spec_changes_nothing_in_the_cluster() -> None:
    """No DaemonSet, label or derived image changes; one Warning event for Ready."""
    result = plan(invalid(ready_world(), timedelta(minutes=1)))
    assert (result.daemonsets, result.delete_daemonsets, dict(result.node_labels)) == ((), (), {})
    assert [(e.type, e.reason) for e in result.events] == [(WARNING, "InvalidSpec")]


def test_invalid_spec_without_a_previous_status_reports_unknowns() -> None:
    """A first pass over an invalid spec: Ready False, the others Unknown."""
    fresh = invalid(world(), timedelta(0), generation=1)
    found = {t: (c["status"], c["reason"]) for t, c in conditions(plan(fresh)).items()}
    assert found == {
        "Resolved": ("Unknown", "InvalidSpec"),
        "Mountable": ("Unknown", "InvalidSpec"),
        "Prefetched": ("Unknown", "InvalidSpec"),
        "Ready": ("False", "InvalidSpec"),
    }
