"""Per-ModelDeployment metrics (labels namespace, model[, state|phase|reason]).

No series carries a node label: the number of series is a function of the number of
ModelDeployments (and fixed state, phase, reason and bucket sets), never of the number
of nodes (docs/metrics-cardinality.md). Which nodes are slow or failing is in
status.progress (bounded) and `modelprefetch status NAME`.

Only the leader reconciles, so only it reports these; `forget_all_models` drops them
when a replica stops leading, `forget_model` when a ModelDeployment is deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from modelprefetch.metrics.registry import REGISTRY
from modelprefetch.metrics.verification import PER_MODEL_VERIFICATION

NODE_STATES: Final = ("ready", "pulling", "waiting", "failed")
"""States a node can be in for one model; `desired` is reported apart."""

_MODEL = ("namespace", "model")

# Model pulls take from seconds (small, cached layers) to hours (100+ GiB).
PREFETCH_BUCKETS: Final = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
RESOLVE_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MODEL_DESIRED_NODES: Final = Gauge(
    "modelprefetch_model_desired_nodes",
    "Nodes a ModelDeployment targets.",
    _MODEL,
    registry=REGISTRY,
)
MODEL_NODES: Final = Gauge(
    "modelprefetch_model_nodes",
    "Nodes of a ModelDeployment per prefetch state (ready, pulling, waiting, failed).",
    (*_MODEL, "state"),
    registry=REGISTRY,
)
MODEL_SIZE: Final = Gauge(
    "modelprefetch_model_size_bytes",
    "Bytes of the resolved model that each node pulls.",
    _MODEL,
    registry=REGISTRY,
)
MODEL_RESOLVED: Final = Gauge(
    "modelprefetch_model_resolved",
    "1 if the model reference resolved on the last attempt, 0 if it failed.",
    _MODEL,
    registry=REGISTRY,
)
RESOLVE_DURATION: Final = Histogram(
    "modelprefetch_resolve_duration_seconds",
    "Time to resolve a model reference in its registry (manifest, config, mountable image).",
    _MODEL,
    buckets=RESOLVE_BUCKETS,
    registry=REGISTRY,
)
RESOLVE_ERRORS: Final = Counter(
    "modelprefetch_resolve_errors_total",
    "Failed model resolves, by error reason.",
    (*_MODEL, "reason"),
    registry=REGISTRY,
)
PREFETCH_DURATION: Final = Histogram(
    "modelprefetch_prefetch_duration_seconds",
    "Time from a node's admission to a prefetch wave until its holder pod is Ready"
    " (the model is pulled and verified).",
    _MODEL,
    buckets=PREFETCH_BUCKETS,
    registry=REGISTRY,
)
# Progress (issue 13). Labels are namespace, model and phase only, never the node: a
# series per node would multiply by 5,000 on a large fleet, for every model, and Prometheus
# keeps every series it ever saw for the retention period. Which nodes are slow or failing
# is in status.progress (bounded) and `modelprefetch status`, not in metrics.
NODE_PHASES: Final = ("pending", "pulling", "verifying", "ready", "failed")
"""Progress phases of a node (status.progress.phases), lower-cased."""
# 1 MiB .. 1 TiB, by factors of 4: from a small adapter to the largest models.
PULL_BYTES_BUCKETS: Final = tuple(float(1 << shift) for shift in range(20, 41, 2))

MODEL_NODES_BY_PHASE: Final = Gauge(
    "modelprefetch_model_nodes_by_phase",
    "Nodes of a ModelDeployment per progress phase (pending, pulling, verifying, ready, failed).",
    (*_MODEL, "phase"),
    registry=REGISTRY,
)
PULL_DURATION: Final = Histogram(
    "modelprefetch_pull_duration_seconds",
    "Time the kubelet took to pull the model on a node, from its Pulled event"
    " (without the wait for the node's image puller).",
    _MODEL,
    buckets=PREFETCH_BUCKETS,
    registry=REGISTRY,
)
PULL_BYTES: Final = Histogram(
    "modelprefetch_pull_bytes",
    "Size of the model image pulled on a node, from the kubelet's Pulled event.",
    _MODEL,
    buckets=PULL_BYTES_BUCKETS,
    registry=REGISTRY,
)


STARTUP_TAINT_REMOVALS: Final = Counter(
    "modelprefetch_startup_taint_removals",
    "Startup taints removed from nodes, by reason: Warm (every targeting model Ready"
    " there), NotTargeted (no model targets the node), DeadlineExceeded (removed anyway).",
    ("reason",),
    registry=REGISTRY,
)


def record_model_state(
    namespace: str,
    name: str,
    *,
    desired: int,
    ready: int,
    pulling: int,
    waiting: int,
    failed: int,
    size_bytes: int | None = None,
) -> None:
    """Publish the node counts (and the size, once known) of one ModelDeployment."""
    MODEL_DESIRED_NODES.labels(namespace, name).set(desired)
    for state, count in zip(NODE_STATES, (ready, pulling, waiting, failed), strict=True):
        MODEL_NODES.labels(namespace, name, state).set(count)
    if size_bytes is not None:
        MODEL_SIZE.labels(namespace, name).set(size_bytes)


def observe_resolve(namespace: str, name: str, seconds: float, error_reason: str | None) -> None:
    """Record one resolve attempt; `error_reason` is the error's `reason`, None on success."""
    RESOLVE_DURATION.labels(namespace, name).observe(seconds)
    MODEL_RESOLVED.labels(namespace, name).set(0 if error_reason else 1)
    if error_reason:
        RESOLVE_ERRORS.labels(namespace, name, error_reason).inc()


# (namespace, model) -> {node: the last prefetch duration observed there}. Bookkeeping to
# observe each prefetch once, not a series: `keep_prefetched_nodes` trims it to the
# model's target nodes on every reconcile.
_last_prefetch: dict[tuple[str, str], dict[str, float]] = {}


def observe_prefetch(namespace: str, name: str, node: str, seconds: float) -> None:
    """Record a completed prefetch of a model on a node, in the per-model histogram.

    Idempotent per node and duration: a level-triggered reconcile may report every Ready
    holder pod each time (its duration, admission to Ready, does not change);
    only a new duration on that node is observed again.
    """
    seen = _last_prefetch.setdefault((namespace, name), {})
    if seen.get(node) == seconds:
        return
    seen[node] = seconds
    PREFETCH_DURATION.labels(namespace, name).observe(seconds)


def keep_prefetched_nodes(namespace: str, name: str, nodes: Collection[str]) -> None:
    """Forget the observed prefetches of nodes that left the model's target set (a node
    that comes back and finishes again is observed again)."""
    seen = _last_prefetch.get((namespace, name))
    if seen is None:
        return
    for node in [n for n in seen if n not in nodes]:
        del seen[node]


def record_phases(namespace: str, name: str, counts: Mapping[str, int]) -> None:
    """Nodes per progress phase of one ModelDeployment (phase -> count, see NODE_PHASES)."""
    for phase in NODE_PHASES:
        MODEL_NODES_BY_PHASE.labels(namespace, name, phase).set(counts.get(phase, 0))


# (namespace, model, holder pod) -> uid of the Pulled event already observed.
_observed_pulls: dict[tuple[str, str, str], str] = {}


def observe_pulls(
    namespace: str,
    name: str,
    pulls: Mapping[str, tuple[str, float, int | None]],
    pods: Collection[str],
) -> None:
    """Observe each finished pull once (holder pod -> (Pulled event uid, seconds, bytes)).

    A reconcile reads the same Events again and again; an event uid already observed for
    a pod is skipped. Pods no longer in `pods` (the model's current holder pods) are
    forgotten, so the bookkeeping stays as large as the fleet.
    """
    for pod, (uid, seconds, size) in pulls.items():
        key = (namespace, name, pod)
        if _observed_pulls.get(key) == uid:
            continue
        _observed_pulls[key] = uid
        PULL_DURATION.labels(namespace, name).observe(seconds)
        if size is not None:
            PULL_BYTES.labels(namespace, name).observe(size)
    for key in [k for k in _observed_pulls if k[:2] == (namespace, name) and k[2] not in pods]:
        del _observed_pulls[key]


_PER_MODEL: Final = (
    MODEL_DESIRED_NODES,
    MODEL_NODES,
    MODEL_SIZE,
    MODEL_RESOLVED,
    RESOLVE_DURATION,
    RESOLVE_ERRORS,
    PREFETCH_DURATION,
    MODEL_NODES_BY_PHASE,
    PULL_DURATION,
    PULL_BYTES,
    *PER_MODEL_VERIFICATION,
)


def forget_model(namespace: str, name: str) -> None:
    """Drop every series of a deleted ModelDeployment."""
    key = (namespace, name)
    for metric in _PER_MODEL:
        for labels in _children(metric):
            if labels[:2] == key:
                metric.remove(*labels)
    _last_prefetch.pop(key, None)
    for pulled in [pulled for pulled in _observed_pulls if pulled[:2] == key]:
        del _observed_pulls[pulled]


def forget_all_models() -> None:
    """Drop every per-model series (a replica that stops leading)."""
    for metric in _PER_MODEL:
        metric.clear()
    _last_prefetch.clear()
    _observed_pulls.clear()


def _children(metric: Gauge | Counter | Histogram) -> list[tuple[str, ...]]:
    # prometheus_client keeps children in `_metrics`; there is no public listing.
    with metric._lock:
        return [tuple(labels) for labels in metric._metrics]


def count_startup_taint_removal(reason: str) -> None:
    """One startup taint removed from a node (reasons: core.startup_taint.REMOVAL_REASONS)."""
    STARTUP_TAINT_REMOVALS.labels(reason).inc()
