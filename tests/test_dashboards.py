"""The Grafana dashboards: valid, consistent, and every query answered by a real Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e.chart.observability import (
    dashboard_queries,
    empty_panel_queries,
    empty_variables,
    exposed_names,
    load_dashboards,
    metric_names,
    panels,
    run_prometheus,
    unhealthy_rules,
    wait_for_scrapes,
)

from modelprefetch import metrics

NAMESPACE = "dash-test"
MODEL = "llm"


def test_dashboards_exist() -> None:
    """The three dashboards ship with the chart."""
    assert sorted(load_dashboards()) == [
        "fleet-overview.json",
        "model.json",
        "operator-health.json",
    ]


def test_panel_ids_are_unique_per_dashboard() -> None:
    """No two panels (rows included) of a dashboard share an id."""
    for name, board in load_dashboards().items():
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), name


def test_dashboard_uids_are_unique_and_stable() -> None:
    """Each dashboard has its own fixed uid, so links and provisioning survive updates."""
    uids = [board["uid"] for board in load_dashboards().values()]
    assert len(set(uids)) == 3
    assert all(uid.startswith("modelprefetch-") for uid in uids)


def test_every_panel_uses_the_datasource_variable() -> None:
    """Panels and targets read from ${datasource}, a variable of type prometheus."""
    for name, board in load_dashboards().items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_model_dashboard_filters_every_query_by_model() -> None:
    """The per-model dashboard has namespace and model variables and every query uses them."""
    board = load_dashboards()["model.json"]
    names = [v["name"] for v in board["templating"]["list"]]
    assert {"namespace", "model"} <= set(names)
    for query in dashboard_queries():
        if query.dashboard == "model.json":
            assert 'namespace="$namespace", model="$model"' in query.expr, query.panel


def test_metric_name_parser_finds_only_metrics() -> None:
    """The PromQL scan skips functions, label lists, matchers, ranges and keywords."""
    expr = (
        'sum by (le) (rate(a_bucket{x="y", z=~"$v"}[$__rate_interval])) / on (w) '
        "b_total or on() vector(0) > bool 1e3"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}


def test_every_dashboard_metric_is_defined_in_metrics() -> None:
    """Each metric a panel selects is one that modelprefetch.metrics exposes."""
    used = {name for query in dashboard_queries() for name in metric_names(query.expr)}
    assert used
    assert used - exposed_names() == set()


def test_no_panel_needs_a_series_per_node() -> None:
    """No query groups or filters by node: at 5,000 nodes a per-node series per model
    would be 5,000 series per panel (docs/metrics-cardinality.md)."""
    for query in dashboard_queries():
        assert "node)" not in query.expr and "node," not in query.expr, query.panel
        assert "node=" not in query.expr, query.panel


def _populate() -> None:
    metrics.set_leader(True)
    metrics.record_model_state(NAMESPACE, MODEL, desired=3, ready=1, pulling=1, waiting=0,
                               failed=1, size_bytes=4 << 30)  # fmt: skip
    metrics.observe_resolve(NAMESPACE, MODEL, 0.4, None)
    metrics.observe_resolve(NAMESPACE, MODEL, 0.2, "NotFound")
    metrics.observe_resolve(NAMESPACE, MODEL, 0.3, None)
    metrics.observe_prefetch(NAMESPACE, MODEL, "n1", 95.0)
    phases = {"pending": 1, "pulling": 1, "verifying": 0, "ready": 1, "failed": 1}
    metrics.record_phases(NAMESPACE, MODEL, phases)
    metrics.observe_pulls(NAMESPACE, MODEL, {"holder-n1": ("uid-1", 80.0, 4 << 30)}, {"holder-n1"})
    metrics.observe_reconcile(0.05, error=False)
    metrics.observe_webhook(metrics.WEBHOOK_MUTATE_PODS, metrics.DECISION_PATCHED, 0.002)
    metrics.observe_webhook(metrics.WEBHOOK_VALIDATE_MODELDEPLOYMENTS, "allowed", 0.001)
    metrics.observe_verification(NAMESPACE, MODEL, "UntrustedSigner", 0.03)
    metrics.observe_verification(NAMESPACE, MODEL, "Verified", 0.02)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Debian's Prometheus scraping start_metrics_server, fed with one model's data."""
    _populate()
    runner = await metrics.start_metrics_server("127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with run_prometheus([f"127.0.0.1:{port}"], tmp_path_factory.mktemp("prom")) as url:
            await wait_for_scrapes(url, 3)
            yield url
    finally:
        await runner.cleanup()
        metrics.forget_model(NAMESPACE, MODEL)


@pytest.mark.asyncio(loop_scope="module")
async def test_every_panel_query_returns_a_series(prometheus: str) -> None:
    """Against a real Prometheus, every panel query of every dashboard returns data."""
    empty = await empty_panel_queries(prometheus, NAMESPACE, MODEL)
    assert not empty, "panels without data:\n" + "\n".join(empty)


@pytest.mark.asyncio(loop_scope="module")
async def test_template_variables_find_the_model(prometheus: str) -> None:
    """The namespace and model variables of the per-model dashboard list the live model."""
    assert await empty_variables(prometheus, NAMESPACE) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_alert_rules_evaluate_without_errors(prometheus: str) -> None:
    """Prometheus evaluates every alert rule on the scraped data without an error."""
    await asyncio.sleep(2)  # evaluation_interval is 1s: let every group run once
    assert await unhealthy_rules(prometheus) == []
