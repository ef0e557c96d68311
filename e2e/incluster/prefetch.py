"""The suite's real model: a >= 256 MiB model packed with our packer and prefetched by the
in-cluster operator onto both real nodes with maxConcurrentNodes 1, with a timeline of its
holder pods. Package-scoped (conftest.py `prefetched`): test_model_waves.py checks the
waves and the files, the failover tests check that a new leader keeps its one DaemonSet.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.nodes import RealNodes
from e2e.cluster.realnode import LABEL_KEY, TOLERATION
from e2e.cluster.registries import Registries
from e2e.incluster.helm import diagnostics
from e2e.models import push_model
from e2e.operator_tests.helpers import apply, wait_ready
from e2e.realnode.helpers import MiB, checksums, make_big_model

MODEL_BYTES = 258 * MiB
MODEL_NAME = "big"
HOLDER_COMPONENT = "app.kubernetes.io/component=prefetch-holder"


@dataclass
class HolderTimeline:
    """Holder pods sampled every 0.5 s: per pod, node and when it was first seen / Ready."""

    kubectl: Any
    namespace: str
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_pulling: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            out = self.kubectl(
                "get", "pods", "-n", self.namespace, "-l", HOLDER_COMPONENT, "-o", "json",
                check=False,
            )  # fmt: skip
            if out.returncode == 0:
                now = time.monotonic()
                pulling = 0
                for pod in json.loads(out.stdout)["items"]:
                    entry = self.seen.setdefault(
                        pod["metadata"]["name"],
                        {"node": pod["spec"].get("nodeName"), "first": now, "ready": None},
                    )
                    entry["node"] = entry["node"] or pod["spec"].get("nodeName")
                    conditions = {
                        c["type"]: c["status"] for c in pod["status"].get("conditions") or []
                    }
                    if conditions.get("Ready") == "True":
                        entry["ready"] = entry["ready"] or now
                    else:
                        pulling += 1
                self.max_pulling = max(self.max_pulling, pulling)
            self.stop.wait(0.5)


@dataclass
class Prefetched:
    namespace: str
    expected: dict[str, str]
    files: int
    total: int
    timeline: HolderTimeline
    ready_seconds: float


def prefetch_big_model(
    incluster_nodes: RealNodes,
    registries: Registries,
    pod_registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prefetched]:
    cluster = incluster_nodes.cluster
    namespace = f"m-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    root: Path = make_big_model(tmp_path_factory.mktemp("incluster-model"), MODEL_BYTES)
    push_model(root, f"{registries.crane.host}/models/big:{namespace}")
    md = {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": MODEL_NAME, "namespace": namespace},
        "spec": {
            # The same registry, as the operator pods reach it (see pod_registry).
            "model": {"reference": f"{pod_registry}/models/big:{namespace}"},
            "nodes": {"nodeSelector": {LABEL_KEY: "true"}, "tolerations": [TOLERATION]},
            "prefetch": {"maxConcurrentNodes": 1},
            "mount": {"path": "/models/big"},
        },
    }
    timeline = HolderTimeline(cluster.kubectl, namespace)
    sampler = threading.Thread(target=timeline.run, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        apply(cluster, md)
        try:
            wait_ready(cluster, namespace, MODEL_NAME, "2/2", timeout=900)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnostics(cluster)}") from None
        ready_seconds = time.monotonic() - started
        time.sleep(1)  # one more sample with both Ready
        timeline.stop.set()
        sampler.join(timeout=10)
        files = [p for p in root.rglob("*") if p.is_file()]
        yield Prefetched(
            namespace,
            checksums(root),
            len(files),
            sum(p.stat().st_size for p in files),
            timeline,
            ready_seconds,
        )
    finally:
        timeline.stop.set()
