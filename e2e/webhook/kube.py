"""Cluster-side helpers shared by the webhook e2e tests and the benchmark."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.webhook.harness import REPO_ROOT, WebhookProcess
from modelprefetch.webhook.config import (
    WebhookClient,
    mutating_webhook_configuration,
    validating_webhook_configuration,
)
from modelprefetch.webhook.types import LabelMatcher

DIGEST = "sha256:" + "ef" * 32
CRD = REPO_ROOT / "crds" / "modelprefetch.io_modeldeployments.yaml"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll `check` until it returns something truthy (the API server picks up configs async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def apply(cluster: LocalCluster, obj: dict[str, Any], check: bool = True) -> Any:
    """kubectl apply one object; returns the CompletedProcess."""
    return cluster.kubectl("apply", "-f", "-", input=json.dumps(obj), check=check)


def ready_model(
    cluster: LocalCluster,
    server: WebhookProcess,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    ready_nodes: int = 2,
) -> dict[str, Any]:
    """Create a ModelDeployment, give it a resolved status, and load it into the index."""
    wait_for(
        "the validating webhook",
        lambda: (
            apply(
                cluster,
                {
                    "apiVersion": "modelprefetch.io/v1alpha1",
                    "kind": "ModelDeployment",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": spec,
                },
                check=False,
            ).returncode
            == 0
        ),
    )
    reference = f"registry.local/models/{name}@{DIGEST}"
    status = {
        "status": {
            "resolved": {
                "reference": spec["model"]["reference"],
                "digest": DIGEST,
                "shortDigest": DIGEST[7:19],
                "kind": "OCIImage",
                "format": "gguf",
                "name": name,
                "mountedReference": reference,
                "mounts": [
                    {
                        "reference": reference,
                        "digest": DIGEST,
                        "nodeLabel": f"warm.node.modelprefetch.io/{name}",
                    }
                ],
            },
            "nodes": {"ready": ready_nodes, "desired": 2},
        }
    }
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "modeldeployment",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    obj = json.loads(
        cluster.kubectl("-n", namespace, "get", "modeldeployment", name, "-o", "json").stdout
    )
    server.load([obj])
    return obj


def install_webhook(
    cluster: LocalCluster,
    server: WebhookProcess,
    name: str | None = None,
    selector_opt_ins: Sequence[tuple[str, LabelMatcher]] = (),
) -> str:
    """Install the CRD and both webhook configurations pointing at `server`; returns their name."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(CRD), "--timeout=60s")
    name = name or f"modelprefetch-e2e-{uuid.uuid4().hex[:6]}"
    client = WebhookClient(url=server.url)
    for config in (
        mutating_webhook_configuration(
            name,
            client=client,
            operator_namespace="modelprefetch-system",
            ca_bundle=server.ca_pem,
            selector_opt_ins=selector_opt_ins,
        ),
        validating_webhook_configuration(name, client=client, ca_bundle=server.ca_pem),
    ):
        apply(cluster, config)
    return name


def uninstall_webhook(cluster: LocalCluster, name: str) -> None:
    """Delete both webhook configurations."""
    cluster.kubectl(
        "delete",
        "mutatingwebhookconfiguration,validatingwebhookconfiguration",
        name,
        "--ignore-not-found",
        check=False,
    )
