"""Dashboards, alert rules and a real Prometheus: shared by the unit tests and the e2e run.

- `dashboard_queries()` / `metric_names()` / `exposed_names()`: what the dashboards and
  rules select, and what `modelprefetch.metrics.REGISTRY` can expose.
- `run_prometheus(targets, workdir)`: Debian's /usr/bin/prometheus scraping `targets`
  (host:port of /metrics endpoints) every second, until the block exits.
- `empty_panel_queries(url, namespace, model)`: the panel queries that return no series,
  with Grafana's variables replaced ($namespace/$model pick the model to look at).
- `unhealthy_rules(url)`: alert rules (deploy/prometheus/rules.yaml, loaded by
  run_prometheus) whose evaluation failed.

In the e2e run, with the operator serving /metrics at 127.0.0.1:PORT and one
ModelDeployment `ns/name` reconciled and its pods admitted::

    async with run_prometheus([f"127.0.0.1:{port}"], tmp_path) as url:
        await wait_for_scrapes(url, 3)
        assert await empty_panel_queries(url, "ns", "name") == []
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.metrics_core import Metric

from modelprefetch import metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "charts" / "modelprefetch" / "files" / "dashboards"
PROMETHEUS = Path("/usr/bin/prometheus")  # Debian's `prometheus` package
PROMTOOL = Path("/usr/bin/promtool")
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}  # fmt: skip


@dataclass(frozen=True)
class Query:
    """One target expression of one panel."""

    dashboard: str
    panel: str
    expr: str


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Dashboard file name -> parsed JSON."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels of collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[Query]:
    """Every panel target of every dashboard."""
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
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def exposed_names() -> set[str]:
    """Every sample name REGISTRY can expose, whether or not a labelled child exists yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    families: list[Metric] = list(metrics.REGISTRY.collect())
    return {
        family.name + suffix for family in families for suffix in suffixes.get(family.type, ("",))
    }


def grafana_expr(expr: str, namespace: str, model: str) -> str:
    """The expression Grafana would send, for a 30s rate interval and a 1h range."""
    return (
        expr.replace("$__rate_interval", "30s")
        .replace("$__range", "1h")
        .replace("$namespace", namespace)
        .replace("$model", model)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def query(session: aiohttp.ClientSession, url: str, expr: str) -> dict[str, Any]:
    """An instant query; the decoded API reply."""
    async with session.get(f"{url}/api/v1/query", params={"query": expr}) as response:
        reply: dict[str, Any] = await response.json()
    return reply


@asynccontextmanager
async def run_prometheus(targets: Sequence[str], workdir: Path) -> AsyncIterator[str]:
    """Prometheus scraping `targets` every second, evaluating RULES; yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(RULES))}]\n"
        "scrape_configs:\n"
        "  - job_name: modelprefetch\n"
        f"    static_configs: [{{targets: {json.dumps(list(targets))}}}]\n"
    )
    with (workdir / "prometheus.log").open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            str(PROMETHEUS), f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            await proc.wait()


async def wait_for_scrapes(url: str, count: int, timeout: float = 60) -> None:
    """Wait until every target has been scraped successfully `count` times."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                last = await query(session, url, "min(count_over_time(up[1m]) * up)")
                result = last["data"]["result"]
                if result and float(result[0]["value"][1]) >= count:
                    return
            except (aiohttp.ClientError, KeyError):
                pass
            await asyncio.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape every target {count} times: {last}")


async def empty_panel_queries(url: str, namespace: str, model: str) -> list[str]:
    """Panel queries (as sent) that return no series; raises on a query Prometheus rejects."""
    empty = []
    async with aiohttp.ClientSession() as session:
        for item in dashboard_queries():
            expr = grafana_expr(item.expr, namespace, model)
            reply = await query(session, url, expr)
            if reply.get("status") != "success":
                raise AssertionError(f"{item.dashboard} / {item.panel}: {reply}")
            if not reply["data"]["result"]:
                empty.append(f"{item.dashboard} / {item.panel}: {expr}")
    return empty


async def unhealthy_rules(url: str) -> list[str]:
    """Loaded alert rules whose last evaluation failed (or none loaded at all)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/api/v1/rules") as response,
    ):
        groups = (await response.json())["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    if not rules:
        return ["no rules loaded"]
    return [
        f"{rule['name']}: {rule.get('lastError', '')}"
        for rule in rules
        if rule.get("health") != "ok"
    ]


async def empty_variables(url: str, namespace: str) -> list[str]:
    """Template variables of the per-model dashboard whose label_values() list nothing."""
    board = load_dashboards()["model.json"]
    pattern = re.compile(r"label_values\((.+), (\w+)\)$")
    empty = []
    async with aiohttp.ClientSession() as session:
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            definition = variable["query"]["query"].replace("$namespace", namespace)
            match = pattern.match(definition)
            if not match:
                raise AssertionError(f"unexpected variable query {definition}")
            selector, label = match.groups()
            async with session.get(
                f"{url}/api/v1/label/{label}/values", params={"match[]": selector}
            ) as response:
                if not (await response.json())["data"]:
                    empty.append(variable["name"])
    return empty
