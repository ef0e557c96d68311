"""Cluster plumbing for the scale benchmark: an async API client on one kept-alive
session, fake nodes by the thousand, the operator's CPU and peak RSS from /proc, and the
bare DaemonSet the operator is compared with."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from e2e.cluster.controlplane import fake_node_manifest
from e2e.webhook.apiclient import kube_session

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
POOL_LABEL = "pool"  # what e2e.operator_tests.helpers.model_deployment selects on


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {text[:500]}")
        self.status = status


class Kube:
    """Just the calls the benchmark makes, as the cluster admin."""

    def __init__(self, kubeconfig: Path, connections: int = 32) -> None:
        self.server, self._ssl, self._headers = kube_session(kubeconfig)
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Kube:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl),
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=120),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        missing_ok: bool = False,
        exists_ok: bool = False,
    ) -> dict[str, Any]:
        """One request; the decoded answer ({} for 404 with missing_ok, 409 with exists_ok)."""
        assert self._http is not None, "use `async with Kube(...)`"
        data = None if body is None else json.dumps(body)
        async with self._http.request(
            method,
            self.server + path,
            data=data,
            headers={"Content-Type": content_type, "Accept": accept},
        ) as resp:
            text = await resp.text()
            if (resp.status == 404 and missing_ok) or (resp.status == 409 and exists_ok):
                return {}
            if resp.status >= 300:
                raise ApiError(method, path, resp.status, text)
            return dict(json.loads(text)) if text else {}

    async def items(self, path: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", path)).get("items") or [])

    async def count(self, path: str) -> int:
        """How many objects a list returns, fetching their metadata only."""
        return len((await self.call("GET", path, accept=METADATA_LIST)).get("items") or [])

    async def gather(self, calls: list[Any], concurrency: int = 24) -> None:
        """Run coroutines with at most `concurrency` in flight (the session's limit too)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(call: Any) -> None:
            async with gate:
                await call

        await asyncio.gather(*(one(c) for c in calls))


def fake_node(name: str, pool: str) -> dict[str, Any]:
    """A kwok node (as LocalCluster.add_fake_node registers one), in `pool`."""
    return fake_node_manifest(name, labels={POOL_LABEL: pool})


def node_is_ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


async def grow_pool(kube: Kube, pool: str, total: int, timeout: float = 1800) -> float:
    """Make `pool` hold `total` Ready fake nodes `<pool>-00000`...; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    names = [f"{pool}-{i:05d}" for i in range(total)]
    await kube.gather(
        [kube.call("POST", "/api/v1/nodes", fake_node(n, pool), exists_ok=True) for n in names]
    )
    while True:
        nodes = await kube.items(f"/api/v1/nodes?labelSelector={POOL_LABEL}%3D{pool}")
        ready = sum(node_is_ready(n) for n in nodes)
        if ready >= total:
            return loop.time() - started
        if loop.time() - started > timeout:
            raise TimeoutError(f"{ready}/{total} nodes of pool {pool} Ready after {timeout:.0f}s")
        await asyncio.sleep(2)


def cpu_seconds_from_stat(stat: str, ticks_per_second: int) -> float:
    """utime + stime from the text of /proc/PID/stat (the name may contain spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def kib_from_status(status: str, key: str) -> int:
    """A `Key:   1234 kB` line of /proc/PID/status, in KiB."""
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc status")


@dataclass
class ProcessMeter:
    """CPU seconds and peak RSS of one process (the operator), per measuring window."""

    pid: int

    def _read(self, name: str) -> str:
        return Path(f"/proc/{self.pid}/{name}").read_text()

    def cpu_seconds(self) -> float:
        return cpu_seconds_from_stat(self._read("stat"), os.sysconf("SC_CLK_TCK"))

    def reset_peak(self) -> None:
        """Start a new peak-RSS window (proc(5): writing 5 to clear_refs resets VmHWM)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss_mib(self) -> float:
        return round(kib_from_status(self._read("status"), "VmHWM") / 1024, 1)


def bare_daemonset(
    name: str, namespace: str, pool: str, image_volume: str, image: str
) -> dict[str, Any]:
    """The baseline: a DaemonSet whose pod mounts the same image volume on the same nodes,
    with nothing else (no waves, no labels, no verification)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {POOL_LABEL: pool},
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "holder",
                            "image": image,
                            "command": ["sleep", "infinity"],
                            "volumeMounts": [
                                {"name": "model", "mountPath": "/model", "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "model",
                            "image": {"reference": image_volume, "pullPolicy": "IfNotPresent"},
                        }
                    ],
                },
            },
        },
    }


def json_size(obj: Any) -> int:
    """Bytes of `obj` as compact JSON, without managedFields (what a client would send)."""
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        obj = {
            **obj,
            "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"},
        }
    return len(json.dumps(obj, separators=(",", ":")))


@dataclass(frozen=True)
class ScaleTuning:
    """What the local control plane may need to hold thousands of kwok nodes on 2 cores
    (`bench_scale.py --tuning`; off by default).

    Not validated: the one tuned run at 1,000 nodes (on a machine at load 20-45) stalled
    with 684/1,000 baseline pods Pending for over 5 minutes while kwok used ~9% of a
    core and logged no warning; which setting caused it (the KwokConfiguration document
    is the first suspect: it may replace kwok's defaults rather than add to them) was not
    isolated. The README's figures use the stock settings with a longer grace period.

    Each setting and why (measured failure modes, docs/bench/README section):
    - node heartbeats every 240-300 s instead of kwok's 15-40 s: a heartbeat is a full
      Node status patch that kwok sends through the same workers as the pod transitions.
      Measured at 1,000 nodes on the shared machine (load average ~40) with 60-120 s
      heartbeats: kwok managed ~14 patches/s in all, ~11/s of them heartbeats, and the
      baseline DaemonSet had 255/1,000 pods Ready after 7 minutes, 714 waiting in
      ContainerCreating for kwok. Real kubelets report an unchanged status every 5 min
      (nodeStatusReportFrequency), so this is closer to production, not further.
    - node-monitor grace period `grace_seconds` (> the heartbeat period plus its lag
      under load): late kwok heartbeats must not turn nodes NotReady (their pods are
      then never Ready).
    - kwok -v=WARN: at INFO it logs one line per patch (8,400 lines in 10 minutes).
    - apiserver --max-requests-inflight 1600 / --max-mutating-requests-inflight 800 (4x
      the defaults): the DaemonSet controller, the scheduler and kwok write thousands of
      pods at once; below that they get 429s and retry with backoff, and the case measures
      the retries, not the work.
    - controller-manager and scheduler --kube-api-qps 300 / burst 600 (defaults 20/30 and
      50/100): client-side throttling of the DaemonSet controller would otherwise bound
      both the baseline and ours at 20 pod creations per second.
    - kwok podPlayStageParallelism / nodePlayStageParallelism 16: more pod transitions in
      flight, so kwok's own workers do not bound the time to Ready.
    - etcd --quota-backend-bytes 8 GiB (default 2 GiB): 5,000 nodes x heartbeats between
      the apiserver's 5-minute compactions otherwise approach the quota (etcd then
      refuses every write with `mvcc: database space exceeded`).
    """

    grace_seconds: int
    heartbeat_ms: tuple[int, int] = (240_000, 60_000)
    extra_args: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("etcd", ("--quota-backend-bytes", str(8 << 30))),
        (
            "kube-apiserver",
            ("--max-requests-inflight=1600", "--max-mutating-requests-inflight=800"),
        ),
        ("kube-controller-manager", ("--kube-api-qps=300", "--kube-api-burst=600")),
        ("kube-scheduler", ("--kube-api-qps=300", "--kube-api-burst=600")),
        ("kwok", ("-v=WARN",)),
    )
    kwok_options: tuple[tuple[str, int], ...] = (
        ("podPlayStageParallelism", 16),
        ("nodePlayStageParallelism", 16),
    )

    def cluster_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for LocalCluster."""
        return {
            "node_monitor_grace_seconds": self.grace_seconds,
            "node_heartbeat_ms": self.heartbeat_ms,
            "extra_args": {name: list(flags) for name, flags in self.extra_args},
            "kwok_options": dict(self.kwok_options),
        }

    def to_json(self) -> dict[str, Any]:
        return self.cluster_kwargs()
