"""The Grafana dashboards: valid, consistent, and every query answered by a real Prometheus."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.metrics_core import Metric

from modelprefetch import metrics

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = REPO / "charts" / "modelprefetch" / "files" / "dashboards"
PROMETHEUS = Path("/usr/bin/prometheus")  # Debian's `prometheus` package
NAMESPACE = "dash-test"

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}  # fmt: skip


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[Query]:
    return [
        Query(name, panel["title"], target["expr"])
        for name, board in load_dashboards().items()
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, matchers, ranges, label lists out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def exposed_names() -> set[str]:
    """Every sample name REGISTRY can expose, labelled children or not."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    families: list[Metric] = list(metrics.REGISTRY.collect())
    return {
        family.name + suffix for family in families for suffix in suffixes.get(family.type, ("",))
    }


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


def test_model_dashboard_has_a_model_variable() -> None:
    """The per-model dashboard is driven by namespace and model variables."""
    board = load_dashboards()["model.json"]
    names = [v["name"] for v in board["templating"]["list"]]
    assert {"namespace", "model"} <= set(names)
    for query in queries():
        if query.dashboard == "model.json":
            assert 'model="$model"' in query.expr, query.panel


def test_metric_name_parser_finds_only_metrics() -> None:
    """The PromQL scan skips functions, label lists, matchers, ranges and keywords."""
    expr = (
        'sum by (le) (rate(a_bucket{x="y", z=~"$v"}[$__rate_interval])) / on (w) '
        "b_total or on() vector(0) > bool 1e3"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}


def test_every_dashboard_metric_is_defined_in_metrics_py() -> None:
    """Each metric a panel selects is one that modelprefetch.metrics exposes."""
    known = exposed_names()
    used = {name for query in queries() for name in metric_names(query.expr)}
    assert used
    assert used - known == set()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _populate(namespace: str) -> None:
    metrics.record_model_state(namespace, "llm", desired=3, ready=1, pulling=1, waiting=0,
                               failed=1, size_bytes=4 << 30)  # fmt: skip
    metrics.observe_resolve(namespace, "llm", 0.4, None)
    metrics.observe_resolve(namespace, "llm", 0.2, "NotFound")
    metrics.observe_resolve(namespace, "llm", 0.3, None)
    for node, state in (("n1", "ready"), ("n2", "pulling"), ("n3", "failed")):
        metrics.node_state(namespace, "llm", node, state)
    metrics.observe_prefetch(namespace, "llm", "n1", 95.0)
    metrics.observe_reconcile(0.05, error=False)
    metrics.observe_webhook(metrics.WEBHOOK_MUTATE_PODS, metrics.DECISION_PATCHED, 0.002)
    metrics.observe_webhook(metrics.WEBHOOK_VALIDATE_MODELDEPLOYMENTS, "allowed", 0.001)
    metrics.set_leader(True)


async def _query(session: aiohttp.ClientSession, url: str, expr: str) -> dict[str, Any]:
    async with session.get(f"{url}/api/v1/query", params={"query": expr}) as response:
        reply: dict[str, Any] = await response.json()
    return reply


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Debian's Prometheus scraping start_metrics_server, fed with one model's data."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    _populate(NAMESPACE)
    runner = await metrics.start_metrics_server("127.0.0.1", 0)
    metrics_port = runner.addresses[0][1]
    prom_port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: modelprefetch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    prom = await asyncio.create_subprocess_exec(
        str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", stdout=log, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{prom_port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(120):
                try:
                    reply = await _query(session, url, "count_over_time(up[1m])")
                    result = reply["data"]["result"]
                    if result and float(result[0]["value"][1]) >= 3:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            else:
                raise AssertionError("Prometheus did not scrape the metrics server 3 times")
        yield url
    finally:
        prom.terminate()
        await prom.wait()
        log.close()
        await runner.cleanup()
        metrics.forget_model(NAMESPACE, "llm")


@pytest.mark.asyncio(loop_scope="module")
async def test_every_panel_query_returns_a_series(prometheus: str) -> None:
    """Against a real Prometheus, every panel query of every dashboard returns data."""
    empty = []
    async with aiohttp.ClientSession() as session:
        for query in queries():
            expr = (
                query.expr.replace("$__rate_interval", "30s")
                .replace("$__range", "1h")
                .replace("$namespace", NAMESPACE)
                .replace("$model", "llm")
            )
            reply = await _query(session, prometheus, expr)
            assert reply["status"] == "success", (query, reply)
            if not reply["data"]["result"]:
                empty.append(f"{query.dashboard} / {query.panel}: {expr}")
    assert empty == []


@pytest.mark.asyncio(loop_scope="module")
async def test_template_variables_find_the_model(prometheus: str) -> None:
    """The namespace and model variables of the per-model dashboard list the live model."""
    board = load_dashboards()["model.json"]
    variables = {v["name"]: v["query"]["query"] for v in board["templating"]["list"][1:]}
    pattern = re.compile(r"label_values\((.+), (\w+)\)$")
    async with aiohttp.ClientSession() as session:
        for name, definition in variables.items():
            match = pattern.match(definition.replace("$namespace", NAMESPACE))
            assert match, definition
            selector, label = match.groups()
            async with session.get(
                f"{prometheus}/api/v1/label/{label}/values", params={"match[]": selector}
            ) as response:
                values = (await response.json())["data"]
            assert values, name
