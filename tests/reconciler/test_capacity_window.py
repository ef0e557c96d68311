"""The capacity check asks only the kubelets of the nodes a wave can take next."""

from __future__ import annotations

import asyncio

import pytest

from modelprefetch.core.capacity import NodeStorage, StoragePolicy
from modelprefetch.core.world import NodeInfo
from modelprefetch.k8s.kubelet_stats import ImageFs, KubeletStatsError
from modelprefetch.reconciler.capacity import (
    FETCH_CONCURRENCY,
    Capacity,
    StatsCache,
    storage_for,
)

GiB = 1 << 30


class FakeKubelets:
    """Answers image_fs like KubeletStatsClient; counts calls and concurrency."""

    def __init__(self, free_gib: dict[str, int], default_free: int = 90) -> None:
        self.free = free_gib
        self.default_free = default_free
        self.asked: list[str] = []
        self.in_flight = self.peak = 0

    async def image_fs(self, address: str, port: int) -> ImageFs:
        self.asked.append(address)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if address == "broken":
            raise KubeletStatsError("connection refused")
        return ImageFs(100 * GiB, self.free.get(address, self.default_free) * GiB)


def nodes(count: int) -> list[NodeInfo]:
    # internal_ip carries the name, so the fake knows which kubelet is asked
    return [
        NodeInfo(name=f"n{i:05d}", internal_ip=f"n{i:05d}", kubelet_port=10250)
        for i in reversed(range(count))  # not in name order: storage_for sorts
    ]


def capacity(kubelets: FakeKubelets) -> Capacity:
    cache = StatsCache(kubelets, ttl=60)  # type: ignore[arg-type]
    return Capacity(cache, StoragePolicy(85, 15, 5))


def roomy(node: NodeInfo, storage: NodeStorage) -> bool:
    """Fits when at least 50 GiB are free (a stand-in for core.capacity.judge)."""
    stats = storage.stats
    return stats is not None and stats.available_bytes >= 50 * GiB


@pytest.mark.parametrize("fleet", [100, 5000])
async def test_asks_only_as_many_kubelets_as_the_wave_can_take(fleet: int) -> None:
    """A wave of 10 asks 10 kubelets, the first by name, whether 100 or 5,000 wait."""
    kubelets = FakeKubelets({})
    found = await storage_for(capacity(kubelets), nodes(fleet), frozenset(), wanted=10, fits=roomy)
    assert sorted(found) == [f"n{i:05d}" for i in range(10)]
    assert sorted(kubelets.asked) == sorted(found)


async def test_a_refused_node_moves_the_window_on() -> None:
    """Two of the first five are full: seven are asked so that five fit."""
    kubelets = FakeKubelets({"n00001": 5, "n00003": 5})
    found = await storage_for(capacity(kubelets), nodes(50), frozenset(), wanted=5, fits=roomy)
    assert sorted(found) == [f"n{i:05d}" for i in range(7)]
    assert len(kubelets.asked) == 7
    assert sum(roomy(NodeInfo(name=n), s) for n, s in found.items()) == 5


async def test_an_unreachable_kubelet_is_reported_and_does_not_fit() -> None:
    """A kubelet that cannot be read yields an error entry; the next node is asked."""
    fleet = nodes(3)
    fleet[-1] = NodeInfo(name="n00000", internal_ip="broken", kubelet_port=10250)
    found = await storage_for(capacity(FakeKubelets({})), fleet, frozenset(), wanted=2,
                              fits=roomy)  # fmt: skip
    assert found["n00000"].error == "connection refused"
    assert sorted(found) == ["n00000", "n00001", "n00002"]


async def test_without_a_bound_every_candidate_is_asked_concurrency_bounded() -> None:
    """wanted=None keeps the old behaviour (all candidates), FETCH_CONCURRENCY at once."""
    kubelets = FakeKubelets({})
    found = await storage_for(capacity(kubelets), nodes(200), frozenset())
    assert len(found) == len(kubelets.asked) == 200
    assert 1 < kubelets.peak <= FETCH_CONCURRENCY


async def test_disk_pressure_nodes_are_not_asked() -> None:
    """A DiskPressure node is never admitted: its kubelet is not asked."""
    fleet = [NodeInfo(name="n00000", internal_ip="n00000", kubelet_port=1, disk_pressure=True)]
    fleet += nodes(3)[:2]  # n00002, n00001
    kubelets = FakeKubelets({})
    found = await storage_for(capacity(kubelets), fleet, frozenset(), wanted=2, fits=roomy)
    assert found["n00000"].error == "DiskPressure"
    assert sorted(kubelets.asked) == ["n00001", "n00002"]


async def test_a_second_pass_within_the_ttl_asks_nobody() -> None:
    """The StatsCache serves the next pass: no kubelet is asked twice within the TTL."""
    kubelets = FakeKubelets({})
    shared = capacity(kubelets)
    await storage_for(shared, nodes(100), frozenset(), wanted=10, fits=roomy)
    await storage_for(shared, nodes(100), frozenset(), wanted=10, fits=roomy)
    assert len(kubelets.asked) == 10
