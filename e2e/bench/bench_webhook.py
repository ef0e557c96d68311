"""Admission latency of the pod webhook: inside the webhook and through the API server.

    python e2e/bench/bench_webhook.py                      # both halves, local cluster
    python e2e/bench/bench_webhook.py --no-cluster --rate 500 --seconds 20
    python -m e2e.bench.bench_webhook --kubeconfig K --namespace NS --model MD
        # also the API-server half, against a cluster where the webhook configuration
        # points at a running webhook and ModelDeployment MD is Ready in NS

In-process half: the real HTTPS server (`e2e.webhook.harness`, a child process) with
`--models` ModelDeployments in its index; an open-loop generator sends pod
AdmissionReviews of varied shapes at `--rate` per second over kept-alive connections
(as the API server does). Printed: p50/p99/max of the time recorded inside the webhook
(from request to answer, the figure the 5 ms goal is about) and of the round trip.

API-server half (`bench_through_apiserver`): creates pods at `--rate` per second with
`dryRun=All` (webhooks with sideEffects None are still called; nothing is stored) and
prints the create round trip of labelled pods next to unlabelled ones, plus the API
server's own `apiserver_admission_webhook_admission_duration_seconds` for our webhook.
On the local cluster it runs against the real operator (`modelprefetch run`, its
ModelDeployment Ready on two fake nodes) and adds the operator's own
`modelprefetch_webhook_request_duration_seconds` (bucket bounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (`make bench`): make `e2e` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp
from e2e.webhook.apiclient import (
    histogram_quantile,
    kube_session,
    operator_histogram,
    webhook_histogram,
)
from e2e.webhook.harness import start_webhook_process

DIGEST = "sha256:" + "cd" * 32


def quantiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": ordered[-1] * 1000,
    }


def model_deployment(i: int, namespace: str = "bench") -> dict[str, Any]:
    name = f"model-{i}"
    ref = f"registry.local/models/{name}@{DIGEST}"
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "model": {
                "reference": f"registry.local/models/{name}:v1",
                "pullSecrets": [{"name": "regcred"}],
            },
            "mount": {"scheduling": "Required" if i % 2 else "Preferred"},
        },
        "status": {
            "resolved": {
                "reference": ref,
                "digest": DIGEST,
                "shortDigest": "cdcd",
                "kind": "OCIImage",
                "format": "gguf",
                "mountedReference": ref,
                "mounts": [
                    {
                        "reference": ref,
                        "digest": DIGEST,
                        "ready": 3,
                        "nodeLabel": f"warm.bench/{i}",
                        "current": True,
                    }
                ],
            },
            "nodes": {"ready": 3},
        },
    }


def pod_review(i: int, models: int) -> bytes:
    """A pod AdmissionReview: 1-3 containers, maybe an init container, volumes, affinity."""
    containers = [
        {
            "name": f"c{j}",
            "image": "busybox",
            "env": [{"name": "X", "value": "1"}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
        }
        for j in range(1 + i % 3)
    ]
    spec: dict[str, Any] = {
        "containers": containers,
        "volumes": [{"name": "cache", "emptyDir": {}}],
    }
    if i % 4 == 0:
        spec["initContainers"] = [{"name": "init", "image": "busybox"}]
    if i % 5 == 0:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
                    ]
                }
            }
        }
    labels = {"app": "bench", "modelprefetch.io/model": f"model-{i % models}"}
    annotations = {"modelprefetch.io/models": f"model-{(i + 1) % models}"} if i % 7 == 0 else {}
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"uid-{i}",
            "operation": "CREATE",
            "namespace": "bench",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": "bench-",
                    "labels": labels,
                    "annotations": annotations,
                },
                "spec": spec,
            },
        },
    }
    return json.dumps(review).encode()


async def _open_loop(send: Any, rate: float, total: int) -> list[float]:
    """Start request i at t0 + i/rate whatever the previous ones do; return round trips."""
    round_trips: list[float] = []

    async def one(i: int) -> None:
        started = time.perf_counter()
        await send(i)
        round_trips.append(time.perf_counter() - started)

    t0 = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    print(f"  sent {total} in {elapsed:.1f} s = {total / elapsed:.0f}/s")
    return round_trips


async def bench_in_process(
    rate: float = 200, seconds: float = 10, models: int = 200
) -> dict[str, Any]:
    """Latency inside the webhook and round trip through its HTTPS server on 127.0.0.1."""
    server = start_webhook_process()
    try:
        server.load([model_deployment(i) for i in range(models)])
        total = int(rate * seconds)
        bodies = [pod_review(i, models) for i in range(total)]
        ctx = ssl.create_default_context(cadata=server.ca_pem.decode())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, ssl=ctx)) as http:
            decisions: dict[str, int] = {}

            async def send(i: int) -> None:
                async with http.post(
                    server.url + "/mutate-pods",
                    data=bodies[i],
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    answer = await resp.json()
                key = (
                    "patched"
                    if answer["response"].get("patch")
                    else str(answer["response"]["allowed"])
                )
                decisions[key] = decisions.get(key, 0) + 1

            await _open_loop(send, rate / 4, min(total, 200))  # warm up connections and caches
            server.latencies()
            round_trips = await _open_loop(send, rate, total)
        inside = [r[2] for r in server.latencies() if r[0] == "mutate-pods"]
        return {
            "rate": rate,
            "decisions": decisions,
            "inside": quantiles(inside),
            "round_trip": quantiles(round_trips),
        }
    finally:
        server.stop()


async def bench_through_apiserver(
    kubeconfig: str | Path,
    namespace: str,
    model: str,
    *,
    rate: float = 100,
    count: int = 1000,
    webhook: str = "pods.modelprefetch.io",
    dry_run: bool = True,
) -> dict[str, Any]:
    """Create `count` pods at `rate`/s through the API server; labelled vs unlabelled latency.

    Needs: the webhook configuration installed and pointing at a running webhook, and
    ModelDeployment `model` Ready in `namespace`.
    """
    server, ctx, headers = kube_session(Path(kubeconfig))
    url = f"{server}/api/v1/namespaces/{namespace}/pods" + ("?dryRun=All" if dry_run else "")
    results: dict[str, Any] = {"rate": rate}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64, ssl=ctx), headers=headers
    ) as http:

        async def metrics() -> str:
            async with http.get(f"{server}/metrics") as resp:
                return await resp.text()

        for label in ("unlabelled", "labelled"):
            labels = {"app": "bench"} | (
                {"modelprefetch.io/model": model} if label == "labelled" else {}
            )
            statuses: dict[int, int] = {}

            async def send(
                i: int, labels: dict[str, str] = labels, statuses: dict[int, int] = statuses
            ) -> None:
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"generateName": "bench-", "labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                }
                async with http.post(url, json=pod) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1

            before = webhook_histogram(await metrics(), webhook)
            round_trips = await _open_loop(send, rate, count)
            after = webhook_histogram(await metrics(), webhook)
            results[label] = {"statuses": statuses, "round_trip": quantiles(round_trips)}
            if label == "labelled":
                results["apiserver_webhook_ms"] = {
                    "p50_le": histogram_quantile(before, after, 0.5),
                    "p99_le": histogram_quantile(before, after, 0.99),
                }
    return results


def bench_on_local_cluster(rate: float, count: int) -> dict[str, Any]:
    """Start the local cluster, registries and the real operator (`modelprefetch run`), get a
    ModelDeployment Ready on two fake nodes, and run the API-server half against it."""
    from e2e.cluster.controlplane import LocalCluster
    from e2e.cluster.registries import Registries, start_registries
    from e2e.models import make_model_dir, push_model
    from e2e.operator_process import OperatorProcess
    from e2e.operator_tests.helpers import apply, make_pool, model_deployment, wait_ready
    from e2e.webhook.workloads import wait_ca_bundles

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    logdir = workdir / "logs"
    logdir.mkdir()
    cluster = LocalCluster(workdir=workdir / "cluster", logdir=logdir)
    registries: Registries | None = None
    operator: OperatorProcess | None = None
    try:
        cluster.start()
        registries = start_registries(workdir / "registries", logdir)
        operator = OperatorProcess(cluster=cluster, registries=registries, logdir=logdir)
        operator.install()
        operator.start()
        reference = f"{registries.distribution.host}/models/bench:v1"
        push_model(make_model_dir(workdir / "model", seed="bench"), reference)
        make_pool(cluster, ["bench-0", "bench-1"], "bench")
        cluster.kubectl("create", "namespace", "bench")
        wait_ca_bundles(cluster)
        apply(cluster, model_deployment("m", "bench", reference, "bench"))
        wait_ready(cluster, "bench", "m", "2/2")
        before = operator_histogram(operator.metrics())
        result = asyncio.run(
            bench_through_apiserver(cluster.kubeconfig, "bench", "m", rate=rate, count=count)
        )
        after = operator_histogram(operator.metrics())
        result["inside_webhook_ms"] = {
            "p50_le": histogram_quantile(before, after, 0.5),
            "p99_le": histogram_quantile(before, after, 0.99),
        }
        return result
    finally:
        if operator is not None:
            operator.stop()
        if registries is not None:
            registries.stop()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--model")
    parser.add_argument(
        "--no-cluster",
        action="store_true",
        help="skip the API-server half on a local cluster started for the benchmark",
    )
    args = parser.parse_args()
    result = asyncio.run(bench_in_process(args.rate, args.seconds, args.models))
    print(json.dumps({"in_process": result}, indent=2))
    count = int(args.rate * args.seconds)
    if not args.no_cluster and not args.kubeconfig:
        through_local = bench_on_local_cluster(args.rate, count)
        print(json.dumps({"through_apiserver": through_local}, indent=2))
    if args.kubeconfig:
        through = asyncio.run(
            bench_through_apiserver(
                args.kubeconfig,
                args.namespace,
                args.model,
                rate=args.rate,
                count=int(args.rate * args.seconds),
            )
        )
        print(json.dumps({"through_apiserver": through}, indent=2))
    inside = result["inside"]
    print(
        f"inside the webhook: p50 {inside['p50_ms']:.2f} ms, "
        f"p99 {inside['p99_ms']:.2f} ms (goal < 5)"
    )


if __name__ == "__main__":
    main()
