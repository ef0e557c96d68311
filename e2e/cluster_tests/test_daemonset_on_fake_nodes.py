"""The local cluster schedules DaemonSets onto fake nodes the way a real one does."""

from __future__ import annotations

import json

from e2e.cluster.controlplane import LocalCluster
from e2e.operator_tests.helpers import wait_for


def _ready_pod_nodes(cluster: LocalCluster, namespace: str, app: str) -> set[str]:
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout
    )["items"]
    ready = set()
    for pod in pods:
        conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            ready.add(pod["spec"]["nodeName"])
    return ready


def test_daemonset_lands_exactly_on_matching_tainted_pool(
    cluster: LocalCluster, namespace: str, unique: str
) -> None:
    """Only the 3 labelled+tainted nodes get Ready pods; deleting one removes its pod."""
    pool = [f"gpu-{unique}-{i}" for i in range(3)]
    taint = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    for name in pool:
        cluster.add_fake_node(
            name, runtime="containerd://2.2.1", labels={"pool": f"gpu-{unique}"}, taints=[taint]
        )
    other = f"cpu-{unique}"
    cluster.add_fake_node(other, runtime="cri-o://1.34.2", labels={"pool": f"cpu-{unique}"})
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}},
                "spec": {
                    "nodeSelector": {"pool": f"gpu-{unique}"},
                    "tolerations": [
                        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
                    ],
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            },
        },
    }
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(ds))
        assert wait_for(
            "pods on the pool",
            lambda: _ready_pod_nodes(cluster, namespace, "probe") == set(pool) or None,
        )
        status = json.loads(
            cluster.kubectl("get", "ds", "probe", "-n", namespace, "-o", "json").stdout
        )["status"]
        assert status["desiredNumberScheduled"] == 3
        cluster.delete_node(pool[0])
        assert wait_for(
            "pod of the deleted node gone",
            lambda: _ready_pod_nodes(cluster, namespace, "probe") == set(pool[1:]) or None,
        )
    finally:
        for name in [*pool, other]:
            cluster.kubectl(
                "delete", "node", name, "--ignore-not-found", "--wait=false", check=False
            )


def test_fake_nodes_report_the_runtime_they_were_given(cluster: LocalCluster, unique: str) -> None:
    """containerRuntimeVersion is what the test chose, for a mixed pool."""
    runtimes = {
        f"rt-{unique}-a": "containerd://2.2.1",
        f"rt-{unique}-b": "containerd://2.1.4",
        f"rt-{unique}-c": "cri-o://1.34.2",
    }
    try:
        for name, runtime in runtimes.items():
            cluster.add_fake_node(name, runtime=runtime)
        for name, runtime in runtimes.items():
            got = cluster.kubectl(
                "get", "node", name, "-o", "jsonpath={.status.nodeInfo.containerRuntimeVersion}"
            ).stdout
            assert got == runtime
    finally:
        for name in runtimes:
            cluster.kubectl(
                "delete", "node", name, "--ignore-not-found", "--wait=false", check=False
            )


def test_server_reports_the_built_kubernetes_version(cluster: LocalCluster) -> None:
    """kubectl version sees the real v1.35.x, not v0.0.0."""
    out = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"].startswith("v1.35.")
    assert out["clientVersion"]["gitVersion"].startswith("v1.35.")
