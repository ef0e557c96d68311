"""The cases of the scale benchmark (see bench_scale.py): each creates its objects in a
fresh namespace, times them to Ready, reads the figures, and deletes everything."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from e2e.bench.scale_audit import AuditLog, summarize
from e2e.bench.scale_cluster import Kube, ProcessMeter, bare_daemonset, json_size
from e2e.bench.scale_report import DS_CONTROLLER, OPERATOR, CaseResult
from e2e.operator_process import HOLDER_IMAGE, NAMESPACE, RELEASE
from e2e.operator_tests.helpers import model_deployment

from modelprefetch.core.labels import warm_key_for
from modelprefetch.oci import ensure_derived_image, resolve
from modelprefetch.oci.client import RegistryClient

POOL = "scale"
AUDITED = {
    f"system:serviceaccount:{NAMESPACE}:{RELEASE}": OPERATOR,
    "system:serviceaccount:kube-system:daemon-set-controller": DS_CONTROLLER,
}
MDS = "/apis/modelprefetch.io/v1alpha1/namespaces/{ns}/modeldeployments"
DAEMONSETS = "/apis/apps/v1/namespaces/{ns}/daemonsets"
NODE_LABEL_ANNOTATION = "modelprefetch.io/node-label"  # on each holder DaemonSet
POLL = 0.5


async def mountable(reference: str) -> str:
    """The image the operator mounts for `reference` (derived and pushed as it would)."""
    async with RegistryClient(plain_http=True) as client:
        return await ensure_derived_image(client, await resolve(client, reference))


def _ready(md: dict[str, Any], nodes: int) -> bool:
    status = md.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ready and (status.get("nodes") or {}).get("summary") == f"{nodes}/{nodes}"


@dataclass
class Bench:
    kube: Kube
    meter: ProcessMeter
    audit: AuditLog
    references: list[str]
    volume: str  # the mountable image of references[0]: the baseline mounts it too
    timeout: float

    # Windows -------------------------------------------------------------------------

    def _open(self) -> float:
        self.audit.skip()
        self.meter.reset_peak()
        return self.meter.cpu_seconds()

    def _close(self, case: CaseResult, cpu_before: float) -> None:
        case.cpu_s = round(self.meter.cpu_seconds() - cpu_before, 2)
        case.peak_rss_mib = self.meter.peak_rss_mib()
        case.requests = summarize(self.audit.take(), AUDITED)
        case.objects["loadavg_1m"] = round(os.getloadavg()[0], 2)

    async def _until(self, check: Callable[[], Awaitable[bool]], started: float) -> bool:
        """Poll `check` until true (True) or the case timeout (False)."""
        loop = asyncio.get_running_loop()
        while loop.time() - started < self.timeout:
            if await check():
                return True
            await asyncio.sleep(POLL)
        return False

    async def _namespace(self, name: str) -> None:
        await self.kube.call(
            "POST", "/api/v1/namespaces", {"metadata": {"name": name}}, exists_ok=True
        )

    async def _delete_namespace(self, name: str) -> None:
        await self.kube.call("DELETE", f"/api/v1/namespaces/{name}", missing_ok=True)

        async def gone() -> bool:
            return not await self.kube.call("GET", f"/api/v1/namespaces/{name}", missing_ok=True)

        if not await self._until(gone, asyncio.get_running_loop().time()):
            raise TimeoutError(f"namespace {name} not deleted in {self.timeout:.0f}s")

    async def _nodes_with(self, label_key: str, limit: int = 0) -> int:
        query = f"labelSelector={label_key}" + (f"&limit={limit}" if limit else "")
        return await self.kube.count(f"/api/v1/nodes?{query}")

    # Cases ---------------------------------------------------------------------------

    async def idle(self, nodes: int, seconds: float) -> CaseResult:
        """No ModelDeployment: the operator watching N nodes and their heartbeats."""
        case = CaseResult(case="idle", nodes=nodes, models=0)
        cpu = self._open()
        await asyncio.sleep(seconds)
        self._close(case, cpu)
        case.objects["window_s"] = seconds
        case.objects["cores"] = round(case.cpu_s / seconds, 3)
        return case

    async def baseline(self, nodes: int) -> CaseResult:
        case = CaseResult(case="baseline", nodes=nodes)
        ns = f"base-{nodes}"
        await self._namespace(ns)
        path = DAEMONSETS.format(ns=ns)
        body = bare_daemonset("bare", ns, POOL, self.volume, HOLDER_IMAGE)
        loop = asyncio.get_running_loop()
        cpu = self._open()
        started = loop.time()
        await self.kube.call("POST", path, body)
        seen: dict[str, Any] = {}

        async def ready() -> bool:
            seen.update(await self.kube.call("GET", f"{path}/bare"))
            status = seen.get("status") or {}
            return bool(status.get("desiredNumberScheduled") == status.get("numberReady") == nodes)

        case.timed_out = not await self._until(ready, started)
        if not case.timed_out:
            case.ready_s = case.pods_ready_s = round(loop.time() - started, 1)
        self._close(case, cpu)
        case.objects |= {
            "daemonsets": 1,
            "daemonset_bytes": json_size(seen),
            "status_bytes": json_size(seen.get("status") or {}),
            "node_labels": 0,
        }
        cleanup = loop.time()
        await self._delete_namespace(ns)
        case.cleanup_s = round(loop.time() - cleanup, 1)
        case.cleanup_requests = summarize(self.audit.take(), AUDITED)
        return case

    async def ours(self, nodes: int, max_concurrent: str, count: int) -> CaseResult:
        """`count` ModelDeployments (distinct models) on the N nodes, all timed together."""
        label = f"ours {max_concurrent}" if count == 1 else f"{count} models"
        case = CaseResult(case=label, nodes=nodes, models=count)
        ns = f"ours-{max_concurrent.rstrip('%')}-{count}-{nodes}"
        await self._namespace(ns)
        names = [f"m{i}" for i in range(count)]
        prefetch = {"maxConcurrentNodes": max_concurrent}
        bodies = [
            model_deployment(name, ns, self.references[i], POOL, prefetch=prefetch)
            for i, name in enumerate(names)
        ]
        loop = asyncio.get_running_loop()
        cpu = self._open()
        started = loop.time()
        await self.kube.gather([self.kube.call("POST", MDS.format(ns=ns), b) for b in bodies])
        mds: list[dict[str, Any]] = []
        holders: list[dict[str, Any]] = []

        async def ready() -> bool:
            mds[:] = await self.kube.items(MDS.format(ns=ns))
            holders[:] = await self.kube.items(DAEMONSETS.format(ns=ns))
            now = round(loop.time() - started, 1)
            if case.first_progress_s is None and any(
                (md.get("status") or {}).get("nodes") for md in mds
            ):
                case.first_progress_s = now
            pods = sum(int((d.get("status") or {}).get("numberReady") or 0) for d in holders)
            if case.pods_ready_s is None and pods >= nodes * count:
                case.pods_ready_s = now
            return len(mds) == count and all(_ready(md, nodes) for md in mds)

        case.timed_out = not await self._until(ready, started)
        if not case.timed_out:
            case.ready_s = round(loop.time() - started, 1)
        self._close(case, cpu)
        label_keys = [
            key
            for d in holders
            if (key := (d["metadata"].get("annotations") or {}).get(NODE_LABEL_ANNOTATION))
        ]
        case.objects |= {
            "status_bytes": sum(json_size(md.get("status") or {}) for md in mds),
            "status_bytes_max": max((json_size(md.get("status") or {}) for md in mds), default=0),
            "daemonsets": len(holders),
            "daemonset_bytes": sum(json_size(d) for d in holders),
            "node_labels": sum(
                [await self._nodes_with(k) for k in label_keys]
                + [await self._nodes_with(warm_key_for(k)) for k in label_keys]
            ),
        }
        cleanup = loop.time()
        await self.kube.gather(
            [self.kube.call("DELETE", f"{MDS.format(ns=ns)}/{n}", missing_ok=True) for n in names]
        )

        async def cleaned() -> bool:
            left = await self.kube.items(MDS.format(ns=ns))
            labels = [await self._nodes_with(k, limit=1) for k in label_keys]
            labels += [await self._nodes_with(warm_key_for(k), limit=1) for k in label_keys]
            return not left and not any(labels)

        if not await self._until(cleaned, cleanup):
            case.objects["cleanup_timed_out"] = True
        await self._delete_namespace(ns)
        case.cleanup_s = round(loop.time() - cleanup, 1)
        case.cleanup_requests = summarize(self.audit.take(), AUDITED)
        return case
