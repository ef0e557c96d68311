"""Property tests: waves never exceed maxConcurrentNodes and replanning converges."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from modelprefetch.api.types import scale_int_or_percent
from modelprefetch.core.planner import plan
from modelprefetch.core.world import HolderPod, NodeInfo, World

from .helpers import admitted, holder, key, node, spec, world
from .test_core_planner import applied

# Per node: not labelled, or labelled some minutes ago with a Ready or unready holder.
node_states = st.one_of(
    st.none(),
    st.tuples(st.integers(min_value=0, max_value=60), st.booleans()),
)
limits = st.one_of(st.integers(min_value=0, max_value=6), st.sampled_from(["10%", "50%", "100%"]))


def build(states: list[tuple[int, bool] | None], limit: int | str) -> World:
    nodes: list[NodeInfo] = []
    pods: list[HolderPod] = []
    for index, state in enumerate(states):
        name = f"n{index:02d}"
        if state is None:
            nodes.append(node(name))
            continue
        minutes, ready = state
        nodes.append(node(name, labels={key(): admitted(timedelta(minutes=minutes))}))
        pods.append(holder(name, ready=ready))
    return world(nodes=tuple(nodes), holder_pods=tuple(pods), spec=spec(maxConcurrentNodes=limit))


def wave(limit: int | str, desired: int) -> int:
    if limit in (0, "0%"):
        return 0
    return max(1, scale_int_or_percent(limit, desired))


@settings(max_examples=200, deadline=None)
@given(st.lists(node_states, max_size=12), limits)
def test_admissions_never_overfill_the_wave(
    states: list[tuple[int, bool] | None], limit: int | str
) -> None:
    """After a plan, pulling nodes exceed the wave only if they already did before."""
    before = build(states, limit)
    pulling_before = sum(1 for s in states if s is not None and not s[1] and s[0] < 30)
    pulling_after = plan(before).status.to_dict()["nodes"]["pulling"]
    assert pulling_after <= max(wave(limit, len(states)), pulling_before)


@settings(max_examples=200, deadline=None)
@given(st.lists(node_states, max_size=12), limits)
def test_replanning_converges(states: list[tuple[int, bool] | None], limit: int | str) -> None:
    """Planning twice at the same instant changes no label the second time."""
    before = build(states, limit)
    after = applied(before, plan(before))
    assert plan(replace(after)).node_labels == {}
