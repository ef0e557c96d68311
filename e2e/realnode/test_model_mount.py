"""The proof on a real kubelet + runtime: prefetch, verify, then a workload reads the model.

One 256+ MiB model (several files, nested paths) is packed with our packer, pushed, and
targeted at the real node by a ModelDeployment; the operator decides what the node's
runtime mounts as files (containerd: the derived OCI image; CRI-O: the ModelPack itself,
which is why the model is packed with raw layers where the observed facts say the
runtime mounts those natively), the holder DaemonSet pulls and verifies it, and a
labelled Deployment gets the webhook's image volume. MODELPREFETCH_NODE_RUNTIME picks
the runtime (e2e/realnode/runtimes.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.cluster.realnode import LABEL_KEY, TOLERATION
from e2e.models import push_model
from e2e.operator_tests.helpers import apply, get_md, wait_for, wait_ready
from e2e.realnode.helpers import (
    CHECKSUM_SCRIPT,
    DONE,
    MiB,
    RealNodeEnv,
    checksums,
    make_big_model,
    on_real_node,
    parse_checksums,
    wait_log,
)
from modelprefetch.oci.artifact import Runtime
from modelprefetch.oci.compat import judge
from modelprefetch.oci.mount import parse_runtime

MODEL_BYTES = 258 * MiB
HOLDER_COMPONENT = "app.kubernetes.io/component=prefetch-holder"

pytestmark = pytest.mark.realnode


@dataclass
class Prefetched:
    namespace: str
    name: str
    expected: dict[str, str]  # "./path" -> sha256
    sizes: dict[str, int]
    holder_pod: dict[str, Any]
    holder_log: str


def model_deployment(name: str, namespace: str, reference: str) -> dict[str, Any]:
    """A ModelDeployment that targets exactly the real node."""
    return {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"reference": reference},
            "nodes": {"nodeSelector": {LABEL_KEY: "true"}, "tolerations": [TOLERATION]},
            "mount": {"path": f"/models/{name}"},
        },
    }


def holder_pods(env: RealNodeEnv, namespace: str) -> list[dict[str, Any]]:
    out = env.cluster.kubectl("get", "pods", "-n", namespace, "-l", HOLDER_COMPONENT, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def node_runtime(env: RealNodeEnv) -> Runtime:
    out = env.cluster.kubectl("get", "node", env.node.name, "-o", "json")
    return parse_runtime(json.loads(out.stdout)["status"]["nodeInfo"]["containerRuntimeVersion"])


def mounts_raw_natively(runtime: Runtime) -> bool:
    """The committed facts say this runtime mounts our raw ModelPacks as files."""
    return judge(runtime).outcome("modelpack-raw") == "files"


@pytest.fixture(scope="module")
def prefetched(
    real_node: RealNodeEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prefetched]:
    """The big model pushed, its ModelDeployment Ready 1/1 on the real node."""
    env = real_node
    namespace = f"rn-mount-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", namespace)
    root = make_big_model(tmp_path_factory.mktemp("bigmodel"), MODEL_BYTES)
    reference = f"{env.registries.crane.host}/models/big-{namespace}:v1"
    push_model(root, reference, raw=mounts_raw_natively(node_runtime(env)))
    try:
        apply(env.cluster, model_deployment("big", namespace, reference))
        wait_ready(env.cluster, namespace, "big", "1/1", timeout=600)
        files = [p for p in root.rglob("*") if p.is_file()]
        pods = holder_pods(env, namespace)
        assert len(pods) == 1, pods
        pod = pods[0]
        log = wait_log(env, namespace, pod["metadata"]["name"], "holder", "verified", 60)
        yield Prefetched(
            namespace=namespace,
            name="big",
            expected=checksums(root),
            sizes={f"./{p.relative_to(root)}": p.stat().st_size for p in files},
            holder_pod=pod,
            holder_log=log,
        )
    finally:
        env.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_model_is_large_nested_and_multi_file(prefetched: Prefetched) -> None:
    """The test model has several files, nested paths and at least 256 MiB."""
    assert len(prefetched.sizes) >= 5
    assert any(path.count("/") >= 3 for path in prefetched.sizes)
    assert sum(prefetched.sizes.values()) >= 256 * MiB


def test_holder_runs_on_the_real_node(prefetched: Prefetched, real_node: RealNodeEnv) -> None:
    """The prefetch pod runs on the real node with the operator's image."""
    spec = prefetched.holder_pod["spec"]
    assert spec["nodeName"] == real_node.node.name
    assert spec["containers"][0]["image"] == real_node.holder


def test_holder_ready_after_hold_saw_every_file(prefetched: Prefetched) -> None:
    """The holder is Ready and its `hold` check reported every file and byte of the model."""
    pod = prefetched.holder_pod
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    files, total = len(prefetched.sizes), sum(prefetched.sizes.values())
    assert f"verified: {files} files, {total} bytes; holding" in prefetched.holder_log


def test_status_reports_what_the_runtime_mounts_as_files(
    prefetched: Prefetched, real_node: RealNodeEnv
) -> None:
    """The operator mounts a derived OCI image on containerd (tar model) and the ModelPack
    itself where the runtime was seen to mount its raw layers as files (CRI-O 1.35)."""
    md = get_md(real_node.cluster, prefetched.namespace, prefetched.name)
    mount = md["status"]["resolved"]["mounts"][0]
    reference = prefetched.holder_pod["spec"]["volumes"][0]["image"]["reference"]
    assert reference == mount["reference"]
    native = md["status"]["resolved"]["digest"] in reference
    assert native == mounts_raw_natively(node_runtime(real_node)), reference


def test_workload_reads_every_file_with_expected_checksum(
    prefetched: Prefetched, real_node: RealNodeEnv
) -> None:
    """A labelled Deployment gets the image volume; its container checksums every file."""
    env, namespace = real_node, prefetched.namespace
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "reader", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "reader"}},
            "template": {
                "metadata": {
                    "labels": {"app": "reader", "modelprefetch.io/model": prefetched.name}
                },
                "spec": on_real_node(
                    {
                        "containers": [
                            {
                                "name": "app",
                                "image": env.busybox,
                                "command": [
                                    "sh",
                                    "-c",
                                    f"{CHECKSUM_SCRIPT}; exec sleep 3600",
                                    "sh",
                                    f"/models/{prefetched.name}",
                                ],
                            }
                        ]
                    }
                ),
            },
        },
    }
    apply(env.cluster, deployment)

    def running_pod() -> dict[str, Any] | None:
        out = env.cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=reader", "-o", "json")
        items = json.loads(out.stdout)["items"]
        return items[0] if items and items[0]["status"].get("phase") == "Running" else None

    pod = wait_for("reader pod Running", running_pod, 180)
    volumes = [v for v in pod["spec"]["volumes"] if "image" in v]
    assert len(volumes) == 1
    log = wait_log(env, namespace, pod["metadata"]["name"], "app", DONE, 180)
    assert parse_checksums(log) == prefetched.expected
