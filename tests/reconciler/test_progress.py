"""Progress during a long label pass: `status.nodes` grows, bounded in write rate."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, cast

from modelprefetch.api.status import NodeCounts
from modelprefetch.core.pulls import PodPulls
from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.reconciler import apply
from modelprefetch.reconciler.progress import Progress, with_pull_events
from tests.core.helpers import NOW, holder, world

LOG = logging.getLogger(__name__)
WARM = "warm.modelprefetch.io/abc"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ProgressKube:
    """Each node patch advances the clock by one second; records progress writes."""

    def __init__(self, clock: Clock, fail_status: bool = False) -> None:
        self.clock, self.fail_status = clock, fail_status
        self.progress: list[dict[str, Any]] = []

    async def merge_patch(self, res: Resource, name: str, body: Any, **kw: Any) -> dict[str, Any]:
        if res.plural == "nodes":
            await asyncio.sleep(0)
            self.clock.now += 1.0
            return {}
        assert kw == {"namespace": "ns", "subresource": "status"}
        if self.fail_status:
            raise KubernetesError("conflict", status=409)
        self.progress.append(body["status"]["nodes"])
        return {}


def warm_changes(count: int) -> dict[str, dict[str, str | None]]:
    return {f"n{i:03d}": {WARM: "true"} for i in range(count)}


async def run(kube: ProgressKube, clock: Clock, nodes: int, interval: float) -> Progress:
    counts = NodeCounts(desired=nodes, ready=nodes, summary=f"{nodes}/{nodes}")
    changes = warm_changes(nodes)
    progress = Progress(
        cast(KubeClient, kube), "ns", "md", counts, changes, interval=interval, clock=clock
    )
    await apply.label_nodes(
        cast(KubeClient, kube), changes, LOG, concurrency=1, on_patched=progress.patched
    )
    return progress


async def test_a_long_label_pass_shows_ready_nodes_growing() -> None:
    """30 one-second patches, one write per 10 s at most: 10/30, 20/30, 30/30."""
    clock = Clock()
    kube = ProgressKube(clock)
    await run(kube, clock, nodes=30, interval=10.0)
    assert [p["summary"] for p in kube.progress] == ["10/30", "20/30", "30/30"]
    assert [p["ready"] for p in kube.progress] == [10, 20, 30]
    assert all(p["desired"] == 30 for p in kube.progress)


async def test_a_short_pass_writes_no_progress() -> None:
    clock = Clock()
    kube = ProgressKube(clock)
    await run(kube, clock, nodes=5, interval=10.0)
    assert kube.progress == []


async def test_a_failed_progress_write_does_not_fail_the_pass() -> None:
    clock = Clock()
    kube = ProgressKube(clock, fail_status=True)
    progress = await run(kube, clock, nodes=30, interval=10.0)
    assert progress.writes == 0
    assert progress.counts().summary == "30/30"


def test_only_nodes_being_marked_warm_are_held_back() -> None:
    """Nodes Ready before the pass stay counted; unlabelling changes nothing."""
    counts = NodeCounts(desired=10, ready=7, summary="7/10")
    changes: dict[str, dict[str, str | None]] = {
        "a": {WARM: "true"},
        "b": {WARM: "true", "prefetch.modelprefetch.io/abc": "123"},
        "c": {WARM: None},
        "d": {"prefetch.modelprefetch.io/abc": "123"},
    }
    progress = Progress(cast(KubeClient, object()), "ns", "md", counts, changes)
    assert progress.counts().ready == 5
    assert progress.counts().summary == "5/10"


def test_pull_events_are_followed_only_while_a_holder_pod_pulls_or_just_finished() -> None:
    """The watched folds (reconciler.pull_events) reach the World for holder pods that pull
    now or turned Ready within the window; a settled holder's are left out, as when the
    Events were listed only while something pulled."""
    settled = holder("n1", ready=True, ready_since=NOW - timedelta(hours=1))
    recent = holder("n2", ready=True, ready_since=NOW - timedelta(minutes=1))
    pulling = holder("n3", ready=False)
    pulls = {
        pod.name: PodPulls(pulling_since=NOW - timedelta(minutes=2))
        for pod in (settled, recent, pulling)
    }
    followed = with_pull_events(world(holder_pods=(settled, recent, pulling)), pulls)
    assert set(followed.pull_events) == {recent.name, pulling.name}
    assert with_pull_events(world(holder_pods=(settled,)), pulls).pull_events == {}
