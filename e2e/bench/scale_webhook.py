"""The webhook case of the scale benchmark: admission latency while the cluster holds
many pods labelled for a model (every one of them streamed to the operator, which
watches pods), measured as in bench_webhook.py (dry-run creates through the API server,
the API server's and the operator's own admission histograms)."""

from __future__ import annotations

import asyncio
from typing import Any

from e2e.bench.bench_webhook import bench_through_apiserver
from e2e.bench.scale_cases import MDS, Bench
from e2e.bench.scale_cluster import grow_pool
from e2e.cluster.controlplane import LocalCluster
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import model_deployment, wait_ready
from e2e.webhook.apiclient import histogram_quantile, operator_histogram
from e2e.webhook.workloads import MODEL_LABEL

NAMESPACE = "bench-webhook"
POOL = "webhook"
MODEL = "webhook"
# No scheduler has this name: the pods stay Pending, costing kwok and the scheduler nothing.
UNSCHEDULED = "bench-nobody"


def labelled_pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"w-{i:05d}", "labels": {"app": "bench", MODEL_LABEL: MODEL}},
        "spec": {
            "schedulerName": UNSCHEDULED,
            "containers": [{"name": "app", "image": "busybox"}],
        },
    }


async def run(
    bench: Bench,
    cluster: LocalCluster,
    operator: OperatorProcess,
    pods: int,
    rate: float,
    count: int,
) -> dict[str, Any]:
    """Create `pods` labelled pods (through the webhook), then time `count` admissions."""
    kube = bench.kube
    await grow_pool(kube, POOL, 2)
    await kube.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    body = model_deployment(MODEL, NAMESPACE, bench.references[0], POOL)
    await kube.call("POST", MDS.format(ns=NAMESPACE), body)
    await asyncio.to_thread(wait_ready, cluster, NAMESPACE, MODEL, "2/2", 300)

    loop = asyncio.get_running_loop()
    bench.meter.reset_peak()
    cpu = bench.meter.cpu_seconds()
    started = loop.time()
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    await kube.gather([kube.call("POST", path, labelled_pod(i)) for i in range(pods)])
    created = loop.time() - started
    await asyncio.sleep(5)  # let the operator's watch catch up before reading its memory
    result: dict[str, Any] = {
        "labelled_pods": pods,
        "create_s": round(created, 1),
        "creates_per_s": round(pods / created, 1),
        "operator_cpu_s_while_creating": round(bench.meter.cpu_seconds() - cpu, 2),
        "operator_peak_rss_mib": bench.meter.peak_rss_mib(),
    }
    before = operator_histogram(await asyncio.to_thread(operator.metrics))
    through = await bench_through_apiserver(
        cluster.kubeconfig, NAMESPACE, MODEL, rate=rate, count=count
    )
    after = operator_histogram(await asyncio.to_thread(operator.metrics))
    result["through_apiserver"] = through
    result["inside_webhook_ms"] = {
        "p50_le": histogram_quantile(before, after, 0.5),
        "p99_le": histogram_quantile(before, after, 0.99),
    }
    await kube.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}", missing_ok=True)
    return result
