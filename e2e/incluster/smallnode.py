"""A real node whose image filesystem is small, for the in-cluster capacity tests: the
node itself (containerd's root on a loop-mounted ext4), the ModelDeployments that target
it, and the views the tests take of it (kubelet Summary, filesystem growth, labels,
evictions)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from e2e.cluster import images
from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.realnode import LABEL_KEY, TOLERATION, ImageGC, RealNode
from e2e.cluster.registries import Registries
from e2e.operator_tests.helpers import wait_for
from e2e.realnode.helpers import RealNodeEnv, mount_pod, wait_terminated

MiB = 1024 * 1024
PREFETCH = "prefetch.modelprefetch.io/"
# The kubelet's own default image GC on this node: a pull over 85% would delete images.
KUBELET_DEFAULT_GC = ImageGC(high_percent=85, low_percent=80, minimum_age="2m")


@contextmanager
def small_node(
    nodes: RealNodes,
    pod_registry: str,
    registries: Registries,
    project_image: ProjectImage,
    image_fs_bytes: int,
    image_gc: ImageGC = KUBELET_DEFAULT_GC,
) -> Iterator[RealNodeEnv]:
    """One more real node with an `image_fs_bytes` image filesystem, labelled for the
    calling module only; removed after."""
    label = f"cap-{uuid.uuid4().hex[:4]}"
    node = nodes.add(
        label,  # short: containerd's socket path under the node's workdir must stay < 104
        label_value=label,
        image_fs_bytes=image_fs_bytes,
        image_gc=image_gc,
    )
    try:
        node.trust_plain_http([pod_registry])  # as the pod_registry fixture does for the others
        busybox = f"{registries.crane.host}/e2e/busybox:latest"
        images.push(images.busybox_image(), busybox)
        holder = f"{registries.crane.host}/{REPOSITORY}@{project_image.digest}"
        yield RealNodeEnv(nodes.cluster, registries, node, busybox, holder, 0.0)
    finally:
        nodes.remove(node)


@contextmanager
def fresh_namespace(env: RealNodeEnv) -> Iterator[str]:
    name = f"rn-cap-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", name)
    wait_for(  # pods are refused until the namespace's default ServiceAccount exists
        "default ServiceAccount",
        lambda: (
            env.cluster.kubectl(
                "get", "serviceaccount", "default", "-n", name, check=False
            ).returncode
            == 0
        ),
    )
    try:
        yield name
    finally:
        env.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def model_deployment(name: str, namespace: str, reference: str, node: RealNode) -> dict[str, Any]:
    return {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"reference": reference},
            "nodes": {"nodeSelector": {LABEL_KEY: node.label_value}, "tolerations": [TOLERATION]},
            "mount": {"path": f"/models/{name}"},
        },
    }


def summary_fs(env: RealNodeEnv) -> dict[str, int]:
    """The kubelet's own view of its image filesystem (Summary API, read as admin)."""
    raw = env.cluster.kubectl(
        "get", "--raw", f"/api/v1/nodes/{env.node.name}/proxy/stats/summary"
    ).stdout
    fs = json.loads(raw)["node"]["runtime"]["imageFs"]
    return {"capacity": int(fs["capacityBytes"]), "available": int(fs["availableBytes"])}


def warm_up(env: RealNodeEnv, namespace: str) -> None:
    """Pull the holder and busybox images first, so later growth is the models' alone."""
    pod = mount_pod(env, namespace, "warm", env.holder, image=env.holder, command=["true"])
    pod["spec"]["containers"][0]["command"] = ["modelprefetch", "--help"]
    pod["spec"]["initContainers"] = [{"name": "b", "image": env.busybox, "command": ["true"]}]
    pod["spec"]["volumes"] = []
    pod["spec"]["containers"][0]["volumeMounts"] = []
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    wait_terminated(env, namespace, "warm", 300)


def settled_used(env: RealNodeEnv) -> int:
    """Used bytes once two reads a second apart agree (writes flushed)."""
    last = -1
    for _ in range(20):
        used = env.node.image_fs_used()
        if used == last:
            return used
        last = used
        time.sleep(1)
    return last


def node_prefetch_keys(env: RealNodeEnv) -> list[str]:
    out = env.cluster.kubectl("get", "node", env.node.name, "-o", "json").stdout
    return [k for k in json.loads(out)["metadata"].get("labels") or {} if k.startswith(PREFETCH)]


def evicted(env: RealNodeEnv) -> list[str]:
    out = env.cluster.kubectl(
        "get", "pods", "-A", "--field-selector", f"spec.nodeName={env.node.name}", "-o", "json"
    ).stdout
    return [
        p["metadata"]["name"]
        for p in json.loads(out)["items"]
        if (p.get("status") or {}).get("reason") == "Evicted"
    ]


def node_conditions(env: RealNodeEnv) -> dict[str, str]:
    out = env.cluster.kubectl("get", "node", env.node.name, "-o", "json").stdout
    return {c["type"]: c["status"] for c in json.loads(out)["status"]["conditions"]}
