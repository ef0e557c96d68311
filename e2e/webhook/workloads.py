"""Pods, Deployments and webhook configurations as the webhook e2e tests see them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.operator_process import MUTATING, VALIDATING
from e2e.operator_tests.helpers import get_md, is_ready, mark_ready, pods, wait_for

MODEL_LABEL = "modelprefetch.io/model"
ALLOW_DELETE_IN_USE = "modelprefetch.io/allow-delete-in-use"


def pod(namespace: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    """A one-container Pod with these labels."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{uuid.uuid4().hex[:6]}", "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }


def deployment(namespace: str, name: str, labels: dict[str, str], replicas: int) -> dict[str, Any]:
    """A Deployment whose pod template carries `labels` (plus app=<name>)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, **labels}},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            },
        },
    }


def create(cluster: LocalCluster, obj: dict[str, Any], *, check: bool = True) -> Any:
    """kubectl create one object; returns the CompletedProcess (stderr has warnings)."""
    return cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(obj), check=check)


def dry_run(cluster: LocalCluster, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server would store it, admission webhooks included."""
    out = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(obj)
    )
    return dict(json.loads(out.stdout))


def volume_names(obj: dict[str, Any]) -> list[str]:
    return [v["name"] for v in obj["spec"].get("volumes") or []]


def configuration(cluster: LocalCluster, kind: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", kind, name, "-o", "json")
    return dict(json.loads(out.stdout))


def wait_ca_bundles(cluster: LocalCluster) -> None:
    """Wait until the operator has published its CA on both configurations."""

    def published() -> bool:
        return all(
            hook.get("clientConfig", {}).get("caBundle")
            for kind, name in (
                ("mutatingwebhookconfiguration", MUTATING),
                ("validatingwebhookconfiguration", VALIDATING),
            )
            for hook in configuration(cluster, kind, name)["webhooks"]
        )

    wait_for("the operator's caBundle on both webhook configurations", published)


def selector_entries(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    """The mutating configuration's podSelector entries for one namespace."""
    hooks = configuration(cluster, "mutatingwebhookconfiguration", MUTATING)["webhooks"]
    return [
        h
        for h in hooks
        if h["name"].endswith(".selector.pods.modelprefetch.io")
        and h["namespaceSelector"].get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == namespace
    ]


def mounted(md: dict[str, Any]) -> dict[str, Any]:
    """The status.resolved.mounts[] entry of the mountedReference."""
    resolved = md["status"]["resolved"]
    return next(m for m in resolved["mounts"] if m["reference"] == resolved["mountedReference"])


def wait_mountable(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    """Wait until the ModelDeployment has a mountedReference (warm or not)."""
    return wait_for(
        f"{namespace}/{name} mountedReference",
        lambda: (
            (md := get_md(cluster, namespace, name))
            .get("status", {})
            .get("resolved", {})
            .get("mountedReference")
            and md
        ),
    )


def delete_models(cluster: LocalCluster, namespace: str) -> None:
    """Delete every ModelDeployment of the namespace and wait for the operator's cleanup.

    Done before the namespace goes: the operator's cleanup events would otherwise be
    posted into a terminating namespace, which the API server refuses with a 403. Pods of
    the test may still use the models: teardown overrides the deletion guard on purpose
    (the guard itself is tested in test_deletion_guard.py).
    """
    cluster.kubectl(
        "annotate", "md", "--all", "-n", namespace, f"{ALLOW_DELETE_IN_USE}=true", check=False
    )
    cluster.kubectl("delete", "md", "--all", "-n", namespace, "--timeout=90s", check=False)


def _started(p: dict[str, Any]) -> bool:
    # kwok's pod-create stage has run: marking the pod Ready before it would be overwritten
    return any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in (p.get("status") or {}).get("conditions") or []
    )


def finish_pulls(cluster: LocalCluster, namespace: str, name: str, count: int) -> None:
    """Play the kubelet of held-* nodes: mark `count` holder pods of `name` Ready."""
    done: set[str] = set()
    while len(done) < count:
        pulling = wait_for(
            f"a holder pod of {name} started",
            lambda: [
                p
                for p in pods(cluster, namespace, f"modelprefetch.io/modeldeployment={name}")
                if _started(p) and not is_ready(p) and p["metadata"]["name"] not in done
            ],
        )
        mark_ready(cluster, namespace, str(pulling[0]["metadata"]["name"]))
        done.add(str(pulling[0]["metadata"]["name"]))
