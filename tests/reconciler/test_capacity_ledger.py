"""What other admitted pulls promise on a node: label keys, costs and reservations."""

from __future__ import annotations

from typing import cast

import pytest

from modelprefetch.core.capacity import FsStats
from modelprefetch.core.labels import PREFETCH_LABEL_PREFIX, WARM_LABEL_PREFIX
from modelprefetch.core.world import NodeInfo
from modelprefetch.k8s.kubelet_stats import (
    ImageFs,
    KubeletStatsClient,
    KubeletStatsError,
    image_fs_from_summary,
)
from modelprefetch.reconciler.capacity import (
    RESERVATION_SECONDS,
    CapacityLedger,
    StatsCache,
    reserve_admitted,
)

A, B, OWN = (PREFETCH_LABEL_PREFIX + h for h in ("aaaa", "bbbb", "0000"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_labelled_not_warm_counts_warm_does_not() -> None:
    """A prefetch label without its warm label counts its cost; with it, nothing."""
    ledger = CapacityLedger()
    ledger.record(A, 7)
    ledger.record(B, 11)
    node = NodeInfo("n1", labels={A: "1", B: "1", WARM_LABEL_PREFIX + "bbbb": "true"})
    assert ledger.in_flight(node, frozenset()) == (7, 0)


def test_own_keys_and_unknown_sizes() -> None:
    """Our own keys are not counted; a key of unknown cost is reported as unknown."""
    ledger = CapacityLedger()
    node = NodeInfo("n1", labels={A: "1", OWN: "1"})
    assert ledger.in_flight(node, frozenset({OWN})) == (0, 1)


def test_reservation_counts_until_the_label_shows_or_it_expires() -> None:
    """A fresh admission counts before its label reaches the index, and not forever."""
    clock = Clock()
    ledger = CapacityLedger(clock=clock)
    ledger.record(A, 5)
    bare = NodeInfo("n1")
    reserve_admitted(ledger, [bare], {"n1": {A: "123"}})
    assert ledger.in_flight(bare, frozenset()) == (5, 0)
    labelled = NodeInfo("n1", labels={A: "123"})
    assert ledger.in_flight(labelled, frozenset()) == (5, 0)  # counted once
    assert ledger.reserved == {}
    reserve_admitted(ledger, [bare], {"n1": {A: "124"}})
    clock.now += RESERVATION_SECONDS + 1
    assert ledger.in_flight(bare, frozenset()) == (0, 0)


def test_forget_drops_keys() -> None:
    """After a ModelDeployment's cleanup its keys cost nothing and are unknown."""
    ledger = CapacityLedger()
    ledger.record(A, 5)
    ledger.forget([A])
    assert ledger.in_flight(NodeInfo("n1", labels={A: "1"}), frozenset()) == (0, 1)


def test_summary_image_fs_preferred_over_node_fs() -> None:
    """runtime.imageFs is where images live; node.fs is the fallback."""
    summary = {
        "node": {
            "fs": {"capacityBytes": 100, "availableBytes": 50},
            "runtime": {"imageFs": {"capacityBytes": 10, "availableBytes": 4}},
        }
    }
    stats = image_fs_from_summary(summary)
    assert (stats.capacity_bytes, stats.available_bytes) == (10, 4)
    only_fs = image_fs_from_summary({"node": {"fs": {"capacityBytes": 9, "availableBytes": 1}}})
    assert only_fs.capacity_bytes == 9


@pytest.mark.parametrize("summary", [[], {"node": {}}, {"node": {"fs": {"capacityBytes": 0}}}])
def test_summary_without_filesystem_is_an_error(summary: object) -> None:
    """A Summary without usable numbers is refused with a clear error."""
    with pytest.raises(KubeletStatsError):
        image_fs_from_summary(summary)


class CountingStats:
    """A kubelet whose image filesystem shrinks by 1 byte at every read."""

    def __init__(self) -> None:
        self.reads = 0

    async def image_fs(self, address: str, port: int) -> ImageFs:
        self.reads += 1
        return ImageFs(100, 100 - self.reads)


async def test_stats_are_read_again_once_a_pull_finished() -> None:
    """Cached stats are reused within the TTL, but not across a new warm label: the
    finished pull leaves the ledger's in-flight bytes, so the stats must include it."""
    clock, kubelet = Clock(), CountingStats()
    cache = StatsCache(cast(KubeletStatsClient, kubelet), ttl=15, clock=clock)
    pulling = NodeInfo("n1", labels={A: "1"})
    assert (await cache.get(pulling))[0] == FsStats(100, 99)
    clock.now += 5
    assert (await cache.get(pulling))[0] == FsStats(100, 99)  # within the TTL: reused
    warm = NodeInfo("n1", labels={A: "1", WARM_LABEL_PREFIX + "aaaa": "true"})
    assert ledger_free(warm) == (0, 0)
    assert (await cache.get(warm))[0] == FsStats(100, 98)  # read again at once
    assert (await cache.get(warm))[0] == FsStats(100, 98)
    assert kubelet.reads == 2


def ledger_free(node: NodeInfo) -> tuple[int, int]:
    ledger = CapacityLedger()
    ledger.record(A, 50)
    return ledger.in_flight(node, frozenset())
