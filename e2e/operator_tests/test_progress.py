"""Progress on a wave whose pulls are held: phases move Pending -> Pulling -> Verifying ->
Ready in status.progress, in `kubectl get md -o wide`, in `modelprefetch status` and in the
operator's metrics, which a real Prometheus scrapes for the dashboard's progress panels.

Held nodes (held-*) never ready their pods by themselves: the test plays their kubelet,
posting Pulling/Pulled Events and marking holder pods Ready when it decides.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from e2e.chart.observability import (
    dashboard_queries,
    grafana_expr,
    query,
    run_prometheus,
    wait_for_scrapes,
)
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.kubelet_events import post_pulled, post_pulling
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    is_ready,
    make_pool,
    mark_ready,
    model_deployment,
    pods,
    wait_for,
    wait_ready,
)

NAME = "progress"
SELECTOR = f"modelprefetch.io/modeldeployment={NAME}"
PULL_SIZE = 3 << 30  # what the fake kubelet says it pulled
PROGRESS_PANELS = {21, 22, 23}  # model.json's Progress row


def _status_cli(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelprefetch", "status", *args]
    command += ["--kubeconfig", str(cluster.kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def _phases(cluster: LocalCluster, namespace: str) -> dict[str, int]:
    status = get_md(cluster, namespace, NAME).get("status") or {}
    return dict((status.get("progress") or {}).get("phases") or {})


def _on_node(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """Holder pods bound to a node, by node."""
    return {p["spec"]["nodeName"]: p for p in pods(cluster, namespace, SELECTOR)
            if p["spec"].get("nodeName")}  # fmt: skip


def _initialized(pod: dict[str, Any]) -> bool:
    # kwok's pod-create stage has started the pod: marking it Ready before that would be
    # overwritten by the stage.
    return any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _columns(table: str) -> dict[str, str]:
    """The first row of `kubectl get` output by header, cut at the header's offsets (an
    empty cell stays empty)."""
    header, row = table.splitlines()[:2]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, bounds, strict=True)}


def _started(cluster: LocalCluster, namespace: str, count: int) -> dict[str, dict[str, Any]]:
    """`count` holder pods on their nodes and started by kwok, else {}."""
    found = _on_node(cluster, namespace)
    ok = len(found) == count and all(_initialized(p) for p in found.values())
    return found if ok else {}


def _progress(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    return dict((get_md(cluster, namespace, NAME).get("status") or {}).get("progress") or {})


def _collect(process: subprocess.Popen[str]) -> list[str]:
    """The lines `process` prints, appended by a thread as they come."""
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _image(pod: dict[str, Any]) -> str:
    return next(v["image"]["reference"] for v in pod["spec"]["volumes"] if "image" in v)


async def _panel_series(target: str, workdir: Path, namespace: str) -> dict[str, int]:
    """Series each query of the Progress panels returns from a real Prometheus."""
    found: dict[str, int] = {}
    async with run_prometheus([target], workdir) as url:
        await wait_for_scrapes(url, 3)
        async with aiohttp.ClientSession() as session:
            for item in dashboard_queries():
                if item.dashboard == "model.json" and any(
                    f"modelprefetch_{m}" in item.expr
                    for m in ("model_nodes_by_phase", "pull_duration", "pull_bytes")
                ):
                    reply = await query(session, url, grafana_expr(item.expr, namespace, NAME))
                    found[f"{item.panel}: {item.expr}"] = len(reply["data"]["result"])
    return found


def test_phases_cli_columns_and_metrics_follow_a_held_wave(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Three held nodes, two pulling at a time: the phases, the CLI and the metrics
    follow the fake kubelet's Events and readiness; the CLI's --watch exits 0 at Ready."""
    reference = f"{registries.distribution.host}/models/progress-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"progress-{unique}"
    nodes = [f"held-p{unique}-{i}" for i in range(3)]
    make_pool(cluster, nodes, pool)
    try:
        md = model_deployment(NAME, namespace, reference, pool, prefetch={"maxConcurrentNodes": 2})
        apply(cluster, md)
        # Two holder pods on their nodes, not pulled yet; the third node waits its turn.
        wait_for(
            "2 pulling, 1 pending",
            lambda: (
                _phases(cluster, namespace).get("pulling") == 2
                and _phases(cluster, namespace).get("pending") == 1
            ),
        )
        bound = wait_for("two started holder pods", lambda: _started(cluster, namespace, 2))
        first, second = (bound[n] for n in sorted(bound))
        now = datetime.now(UTC)
        # The kubelet finished pulling on the first node; the second started 2 minutes ago.
        post_pulling(cluster, first, _image(first), now - timedelta(seconds=40))
        post_pulled(cluster, first, _image(first), now, seconds=38.5, size_bytes=PULL_SIZE)
        post_pulling(cluster, second, _image(second), now - timedelta(minutes=2))
        wait_for(
            "the pulled node Verifying", lambda: _phases(cluster, namespace).get("verifying") == 1
        )
        status = get_md(cluster, namespace, NAME)["status"]["progress"]
        listed = {e["name"]: e for e in status["slowest"]}
        assert listed[first["spec"]["nodeName"]]["phase"] == "Verifying"
        pulling = listed[second["spec"]["nodeName"]]
        assert pulling["phase"] == "Pulling"
        assert pulling["since"] == (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

        once = _status_cli(cluster, NAME, "-n", namespace)
        print("modelprefetch status (held wave):\n" + once.stdout)
        assert once.returncode == 3, once
        assert "0/3 nodes" in once.stdout and "verifying 1  pulling 1  pending 1" in once.stdout
        assert f"{second['spec']['nodeName']}" in once.stdout and " 2m" in once.stdout
        wide = cluster.kubectl("get", "md", NAME, "-n", namespace, "-o", "wide").stdout
        print(wide)
        columns = _columns(wide)
        shown = [columns.get(c) for c in ("PENDING", "PULLING", "VERIFYING", "FAILED")]
        assert shown == ["1", "1", "1", "0"], wide
        assert (
            "ETA" in columns
            and "PENDING" not in cluster.kubectl("get", "md", "-n", namespace).stdout
        )

        # --watch follows the rest of the wave to Ready and exits 0.
        command = [sys.executable, "-m", "modelprefetch", "status", NAME, "-n", namespace,
                   "--watch", "--interval", "0.5", "--timeout", "150",
                   "--kubeconfig", str(cluster.kubeconfig)]  # fmt: skip
        started = time.monotonic()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as watcher:
            seen = _collect(watcher)
            # Each step waits for the watcher to print it, so the output shows the wave move.
            wait_for("the watcher's first block", lambda: "0/3 nodes" in "".join(seen))
            mark_ready(cluster, namespace, first["metadata"]["name"])
            wait_for(
                "an ETA once a node finished", lambda: _progress(cluster, namespace).get("eta")
            )
            wait_for("the watcher at 1/3", lambda: "1/3 nodes" in "".join(seen))
            mark_ready(cluster, namespace, second["metadata"]["name"])
            third = wait_for(
                "the third holder pod started",
                lambda: [p for n, p in _on_node(cluster, namespace).items()
                         if n not in bound and _initialized(p) and not is_ready(p)],
            )[0]  # fmt: skip
            wait_for("the watcher at 2/3", lambda: "2/3 nodes" in "".join(seen))
            mark_ready(cluster, namespace, third["metadata"]["name"])
            watcher.wait(timeout=150)
        out = "".join(seen)
        print(f"modelprefetch status --watch ({time.monotonic() - started:.1f}s):\n{out}")
        assert watcher.returncode == 0, out
        assert f'modeldeployment "{namespace}/{NAME}" is Ready on 3 nodes' in out
        assert out.index("1/3 nodes") < out.index("2/3 nodes") < out.index("3/3 nodes")
        assert re.search(r"1/3 nodes .* ETA \d\d:\d\d:\d\dZ \(", out), out
        done = wait_ready(cluster, namespace, NAME, "3/3")["status"]["progress"]
        assert done["phases"]["ready"] == 3 and done["percent"] == 100

        missing = _status_cli(cluster, "no-such-model", "-n", namespace)
        assert missing.returncode == 2
        assert "ModelDeployment 'no-such-model' not found" in missing.stderr

        # Metrics: one pull observed once (size and time from the Pulled event), phases.
        text = wait_for("the phase gauge at 3 ready", lambda: (
            t if f'model="{NAME}",namespace="{namespace}",phase="ready"}} 3.0' in
            (t := operator.metrics()) else None))  # fmt: skip
        labels = f'model="{NAME}",namespace="{namespace}"'
        assert f"modelprefetch_pull_bytes_count{{{labels}}} 1.0" in text
        assert f"modelprefetch_pull_duration_seconds_sum{{{labels}}} 38.5" in text
        assert "node=" not in "".join(
            line for line in text.splitlines() if "_by_phase" in line or "_pull_" in line
        )
        series = asyncio.run(_panel_series(
            f"127.0.0.1:{operator.metrics_port}", tmp_path / "prom", namespace))  # fmt: skip
        assert series and all(series.values()), series
    finally:
        delete_nodes(cluster, nodes)
