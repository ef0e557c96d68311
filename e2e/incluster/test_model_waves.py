"""A >= 256 MiB model packed with our packer, prefetched by the in-cluster operator onto
both real nodes with maxConcurrentNodes 1: Ready 2/2, the waves observed (a timeline of
the holder pods, never two pulling at once), every holder pod running the built image
and verifying every file, and a labelled workload on each node reading every file with
the right sha256."""

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

from e2e.cluster import images
from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.realnode import LABEL_KEY, TOLERATION
from e2e.cluster.registries import Registries
from e2e.incluster.helm import Helm, diagnostics
from e2e.models import push_model
from e2e.operator_tests.helpers import apply, get_md, wait_for, wait_ready
from e2e.realnode.helpers import (
    CHECKSUM_SCRIPT,
    DONE,
    MiB,
    checksums,
    make_big_model,
    parse_checksums,
)

MODEL_BYTES = 258 * MiB
# Pack and push, then two waves of pulling 258 MiB on a shared 2-core machine.
pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1500)]
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


@pytest.fixture(scope="module")
def prefetched(
    installed: Helm,
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
        "metadata": {"name": "big", "namespace": namespace},
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
            wait_ready(cluster, namespace, "big", "2/2", timeout=900)
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


def test_ready_on_both_real_nodes_in_waves(
    prefetched: Prefetched, incluster_nodes: RealNodes
) -> None:
    seen = prefetched.timeline.seen
    print(
        f"\nmodel {prefetched.total / MiB:.0f} MiB Ready 2/2 in {prefetched.ready_seconds:.0f}s;"
        f" holders: {seen}"
    )
    assert prefetched.total >= 256 * MiB
    nodes = {n.name for n in incluster_nodes.nodes}
    assert {e["node"] for e in seen.values()} == nodes, seen
    assert prefetched.timeline.max_pulling <= 1, f"two holders pulling at once: {seen}"
    first, second = sorted(seen.values(), key=lambda e: e["first"])[:2]
    assert first["ready"] is not None and second["first"] >= first["ready"] - 0.5, (
        f"the second wave started before the first holder was Ready: {seen}"
    )


def test_holders_run_the_built_image_and_verify_every_file(
    prefetched: Prefetched,
    incluster_nodes: RealNodes,
    registries: Registries,
    project_image: ProjectImage,
) -> None:
    cluster = incluster_nodes.cluster
    out = cluster.kubectl(
        "get", "pods", "-n", prefetched.namespace, "-l", HOLDER_COMPONENT, "-o", "json"
    )
    pods = json.loads(out.stdout)["items"]
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    built = f"{registries.crane.host}/{REPOSITORY}@{project_image.digest}"
    by_name = {n.name: n for n in incluster_nodes.nodes}
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == built
        node = by_name[pod["spec"]["nodeName"]]
        log = node.container_log(prefetched.namespace, pod["metadata"]["name"], "holder")
        want = f"verified: {prefetched.files} files, {prefetched.total} bytes; holding"
        assert want in log, log[-2000:]


def _reader(namespace: str, node: str, busybox: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"reader-{node}",
            "namespace": namespace,
            "labels": {"modelprefetch.io/model": "big"},
        },
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [TOLERATION],
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": busybox,
                    "command": [
                        "sh",
                        "-c",
                        f"{CHECKSUM_SCRIPT}; exec sleep 3600",
                        "sh",
                        "/models/big",
                    ],
                }
            ],
        },
    }


def test_workload_on_each_node_reads_every_file(
    prefetched: Prefetched, incluster_nodes: RealNodes, registries: Registries
) -> None:
    cluster = incluster_nodes.cluster
    busybox = f"{registries.crane.host}/e2e/busybox:latest"
    images.push(images.busybox_image(), busybox)
    for node in incluster_nodes.nodes:
        created = cluster.kubectl(
            "create", "-o", "json", "-f", "-",
            input=json.dumps(_reader(prefetched.namespace, node.name, busybox)),
        )  # fmt: skip
        pod = json.loads(created.stdout)
        assert any("image" in v for v in pod["spec"]["volumes"]), "the webhook did not mutate"
    for node in incluster_nodes.nodes:
        name = f"reader-{node.name}"

        def log(node: Any = node, name: str = name) -> str | None:
            text = str(node.container_log(prefetched.namespace, name, "app"))
            return text if DONE in text else None

        try:
            text = wait_for(f"{name} checksums", log, timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnostics(cluster)}") from None
        assert parse_checksums(text) == prefetched.expected, text[-2000:]
    md = get_md(cluster, prefetched.namespace, "big")
    assert md["status"]["nodes"]["summary"] == "2/2"
