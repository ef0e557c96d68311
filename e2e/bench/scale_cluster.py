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
