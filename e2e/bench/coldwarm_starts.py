"""Pod starts on a real node for bench_coldwarm.py: the pods, one timed start, and the
node's image made cold again between cold starts."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import RealNode
from e2e.realnode.helpers import on_real_node

NAMESPACE = "bench-coldwarm"


def workload_pod(name: str, busybox: str, *, model: str | None, volume_ref: str | None) -> Any:
    """The same workload pod in every kind of start: busybox sleeping. `model` adds the
    label the webhook answers with the prefetched image volume; `volume_ref` mounts an
    image volume directly (the cold start); neither: the model-less baseline."""
    container: dict[str, Any] = {"name": "app", "image": busybox, "command": ["sleep", "3600"]}
    spec: dict[str, Any] = {"containers": [container]}
    if volume_ref is not None:
        spec["volumes"] = [
            {"name": "model", "image": {"reference": volume_ref, "pullPolicy": "IfNotPresent"}}
        ]
        container["volumeMounts"] = [{"name": "model", "mountPath": "/model", "readOnly": True}]
    labels = {"app": "bench"} | ({"modelprefetch.io/model": model} if model else {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": on_real_node(spec),
    }


def start(
    cluster: LocalCluster, node: RealNode, pod: dict[str, Any], *, mounts: list[str] | None = None
) -> tuple[float, int]:
    """Create `pod`, wait for Running; (seconds, bytes added to containerd's content
    store). Then delete it and wait until it is gone, so starts never overlap. With
    `mounts`: the pod must have exactly these image volumes (checked after the timing)."""
    before = node.content_bytes()
    name = pod["metadata"]["name"]
    started = time.monotonic()
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    running = "--for=jsonpath={.status.phase}=Running"
    cluster.kubectl("wait", "pod", name, "-n", NAMESPACE, running, "--timeout=900s", timeout=960)
    seconds = time.monotonic() - started
    transferred = node.content_bytes() - before
    got = mounted_volumes(cluster, name)
    if mounts is not None and got != mounts:
        raise RuntimeError(f"pod {name} mounts {got}, expected {mounts}")
    cluster.kubectl("delete", "pod", name, "-n", NAMESPACE, "--wait=true", "--timeout=120s")
    return seconds, transferred


def mounted_volumes(cluster: LocalCluster, name: str) -> list[str]:
    out = cluster.kubectl("get", "pod", name, "-n", NAMESPACE, "-o", "json").stdout
    return [
        v["image"]["reference"] for v in json.loads(out)["spec"].get("volumes", []) if "image" in v
    ]


@dataclass
class Series:
    """Seconds of one kind of start, with the bytes each transferred."""

    seconds: list[float] = field(default_factory=list)
    transferred: list[int] = field(default_factory=list)

    def add(self, measured: tuple[float, int]) -> None:
        self.seconds.append(measured[0])
        self.transferred.append(measured[1])

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": [round(s, 3) for s in self.seconds],
            "p50": round(self.p50, 3),
            "max": round(self.max, 3),
            "transferredMaxBytes": max(self.transferred),
            "transferredMinBytes": min(self.transferred),
        }


def paired_overhead(warm: Series, baseline: Series) -> list[float]:
    """warm - model-less of each rep (they alternate, so a rep shares the machine's load)."""
    return [w - b for w, b in zip(warm.seconds, baseline.seconds, strict=True)]
