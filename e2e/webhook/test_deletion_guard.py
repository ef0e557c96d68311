"""The deletion guard against the real API server and the real operator: `kubectl delete md`
of a model that a running pod mounts is refused by the validating webhook naming the pod,
the allow-delete-in-use annotation lets it through, and an allowed deletion still runs the
operator's finalizer cleanup (holder DaemonSet and node labels gone)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    make_pool,
    model_deployment,
    node_labels,
    wait_for,
    wait_ready,
)
from e2e.webhook.workloads import (
    ALLOW_DELETE_IN_USE,
    MODEL_LABEL,
    create,
    delete_models,
    mounted,
    pod,
)

ALLOW = ALLOW_DELETE_IN_USE
INJECTED = "modelprefetch.io/injected"
DENIED = 'admission webhook "modeldeployments.modelprefetch.io" denied the request'


def _delete(
    cluster: LocalCluster, namespace: str, name: str, *, dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    extra = ["--dry-run=server"] if dry_run else ["--timeout=60s"]
    result: subprocess.CompletedProcess[str] = cluster.kubectl(
        "delete", "md", name, "-n", namespace, *extra, check=False
    )
    return result


def _refused(cluster: LocalCluster, namespace: str, name: str) -> str | None:
    """The webhook's refusal of a (dry-run) deletion, or None when it would be allowed."""
    result = _delete(cluster, namespace, name, dry_run=True)
    return result.stderr if result.returncode != 0 else None


def _running_pod(cluster: LocalCluster, namespace: str, model: str) -> dict[str, Any]:
    """A pod labelled for `model`, mutated by the webhook, Running on a fake node."""
    created = json.loads(create(cluster, pod(namespace, {MODEL_LABEL: model})).stdout)
    assert f"model-{model}" in [v["name"] for v in created["spec"]["volumes"]]
    assert created["metadata"]["labels"][INJECTED] == "true"
    name = created["metadata"]["name"]

    def running() -> dict[str, Any] | None:
        out = cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout
        current: dict[str, Any] = json.loads(out)
        phase = (current.get("status") or {}).get("phase")
        return current if phase == "Running" and current["spec"].get("nodeName") else None

    return wait_for(f"pod {name} Running", running)


def _cleaned_up(
    cluster: LocalCluster, namespace: str, name: str, warm_label: str, nodes: list[str]
) -> None:
    """The ModelDeployment is gone and the operator's cleanup removed what it had created."""
    wait_for(
        f"{namespace}/{name} gone",
        lambda: (
            "NotFound" in cluster.kubectl("get", "md", name, "-n", namespace, check=False).stderr
        ),
    )
    selector = f"modelprefetch.io/modeldeployment={name}"
    wait_for(
        f"holder DaemonSet of {name} gone",
        lambda: (
            not json.loads(
                cluster.kubectl("get", "ds", "-n", namespace, "-l", selector, "-o", "json").stdout
            )["items"]
        ),
        60,
    )
    wait_for(
        f"warm label of {name} gone",
        lambda: all(warm_label not in node_labels(cluster, n) for n in nodes),
        60,
    )


def _ready_models(
    cluster: LocalCluster,
    registries: Registries,
    namespace: str,
    unique: str,
    tmp_path: Path,
    names: list[str],
    nodes: list[str],
) -> dict[str, str]:
    """Ready ModelDeployments on a pool of fake nodes: their warm node labels by name."""
    pool = f"guard-{unique}"
    make_pool(cluster, nodes, pool)
    for name in names:
        reference = f"{registries.distribution.host}/models/{name}-{unique}:v1"
        push_model(make_model_dir(tmp_path / name, seed=f"{name}{unique}"), reference)
        apply(cluster, model_deployment(name, namespace, reference, pool))
    warm = {}
    for name in names:
        md = wait_ready(cluster, namespace, name, f"{len(nodes)}/{len(nodes)}")
        warm[name] = mounted(md)["nodeLabel"]
        assert all(node_labels(cluster, n).get(warm[name]) == "true" for n in nodes)
    return warm


def test_deleting_a_model_in_use_is_denied_until_annotated(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Denied naming the running pod; replacement pods still get the model; annotated ->
    deleted, and the finalizer cleanup runs."""
    nodes = [f"guard-{unique}-0"]
    try:
        warm = _ready_models(cluster, registries, namespace, unique, tmp_path, ["guarded"], nodes)
        user = _running_pod(cluster, namespace, "guarded")["metadata"]["name"]
        # the webhook's pod watch may be a moment behind the pod just created
        wait_for("the deletion refused", lambda: _refused(cluster, namespace, "guarded"))

        result = _delete(cluster, namespace, "guarded")
        assert result.returncode != 0
        assert DENIED in result.stderr
        assert (
            f"ModelDeployment {namespace}/guarded is in use by 1 running or pending pod "
            f"({namespace}/{user}); delete them first, or set the annotation {ALLOW}=true"
        ) in result.stderr
        md = json.loads(
            cluster.kubectl("get", "md", "guarded", "-n", namespace, "-o", "json").stdout
        )
        assert "deletionTimestamp" not in md["metadata"]
        # what the guard is for: a replacement pod is still admitted with its model
        _running_pod(cluster, namespace, "guarded")

        cluster.kubectl("annotate", "md", "guarded", "-n", namespace, f"{ALLOW}=true")
        result = _delete(cluster, namespace, "guarded")
        assert result.returncode == 0, result.stderr
        _cleaned_up(cluster, namespace, "guarded", warm["guarded"], nodes)
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)


def test_deleting_a_model_no_pod_uses_is_allowed(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """A pod of another model does not hold this one; once the user's pod is deleted its
    model can be deleted too; both deletions run the operator's cleanup."""
    nodes = [f"guard-{unique}-0"]
    try:
        warm = _ready_models(
            cluster, registries, namespace, unique, tmp_path, ["idle", "busy"], nodes
        )
        user = _running_pod(cluster, namespace, "busy")["metadata"]["name"]
        # the watch has seen the pod: the next allowed deletion is not a lagging watch
        wait_for("busy refused", lambda: _refused(cluster, namespace, "busy"))

        result = _delete(cluster, namespace, "idle")
        assert result.returncode == 0, result.stderr
        _cleaned_up(cluster, namespace, "idle", warm["idle"], nodes)
        assert node_labels(cluster, nodes[0]).get(warm["busy"]) == "true"

        cluster.kubectl("delete", "pod", user, "-n", namespace, "--timeout=60s")
        wait_for("busy no longer refused", lambda: _refused(cluster, namespace, "busy") is None)
        result = _delete(cluster, namespace, "busy")
        assert result.returncode == 0, result.stderr
        _cleaned_up(cluster, namespace, "busy", warm["busy"], nodes)
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)
