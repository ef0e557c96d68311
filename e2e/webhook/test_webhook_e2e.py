"""The webhooks called by the real kube-apiserver of the local cluster.

The webhook runs in a child process on 127.0.0.1 (`harness`) with a self-signed serving
certificate (SAN IP:127.0.0.1); the configurations come from `webhook.config` with a
URL clientConfig and caBundle, as on a cluster without kube-proxy. The test feeds the
index with the ModelDeployment read back from the API server, standing in for the
operator's watch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.webhook.harness import WebhookProcess, start_webhook_process
from e2e.webhook.kube import (
    DIGEST,
    apply,
    install_webhook,
    ready_model,
    uninstall_webhook,
    wait_for,
)
from modelprefetch.webhook.index import ModelIndex


@pytest.fixture
def webhook(cluster: LocalCluster) -> Iterator[WebhookProcess]:
    """A running webhook with both configurations installed (removed afterwards)."""
    server = start_webhook_process()
    server.load([])
    name = install_webhook(cluster, server)
    server.config_name = name
    try:
        yield server
    finally:
        uninstall_webhook(cluster, name)
        server.stop()


def labelled_pod(namespace: str, model: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"p-{uuid.uuid4().hex[:6]}",
            "namespace": namespace,
            "labels": {"modelprefetch.io/model": model},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }


def test_deployment_pods_get_the_model(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """Pods of a Deployment labelled for a Ready model get volume, mount, env, secrets, affinity."""
    ready_model(
        cluster,
        webhook,
        namespace,
        "llama",
        {
            "model": {
                "reference": "registry.local/models/llama:v1",
                "pullSecrets": [{"name": "regcred"}],
            },
            "mount": {"path": "/models/llama", "subPath": "weights", "scheduling": "Required"},
        },
    )
    apply(
        cluster,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "modelprefetch.io/model": "llama"}},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                },
            },
        },
    )

    def pods() -> list[dict[str, Any]]:
        out = cluster.kubectl("-n", namespace, "get", "pods", "-l", "app=web", "-o", "json")
        items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return items if len(items) == 2 else []

    for pod in wait_for("2 pods of the Deployment", pods):
        spec = pod["spec"]
        volume = next(v for v in spec["volumes"] if v["name"] == "model-llama")
        assert volume["image"] == {
            "reference": f"registry.local/models/llama@{DIGEST}",
            "pullPolicy": "IfNotPresent",
        }
        container = spec["containers"][0]
        assert {
            "name": "model-llama",
            "mountPath": "/models/llama",
            "readOnly": True,
            "subPath": "weights",
        } in container["volumeMounts"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MODEL_PATH"] == "/models/llama" and env["MODEL_DIGEST"] == DIGEST
        assert {"name": "regcred"} in spec["imagePullSecrets"]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
            {"key": "warm.node.modelprefetch.io/llama", "operator": "Exists"}
        ]
        assert pod["metadata"]["annotations"]["modelprefetch.io/injected"] == "llama"


def test_bad_modeldeployment_is_denied_with_field_path(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """kubectl apply of a spec the CRD schema accepts but the API model rejects prints our denial"""
    bad = {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"model": {"reference": "registry.local/m:v1"}, "prefetch": {"timeout": "5s"}},
    }
    result = wait_for(
        "the denial",
        lambda: (
            (r := apply(cluster, bad, check=False)).returncode
            and "denied the request" in r.stderr
            and r
        ),
    )
    assert "spec.prefetch.timeout: must be at least 10s" in result.stderr


def test_conflicting_pod_is_denied(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """A pod whose mount path is taken is refused with the field and the fix."""
    ready_model(
        cluster, webhook, namespace, "llama", {"model": {"reference": "registry.local/m:v1"}}
    )
    pod = labelled_pod(namespace, "llama", volumes=[{"name": "cache", "emptyDir": {}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "cache", "mountPath": "/models/llama"}]
    result = apply(cluster, pod, check=False)
    assert result.returncode != 0
    assert "spec.containers[0].volumeMounts[0].mountPath" in result.stderr
    assert "spec.mount.path" in result.stderr


def test_unknown_model_is_denied(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """A pod naming a ModelDeployment that does not exist is refused, naming the label."""
    result = apply(cluster, labelled_pod(namespace, "nope"), check=False)
    assert result.returncode != 0
    assert 'ModelDeployment "nope" not found' in result.stderr


def test_cold_model_is_admitted_with_warning(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """A model warm on no node: the pod is created and kubectl prints our warning."""
    ready_model(
        cluster,
        webhook,
        namespace,
        "cold",
        {"model": {"reference": "registry.local/m:v1"}, "mount": {"scheduling": "Required"}},
        ready_nodes=0,
    )
    result = apply(cluster, labelled_pod(namespace, "cold"))
    assert "not warm on any node yet" in result.stderr


def test_pod_selector_opt_in_without_label(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """A podSelector entry sends matching unlabelled pods to the webhook, and only them."""
    spec = {
        "model": {"reference": "registry.local/m:v1"},
        "mount": {"podSelector": {"matchLabels": {"app": "sel"}}},
    }
    index = ModelIndex()
    index.replace_all([ready_model(cluster, webhook, namespace, "sel", spec)])
    install_webhook(cluster, webhook, webhook.config_name, index.selector_opt_ins())
    pod = labelled_pod(namespace, "x")
    pod["metadata"]["labels"] = {"app": "sel"}

    def dry_run_volumes() -> list[str]:
        out = cluster.kubectl(
            "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod)
        )
        return [v["name"] for v in json.loads(out.stdout)["spec"].get("volumes", [])]

    assert "model-sel" in wait_for("the selector entry", lambda: dry_run_volumes())
    other = labelled_pod(namespace, "x")
    other["metadata"]["labels"] = {"app": "other"}
    created = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(other)
    )
    volumes = json.loads(created.stdout)["spec"].get("volumes", [])
    assert "model-sel" not in [v["name"] for v in volumes]


def test_webhook_down_refuses_only_opted_in_pods(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """With the webhook down, labelled pods are refused with a reason; others are created."""
    webhook.stop()
    refused = apply(cluster, labelled_pod(namespace, "llama"), check=False)
    assert refused.returncode != 0
    assert 'failed calling webhook "pods.modelprefetch.io"' in refused.stderr
    plain = labelled_pod(namespace, "x")
    plain["metadata"]["labels"] = {"app": "plain"}
    apply(cluster, plain)


def test_webhook_down_still_lets_metadata_updates_through(
    cluster: LocalCluster, webhook: WebhookProcess, namespace: str
) -> None:
    """With the webhook down, labelling a ModelDeployment works; changing its spec is refused."""
    ready_model(
        cluster, webhook, namespace, "keep", {"model": {"reference": "registry.local/m:v1"}}
    )
    webhook.stop()
    cluster.kubectl("-n", namespace, "label", "modeldeployment", "keep", "released=yes")
    patch = json.dumps({"spec": {"mount": {"path": "/elsewhere"}}})
    refused = cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "modeldeployment",
        "keep",
        "--type=merge",
        "-p",
        patch,
        check=False,
    )
    assert 'failed calling webhook "modeldeployments.modelprefetch.io"' in refused.stderr
