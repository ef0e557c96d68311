"""Prometheus metrics of the operator, on one dedicated registry.

Every metric is named `modelprefetch_<thing>_<unit>` and lives on `REGISTRY` (never the
global registry, so tests and the `hold` command stay clean). Other modules call the
typed helpers below rather than the metric objects, so label names stay in one place.

    per ModelDeployment (labels namespace, model)
      modelprefetch_model_desired_nodes               gauge      nodes the model should be on
      modelprefetch_model_nodes{state}                gauge      nodes per state (NODE_STATES)
      modelprefetch_model_size_bytes                  gauge      bytes one node pulls
      modelprefetch_model_resolved                    gauge      1 resolved, 0 last resolve failed
      modelprefetch_resolve_duration_seconds          histogram  registry resolve time
      modelprefetch_resolve_errors_total{reason}      counter    failed resolves by error reason
      modelprefetch_prefetch_duration_seconds         histogram  per-node prefetch time
    per node (labels namespace, model, node; record_node_states() keeps the set exact)
      modelprefetch_node_state{state}                 gauge      1 for the node's current state
      modelprefetch_node_prefetch_duration_seconds    gauge      last prefetch time on the node
    operator
      modelprefetch_reconcile_duration_seconds        histogram  one reconcile
      modelprefetch_reconcile_errors_total            counter    reconciles that raised
      modelprefetch_webhook_requests_total{webhook, decision}    admission reviews answered
      modelprefetch_webhook_request_duration_seconds{webhook}   admission latency
      modelprefetch_leader                            gauge      1 on the replica that reconciles
                                                             (followers drop per-model series)
      modelprefetch_build_info{version}               gauge      always 1
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NamedTuple

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from modelprefetch import __version__

REGISTRY: Final = CollectorRegistry(auto_describe=True)

NODE_STATES: Final = ("ready", "pulling", "waiting", "failed")
"""States a node can be in for one model; `desired` is reported apart."""

WEBHOOK_MUTATE_PODS: Final = "mutate-pods"
WEBHOOK_VALIDATE_MODELDEPLOYMENTS: Final = "validate-modeldeployments"
DECISION_ALLOWED: Final = "allowed"
DECISION_PATCHED: Final = "patched"
DECISION_DENIED: Final = "denied"
DECISION_ERROR: Final = "error"
"""Webhook decisions; `error` means the webhook itself failed (alerted on)."""

_MODEL = ("namespace", "model")
_NODE = ("namespace", "model", "node")

# Model pulls take from seconds (small, cached layers) to hours (100+ GiB).
PREFETCH_BUCKETS: Final = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
RESOLVE_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RECONCILE_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Admission is answered from memory: fine-grained below 10 ms, up to the 5 s timeout.
WEBHOOK_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
)

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
NODE_STATE: Final = Gauge(
    "modelprefetch_node_state",
    "1 for the current prefetch state of a model on a node.",
    (*_NODE, "state"),
    registry=REGISTRY,
)
NODE_PREFETCH_DURATION: Final = Gauge(
    "modelprefetch_node_prefetch_duration_seconds",
    "Duration of the last completed prefetch of a model on a node.",
    _NODE,
    registry=REGISTRY,
)
RECONCILE_DURATION: Final = Histogram(
    "modelprefetch_reconcile_duration_seconds",
    "Time of one ModelDeployment reconcile.",
    buckets=RECONCILE_BUCKETS,
    registry=REGISTRY,
)
RECONCILE_ERRORS: Final = Counter(
    "modelprefetch_reconcile_errors_total",
    "Reconciles that ended in an error.",
    registry=REGISTRY,
)
WEBHOOK_REQUESTS: Final = Counter(
    "modelprefetch_webhook_requests_total",
    "Admission reviews answered, by webhook and decision (allowed, patched, denied, error).",
    ("webhook", "decision"),
    registry=REGISTRY,
)
WEBHOOK_LATENCY: Final = Histogram(
    "modelprefetch_webhook_request_duration_seconds",
    "Time to answer one admission review.",
    ("webhook",),
    buckets=WEBHOOK_BUCKETS,
    registry=REGISTRY,
)
LEADER: Final = Gauge(
    "modelprefetch_leader",
    "1 if this replica holds the leader lease and reconciles, else 0.",
    registry=REGISTRY,
)
BUILD_INFO: Final = Gauge(
    "modelprefetch_build_info",
    "Always 1; the version label names the running operator.",
    ("version",),
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__).set(1)
LEADER.set(0)
# Make the unlabelled series exist from the start, so dashboards show zeros, not gaps.
RECONCILE_ERRORS.inc(0)


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


# (namespace, model, node) -> the last prefetch duration observed there.
_last_prefetch: dict[tuple[str, str, str], float] = {}


def observe_prefetch(namespace: str, name: str, node: str, seconds: float) -> None:
    """Record a completed prefetch of a model on a node.

    Idempotent per node and duration: a level-triggered reconcile may report every Ready
    holder pod each time (its duration, admission to Ready, does not change);
    only a new duration on that node is observed again.
    """
    key = (namespace, name, node)
    if _last_prefetch.get(key) == seconds:
        return
    _last_prefetch[key] = seconds
    PREFETCH_DURATION.labels(namespace, name).observe(seconds)
    NODE_PREFETCH_DURATION.labels(namespace, name, node).set(seconds)


def node_state(namespace: str, name: str, node: str, state: str) -> None:
    """Set the current state of a model on a node (one of NODE_STATES)."""
    if state not in NODE_STATES:
        raise ValueError(f"unknown node state {state!r}, expected one of {NODE_STATES}")
    for other in NODE_STATES:
        if other != state:
            NODE_STATE.remove(namespace, name, node, other)
    NODE_STATE.labels(namespace, name, node, state).set(1)


def record_node_states(namespace: str, name: str, states: Mapping[str, str]) -> None:
    """Set the state of every target node of a model (node -> one of NODE_STATES).

    Nodes reported before but missing now are forgotten, so one call per reconcile
    keeps the per-node table exact.
    """
    for node, state in states.items():
        node_state(namespace, name, node, state)
    known = {labels[2] for labels in _children(NODE_STATE) if labels[:2] == (namespace, name)}
    known |= {node for (ns, model, node) in _last_prefetch if (ns, model) == (namespace, name)}
    for node in known - states.keys():
        forget_node(namespace, name, node)


def forget_node(namespace: str, name: str, node: str) -> None:
    """Drop the per-node series of a model on a node that left the target set."""
    for state in NODE_STATES:
        NODE_STATE.remove(namespace, name, node, state)
    NODE_PREFETCH_DURATION.remove(namespace, name, node)
    _last_prefetch.pop((namespace, name, node), None)


_PER_MODEL: Final = (
    MODEL_DESIRED_NODES,
    MODEL_NODES,
    MODEL_SIZE,
    MODEL_RESOLVED,
    RESOLVE_DURATION,
    RESOLVE_ERRORS,
    PREFETCH_DURATION,
    NODE_STATE,
    NODE_PREFETCH_DURATION,
)


def forget_model(namespace: str, name: str) -> None:
    """Drop every series of a deleted ModelDeployment."""
    key = (namespace, name)
    for metric in _PER_MODEL:
        for labels in _children(metric):
            if labels[:2] == key:
                metric.remove(*labels)
    for seen in [seen for seen in _last_prefetch if seen[:2] == key]:
        del _last_prefetch[seen]


def forget_all_models() -> None:
    """Drop every per-model and per-node series (a replica that stops leading)."""
    for metric in _PER_MODEL:
        metric.clear()
    _last_prefetch.clear()


def observe_reconcile(seconds: float, error: bool) -> None:
    """Record one reconcile and whether it ended in an error."""
    RECONCILE_DURATION.observe(seconds)
    if error:
        RECONCILE_ERRORS.inc()


def observe_webhook(webhook: str, decision: str, seconds: float) -> None:
    """Record one admission review: which webhook, its decision (DECISION_*), its latency."""
    WEBHOOK_REQUESTS.labels(webhook, decision).inc()
    WEBHOOK_LATENCY.labels(webhook).observe(seconds)


def set_leader(is_leader: bool) -> None:
    """Report whether this replica holds the leader lease; losing it forgets all models.

    Only the leader reconciles, so only it reports per-model series; a former leader's
    would otherwise stay frozen next to the new leader's.
    """
    LEADER.set(1 if is_leader else 0)
    if not is_leader:
        forget_all_models()


def _children(metric: Gauge | Counter | Histogram) -> list[tuple[str, ...]]:
    # prometheus_client keeps children in `_metrics`; there is no public listing.
    with metric._lock:
        return [tuple(labels) for labels in metric._metrics]


class KubeletPull(NamedTuple):
    """What a kubelet `Pulled` event says about one image (volume) pull."""

    pull_seconds: float
    total_seconds: float  # including the wait for the node's (serialized) image puller
    size_bytes: int | None  # kubelet >= 1.30 appends "Image size: N bytes."


_PULLED = re.compile(
    r'^Successfully pulled image ".*" in (?P<pull>\S+) \((?P<total>\S+) including waiting\)'
    r"(?:\. Image size: (?P<size>\d+) bytes\.)?$"
)
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _go_duration(text: str) -> float | None:
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_kubelet_pull(message: str) -> KubeletPull | None:
    """Parse the message of a kubelet `Pulled` event; None for any other message.

    The kubelet writes `Successfully pulled image "<ref>" in 1m2.5s (1m4s including
    waiting). Image size: 123 bytes.` (Go durations); "already present" is not a pull.
    """
    match = _PULLED.match(message.strip())
    if not match:
        return None
    pull, total = _go_duration(match["pull"]), _go_duration(match["total"])
    if pull is None or total is None:
        return None
    size = int(match["size"]) if match["size"] else None
    return KubeletPull(pull_seconds=pull, total_seconds=total, size_bytes=size)


async def _handle_metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(REGISTRY), headers={"Content-Type": content_type})


async def start_metrics_server(host: str, port: int) -> web.AppRunner:
    """Serve REGISTRY at http://host:port/metrics; `await runner.cleanup()` stops it."""
    app = web.Application()
    app.router.add_get("/metrics", _handle_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
