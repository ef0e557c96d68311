"""Gather the image filesystems of a wave's candidate nodes, and what is already promised.

Two things the pure admission (core.admission) cannot know by itself:

* the stats: read from each candidate's kubelet (k8s.kubelet_stats), cached for
  `kubelet_stats_ttl_seconds` so the loops of many ModelDeployments ask each kubelet
  once per interval;
* pulls this operator admitted on a node that are not finished (the node carries a
  `prefetch.` label of another ModelDeployment without its `warm.` label): their bytes
  are not in the kubelet's used bytes yet. Each loop records the cost of its own label
  keys in the `CapacityLedger` at every pass, and reserves the nodes it admits at once,
  before their labels reach the node index, so two loops cannot both take the last
  space of a node. Everything here is in memory and rebuilt after a restart: until the
  other loops have run once, a node with an in-flight pull of unknown size waits.

`storage_for` asks only the candidates a wave can take next (name order, until enough
fit), and reads the ledger for its result only after its last await; the planner and
`reserve` follow without an await in between: no other loop can run in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from modelprefetch.core.capacity import FsStats, NodeStorage, StoragePolicy, model_cost
from modelprefetch.core.labels import PREFETCH_LABEL_PREFIX, WARM_LABEL_PREFIX, warm_key_for
from modelprefetch.core.targeting import Targets
from modelprefetch.core.world import NodeInfo
from modelprefetch.k8s.config import ClusterConfig
from modelprefetch.k8s.kubelet_stats import (
    KubeletStatsClient,
    KubeletStatsError,
    kubelet_ssl_context,
)
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.settings import Settings

FETCH_CONCURRENCY = 16
RESERVATION_SECONDS = 120.0  # a reservation counts until its label is seen (or this long)


@dataclass
class CapacityLedger:
    """Costs of prefetch label keys, and fresh admissions not yet visible on nodes."""

    clock: Callable[[], float] = time.monotonic
    costs: dict[tuple[str, str], int] = field(default_factory=dict)  # reserved (node, key)
    key_costs: dict[str, int] = field(default_factory=dict)  # key -> bytes (largest runtime)
    reserved: dict[tuple[str, str], float] = field(default_factory=dict)  # -> monotonic time

    def record(self, key: str, cost: int) -> None:
        """The cost of one label key on any node (the largest runtime factor)."""
        self.key_costs[key] = max(cost, 0)

    def reserve(self, node: str, key: str, cost: int) -> None:
        """`node` was just admitted for `key`: count it before its label shows."""
        self.costs[(node, key)] = cost
        self.reserved[(node, key)] = self.clock()

    def forget(self, keys: Iterable[str]) -> None:
        """A ModelDeployment is gone: its keys are no longer promised anywhere."""
        gone = set(keys)
        for key in gone:
            self.key_costs.pop(key, None)
        for pair in [p for p in self.reserved if p[1] in gone]:
            self.reserved.pop(pair, None)
            self.costs.pop(pair, None)

    def in_flight(self, node: NodeInfo, own_keys: frozenset[str]) -> tuple[int, int]:
        """(bytes, count of unknown sizes) admitted on `node` by others, not yet pulled."""
        now = self.clock()
        total = unknown = 0
        seen: set[str] = set()
        for key in node.labels:
            if not key.startswith(PREFETCH_LABEL_PREFIX) or key in own_keys:
                continue
            seen.add(key)
            self.reserved.pop((node.name, key), None)  # the label shows: no longer needed
            self.costs.pop((node.name, key), None)
            if warm_key_for(key) in node.labels:
                continue  # pulled: already in the kubelet's used bytes
            cost = self.key_costs.get(key)
            if cost is None:
                unknown += 1
            else:
                total += cost
        for (name, key), at in list(self.reserved.items()):
            if name != node.name or key in own_keys or key in seen:
                continue
            if now - at > RESERVATION_SECONDS:
                self.reserved.pop((name, key), None)
                self.costs.pop((name, key), None)
                continue
            total += self.costs.get((name, key), 0)
        return total, unknown


@dataclass
class StatsCache:
    """Image filesystem stats by node name, reused for `ttl` seconds, and only while the
    node's warm labels are those of the read: a pull that finished since (warm label
    shown) no longer counts in flight, so its bytes must be in the stats used with it."""

    client: KubeletStatsClient
    ttl: float
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, tuple[float, FsStats | None, str | None, frozenset[str]]] = field(
        default_factory=dict
    )

    async def get(self, node: NodeInfo) -> tuple[FsStats | None, str | None]:
        warm = frozenset(k for k in node.labels if k.startswith(WARM_LABEL_PREFIX))
        cached = self.entries.get(node.name)
        if cached is not None and cached[3] == warm and self.clock() - cached[0] < self.ttl:
            return cached[1], cached[2]
        try:
            found = await self.client.image_fs(node.internal_ip, node.kubelet_port)
            stats, error = FsStats(found.capacity_bytes, found.available_bytes), None
        except KubeletStatsError as exc:
            stats, error = None, str(exc)
        self.entries[node.name] = (self.clock(), stats, error, warm)
        return stats, error


@dataclass
class Capacity:
    """What the reconcile loops share for storage checks (one per operator)."""

    cache: StatsCache
    default_policy: StoragePolicy
    ledger: CapacityLedger = field(default_factory=CapacityLedger)


def candidates(targets: Targets, label_keys: Mapping[str, str]) -> list[NodeInfo]:
    """Targeted nodes that may join a wave: Ready, schedulable, without our label yet."""
    found = []
    for group in targets.groups:
        key = label_keys[group.digest]
        for node in group.nodes:
            if key not in node.labels and node.ready and not node.unschedulable:
                found.append(node)
    return found


Fits = Callable[[NodeInfo, NodeStorage], bool]


async def storage_for(
    capacity: Capacity,
    nodes: list[NodeInfo],
    own_keys: frozenset[str],
    *,
    wanted: int | None = None,
    fits: Fits | None = None,
) -> dict[str, NodeStorage]:
    """Stats and in-flight bytes of the candidates the wave may take next.

    Without `wanted`, every one of `nodes`. With it, the candidates are asked in name
    order (the order core.waves.admit takes them in), in batches, until `wanted` of them
    fit (`fits`, the planner's own verdict) or none is left: a wave of 10% of 5,000 nodes
    asks its ~500 next kubelets, not 5,000, and a refused node only moves the window on.
    Nodes not returned are not admitted in this pass (core.admission skips them).
    Requests run concurrently, at most FETCH_CONCURRENCY at once.
    """
    ordered = sorted(nodes, key=lambda n: n.name)
    limit = len(ordered) if wanted is None else max(wanted, 0)
    fetched: dict[str, tuple[FsStats | None, str | None]] = {}
    asked = fitting = 0
    while asked < len(ordered) and fitting < limit:
        batch = ordered[asked : asked + limit - fitting]
        asked += len(batch)
        fetched.update(await _fetch(capacity, batch))
        if fits is None:
            fitting += len(batch)
            continue
        for node in batch:  # a provisional verdict: only says how far to ask
            fitting += fits(node, _storage(capacity, node, fetched, own_keys))
    # After the last await: the ledger is read, planned on and reserved in one step.
    return {n.name: _storage(capacity, n, fetched, own_keys) for n in ordered[:asked]}


async def _fetch(
    capacity: Capacity, nodes: list[NodeInfo]
) -> dict[str, tuple[FsStats | None, str | None]]:
    """Image filesystem stats of `nodes` (DiskPressure nodes are not asked)."""
    limit = asyncio.Semaphore(FETCH_CONCURRENCY)
    asked = [n for n in nodes if not n.disk_pressure]

    async def one(node: NodeInfo) -> tuple[FsStats | None, str | None]:
        async with limit:
            return await capacity.cache.get(node)

    fetched = await asyncio.gather(*(one(n) for n in asked))
    return dict(zip([n.name for n in asked], fetched, strict=True))


def _storage(
    capacity: Capacity,
    node: NodeInfo,
    fetched: Mapping[str, tuple[FsStats | None, str | None]],
    own_keys: frozenset[str],
) -> NodeStorage:
    fs, error = fetched.get(node.name, (None, "DiskPressure"))
    in_flight, unknown = capacity.ledger.in_flight(node, own_keys)
    return NodeStorage(fs, error, in_flight, unknown)


def record_costs(
    ledger: CapacityLedger,
    artifact: ResolvedArtifact,
    targets: Targets,
    label_keys: Mapping[str, str],
) -> None:
    """Record what each of our label keys costs on the runtimes it is pulled by."""
    for group in targets.groups:
        costs = [model_cost(artifact, group.digest, runtime) for runtime in group.runtimes]
        ledger.record(label_keys[group.digest], max(costs, default=0))


def reserve_admitted(
    ledger: CapacityLedger,
    nodes: Iterable[NodeInfo],
    node_labels: Mapping[str, Mapping[str, str | None]],
) -> None:
    """Reserve the nodes a plan admits (a new prefetch label) at their key's cost."""
    labels = {node.name: node.labels for node in nodes}
    for name, changes in node_labels.items():
        for key, value in changes.items():
            fresh = key not in labels.get(name, {})
            if value is not None and fresh and key.startswith(PREFETCH_LABEL_PREFIX):
                ledger.reserve(name, key, ledger.key_costs.get(key, 0))


@contextlib.asynccontextmanager
async def open_capacity(
    settings: Settings, config: ClusterConfig
) -> AsyncIterator[Capacity | None]:
    """The storage-check state for `modelprefetch run`; None when `capacity_check` is off."""
    if settings.capacity_check == "off":
        yield None
        return
    context = kubelet_ssl_context(
        cluster_ca_pem=config.ca_pem,
        ca_file=settings.kubelet_ca_file,
        insecure=settings.kubelet_insecure_skip_tls_verify,
    )
    client = KubeletStatsClient(config.auth, context, timeout=settings.kubelet_timeout_seconds)
    policy = StoragePolicy(
        image_gc_high_percent=settings.image_gc_high_threshold_percent,
        eviction_imagefs_available_percent=settings.eviction_imagefs_available_percent,
        headroom_percent=settings.storage_headroom_percent,
    )
    async with client:
        yield Capacity(StatsCache(client, settings.kubelet_stats_ttl_seconds), policy)
