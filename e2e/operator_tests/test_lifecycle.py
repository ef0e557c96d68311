"""A ModelDeployment from apply to Ready, new nodes joining, and deletion cleaning up."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cluster.tools import REPO_ROOT
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    make_pool,
    model_deployment,
    node_labels,
    wait_for,
    wait_ready,
)


def _our_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if "modelprefetch.io/" in k}


def test_sample_reaches_ready_then_deletion_removes_everything(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """deploy/samples/modeldeployment.yaml (pointed at a local model) gets Ready 3/3;
    deleting it removes the DaemonSet and every node label the operator set."""
    reference = f"{registries.distribution.host}/models/sample-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    nodes = [f"gpu-{unique}-{i}" for i in range(3)]
    for node in nodes:
        cluster.add_fake_node(
            node,
            labels={"nvidia.com/gpu.present": "true", "pool": f"sample-{unique}"},
            taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        )
    try:
        sample = yaml.safe_load((REPO_ROOT / "deploy/samples/modeldeployment.yaml").read_text())
        sample["metadata"]["namespace"] = namespace
        sample["spec"]["model"]["reference"] = reference
        sample["spec"]["model"].pop("pullSecrets", None)
        sample["spec"]["nodes"]["nodeSelector"]["pool"] = f"sample-{unique}"
        apply(cluster, sample)
        name = sample["metadata"]["name"]
        md = wait_ready(cluster, namespace, name, "3/3")
        assert md["status"]["resolved"]["digest"].startswith("sha256:")
        printed = cluster.kubectl("get", "md", name, "-n", namespace).stdout
        assert "3/3" in printed and "Ready" in printed
        daemonsets = json.loads(cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
        assert len(daemonsets) == 1
        assert all(_our_labels(node_labels(cluster, n)) for n in nodes)

        cluster.kubectl("delete", "md", name, "-n", namespace, "--timeout=60s")
        wait_for(
            "DaemonSets gone",
            lambda: (
                not json.loads(cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout)[
                    "items"
                ]
            ),
            60,
        )
        wait_for(
            "node labels gone",
            lambda: all(not _our_labels(node_labels(cluster, n)) for n in nodes),
            60,
        )
    finally:
        delete_nodes(cluster, nodes)


def test_node_added_later_is_covered(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """A matching node that appears after Ready gets the model too (2/2 -> 3/3)."""
    reference = f"{registries.crane.host}/models/late-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"late-{unique}"
    nodes = [f"late-{unique}-{i}" for i in range(3)]
    make_pool(cluster, nodes[:2], pool)
    try:
        apply(cluster, model_deployment("late", namespace, reference, pool))
        wait_ready(cluster, namespace, "late", "2/2")
        make_pool(cluster, nodes[2:], pool)
        wait_ready(cluster, namespace, "late", "3/3")
        warm = get_md(cluster, namespace, "late")["status"]["resolved"]["mounts"][0]["nodeLabel"]
        assert node_labels(cluster, nodes[2]).get(warm) == "true"
    finally:
        delete_nodes(cluster, nodes)
