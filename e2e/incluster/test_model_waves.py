"""A >= 256 MiB model packed with our packer, prefetched by the in-cluster operator onto
both real nodes with maxConcurrentNodes 1: Ready 2/2, the waves observed (a timeline of
the holder pods, never two pulling at once), every holder pod running the built image
and verifying every file, and a labelled workload on each node reading every file with
the right sha256."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e.cluster import images
from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.realnode import TOLERATION
from e2e.cluster.registries import Registries
from e2e.incluster.helm import diagnostics
from e2e.incluster.prefetch import HOLDER_COMPONENT, Prefetched
from e2e.operator_tests.helpers import get_md, wait_for
from e2e.realnode.helpers import (
    CHECKSUM_SCRIPT,
    DONE,
    MiB,
    parse_checksums,
)

# Pack and push, then two waves of pulling 258 MiB on a shared 2-core machine.
pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1500)]


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
