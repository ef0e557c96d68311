"""Tests of modelprefetch.metrics: names, helpers and the /metrics endpoint."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client import REGISTRY as GLOBAL_REGISTRY
from prometheus_client.samples import Sample

from modelprefetch import metrics

_counter = itertools.count()


@pytest.fixture
def ns() -> Iterator[str]:
    """A namespace label unique to the test, forgotten afterwards."""
    namespace = f"ns-{next(_counter)}"
    yield namespace
    metrics.forget_model(namespace, "m")


def value(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_every_metric_is_named_with_the_project_prefix() -> None:
    """Every metric family on REGISTRY starts with modelprefetch_."""
    names = [family.name for family in metrics.REGISTRY.collect()]
    assert names
    assert all(name.startswith("modelprefetch_") for name in names)


def test_metrics_are_not_on_the_global_registry() -> None:
    """The global prometheus_client registry holds none of our metrics."""
    names = {family.name for family in GLOBAL_REGISTRY.collect()}
    assert not {n for n in names if n.startswith("modelprefetch_")}


def test_record_model_state_sets_desired_and_each_state(ns: str) -> None:
    """record_model_state publishes desired nodes and one series per state."""
    metrics.record_model_state(
        ns, "m", desired=5, ready=2, pulling=1, waiting=1, failed=1, size_bytes=1000
    )
    assert value("modelprefetch_model_desired_nodes", namespace=ns, model="m") == 5
    got = {
        s: value("modelprefetch_model_nodes", namespace=ns, model="m", state=s)
        for s in metrics.NODE_STATES
    }
    assert got == {"ready": 2, "pulling": 1, "waiting": 1, "failed": 1}
    assert value("modelprefetch_model_size_bytes", namespace=ns, model="m") == 1000


def test_record_model_state_keeps_size_when_not_given(ns: str) -> None:
    """A later call without size_bytes leaves the known size in place."""
    metrics.record_model_state(
        ns, "m", desired=1, ready=0, pulling=1, waiting=0, failed=0, size_bytes=42
    )
    metrics.record_model_state(ns, "m", desired=1, ready=1, pulling=0, waiting=0, failed=0)
    assert value("modelprefetch_model_size_bytes", namespace=ns, model="m") == 42


def test_observe_resolve_success_marks_resolved(ns: str) -> None:
    """A successful resolve sets resolved=1 and counts no error."""
    metrics.observe_resolve(ns, "m", 0.3, None)
    assert value("modelprefetch_model_resolved", namespace=ns, model="m") == 1
    assert value("modelprefetch_resolve_duration_seconds_count", namespace=ns, model="m") == 1
    assert (
        value("modelprefetch_resolve_errors_total", namespace=ns, model="m", reason="NotFound")
        is None
    )


def test_observe_resolve_error_counts_reason_and_marks_unresolved(ns: str) -> None:
    """A failed resolve sets resolved=0 and counts the error by reason."""
    metrics.observe_resolve(ns, "m", 0.1, None)
    metrics.observe_resolve(ns, "m", 0.2, "NotFound")
    metrics.observe_resolve(ns, "m", 0.2, "NotFound")
    assert value("modelprefetch_model_resolved", namespace=ns, model="m") == 0
    labels = {"namespace": ns, "model": "m", "reason": "NotFound"}
    assert value("modelprefetch_resolve_errors_total", **labels) == 2


def test_observe_prefetch_feeds_the_per_model_histogram(ns: str) -> None:
    """observe_prefetch observes the model's histogram; no series names the node."""
    metrics.observe_prefetch(ns, "m", "node-a", 42.0)
    metrics.observe_prefetch(ns, "m", "node-b", 7.0)
    base = {"namespace": ns, "model": "m"}
    assert value("modelprefetch_prefetch_duration_seconds_count", **base) == 2
    assert value("modelprefetch_prefetch_duration_seconds_sum", **base) == 49
    assert value("modelprefetch_prefetch_duration_seconds_bucket", **base, le="15.0") == 1
    assert not any("node" in sample.labels for sample in _samples(ns))


def test_observe_prefetch_ignores_the_same_duration_again(ns: str) -> None:
    """A level-triggered reconcile reporting the same prefetch again observes it once."""
    metrics.observe_prefetch(ns, "m", "node-a", 42.0)
    metrics.observe_prefetch(ns, "m", "node-a", 42.0)
    assert value("modelprefetch_prefetch_duration_seconds_count", namespace=ns, model="m") == 1
    metrics.observe_prefetch(ns, "m", "node-a", 50.0)
    assert value("modelprefetch_prefetch_duration_seconds_count", namespace=ns, model="m") == 2


def test_observe_prefetch_counts_again_after_the_node_left(ns: str) -> None:
    """A node that left the target set and finishes again is observed again."""
    metrics.observe_prefetch(ns, "m", "node-a", 42.0)
    metrics.observe_prefetch(ns, "m", "node-b", 42.0)
    metrics.keep_prefetched_nodes(ns, "m", {"node-b"})
    metrics.observe_prefetch(ns, "m", "node-a", 42.0)
    metrics.observe_prefetch(ns, "m", "node-b", 42.0)
    assert value("modelprefetch_prefetch_duration_seconds_count", namespace=ns, model="m") == 3


def _samples(namespace: str) -> list[Sample]:
    return [
        sample
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == namespace
    ]


def _reconcile_fleet(namespace: str, models: int, nodes: int) -> None:
    """What the reconciler reports for `models` ModelDeployments over `nodes` nodes, every
    node in some state, prefetched, and one Pulled event per node."""
    names = [f"node-{i:05d}" for i in range(nodes)]
    for m in range(models):
        model = f"m{m}"
        metrics.record_model_state(
            namespace, model, desired=nodes, ready=nodes // 2, pulling=nodes // 4,
            waiting=nodes // 8, failed=nodes - nodes // 2 - nodes // 4 - nodes // 8,
            size_bytes=1 << 30,
        )  # fmt: skip
        metrics.record_phases(namespace, model, {"ready": nodes // 2, "pulling": nodes // 2})
        metrics.observe_resolve(namespace, model, 0.2, "NotFound")
        for i, node in enumerate(names):
            metrics.observe_prefetch(namespace, model, node, 1.0 + i)
        pulls = {f"holder-{n}": (f"uid-{n}", 2.0 + i, 1 << 30) for i, n in enumerate(names)}
        metrics.observe_pulls(namespace, model, pulls, pulls.keys())
        metrics.keep_prefetched_nodes(namespace, model, names)


@pytest.mark.parametrize("models", [1, 3])
def test_series_count_does_not_grow_with_nodes(models: int) -> None:
    """The number of series is a function of the models only: 10 nodes or 5,000 nodes
    expose exactly as many, and twice the models expose twice the per-model series."""

    def series(nodes: int) -> int:
        namespace = f"card-{next(_counter)}"
        _reconcile_fleet(namespace, models, nodes)
        try:
            return len(_samples(namespace))
        finally:
            for m in range(models):
                metrics.forget_model(namespace, f"m{m}")

    few, many = series(10), series(5000)
    assert few == many
    assert series(10) == few
    per_model = series(10) // models
    assert per_model * models == few
    assert per_model < 100  # a fixed set: states, phases, buckets, one reason


def test_forget_model_drops_every_series_of_the_model(ns: str) -> None:
    """forget_model leaves no series labelled with the deleted model."""
    metrics.record_model_state(
        ns, "m", desired=1, ready=1, pulling=0, waiting=0, failed=0, size_bytes=1
    )
    metrics.observe_resolve(ns, "m", 0.1, "NotFound")
    metrics.observe_prefetch(ns, "m", "node-a", 1.0)
    metrics.forget_model(ns, "m")
    leftovers = [
        sample
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == ns
    ]
    assert leftovers == []


def test_forget_model_keeps_other_models(ns: str) -> None:
    """forget_model of one model leaves a same-namespace model alone."""
    metrics.record_model_state(ns, "other", desired=3, ready=0, pulling=0, waiting=3, failed=0)
    metrics.forget_model(ns, "m")
    assert value("modelprefetch_model_desired_nodes", namespace=ns, model="other") == 3
    metrics.forget_model(ns, "other")


def test_observe_reconcile_counts_errors_only_when_failed() -> None:
    """observe_reconcile always observes duration and counts errors only on failure."""
    count = value("modelprefetch_reconcile_duration_seconds_count") or 0
    errors = value("modelprefetch_reconcile_errors_total") or 0
    metrics.observe_reconcile(0.2, error=False)
    metrics.observe_reconcile(0.4, error=True)
    assert value("modelprefetch_reconcile_duration_seconds_count") == count + 2
    assert value("modelprefetch_reconcile_errors_total") == errors + 1


def test_observe_webhook_counts_decision_and_latency() -> None:
    """observe_webhook counts the decision and observes latency per webhook."""
    hook = "test-hook"
    metrics.observe_webhook(hook, metrics.DECISION_PATCHED, 0.002)
    metrics.observe_webhook(hook, metrics.DECISION_ERROR, 0.004)
    assert value("modelprefetch_webhook_requests_total", webhook=hook, decision="patched") == 1
    assert value("modelprefetch_webhook_requests_total", webhook=hook, decision="error") == 1
    assert value("modelprefetch_webhook_request_duration_seconds_count", webhook=hook) == 2
    below_5ms = {"webhook": hook, "le": "0.005"}
    assert value("modelprefetch_webhook_request_duration_seconds_bucket", **below_5ms) == 2
    metrics.WEBHOOK_REQUESTS.remove(hook, "patched")
    metrics.WEBHOOK_REQUESTS.remove(hook, "error")
    metrics.WEBHOOK_LATENCY.remove(hook)


def test_webhook_latency_buckets_are_fine_below_10ms() -> None:
    """At least four latency buckets lie at or below 10 ms."""
    assert len([b for b in metrics.WEBHOOK_BUCKETS if b <= 0.01]) >= 4


def test_losing_leadership_forgets_every_model(ns: str) -> None:
    """set_leader(False) drops the per-model series a follower must not report."""
    metrics.set_leader(True)
    metrics.record_model_state(ns, "m", desired=1, ready=1, pulling=0, waiting=0, failed=0)
    metrics.observe_prefetch(ns, "m", "node-a", 3.0)
    metrics.set_leader(False)
    assert value("modelprefetch_model_desired_nodes", namespace=ns, model="m") is None
    assert _samples(ns) == []


def test_set_leader_reports_the_lease() -> None:
    """set_leader flips modelprefetch_leader between 1 and 0."""
    metrics.set_leader(True)
    assert value("modelprefetch_leader") == 1
    metrics.set_leader(False)
    assert value("modelprefetch_leader") == 0


async def test_metrics_server_serves_the_registry() -> None:
    """start_metrics_server answers GET /metrics with our metrics in text format."""
    runner = await metrics.start_metrics_server("127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{host}:{port}/metrics") as response,
        ):
            body = await response.text()
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
    finally:
        await runner.cleanup()
    assert "modelprefetch_build_info{" in body
