"""The network tests' static tool (nettool/main.go): an HTTP(S) client for pods, and a
Service-backed validating webhook served by a pod on a real node.

The API server calls it at https://<name>.<namespace>.svc:443 - the Service's ClusterIP,
dialled through the egress proxy in the nodes' LAN and translated by a node's kube-proxy
- with the cluster CA as caBundle and a serving certificate the cluster PKI issues.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

from e2e.cluster import images
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import RealNode
from e2e.realnode.helpers import on_real_node

SOURCE = Path(__file__).with_name("nettool")


def build_image(registry_host: str) -> str:
    """Compile the tool (static, stdlib only) once per source and push its image."""
    digest = hashlib.sha256((SOURCE / "main.go").read_bytes()).hexdigest()[:16]
    binary = images.CACHE / "nettool-bin" / digest
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
            cwd=SOURCE,
            check=True,
            capture_output=True,
            env={**os.environ, "CGO_ENABLED": "0"},
            timeout=600,
        )
    entry = images.Entry("nettool", source=binary, mode=0o755)
    image = images.build("nettool", [entry], entrypoint=["/nettool"])
    reference = f"{registry_host}/e2e/nettool:{digest}"
    images.push(image, reference)
    return reference


def deploy(cluster: LocalCluster, namespace: str, node: RealNode, image: str) -> str:
    """Secret + pod + Service + ValidatingWebhookConfiguration; returns the config's name."""
    name = "netwebhook"
    crt, key = cluster.pki.issue(
        f"{name}-{namespace}", f"{name}.{namespace}.svc", server=True,
        dns=(f"{name}.{namespace}.svc",),
    )  # fmt: skip
    cluster.kubectl(
        "create", "secret", "tls", name, "-n", namespace, f"--cert={crt}", f"--key={key}"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": on_real_node(
            {
                "containers": [
                    {
                        "name": "c",
                        "image": image,
                        "args": ["serve"],
                        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
                        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                    }
                ],
                "volumes": [{"name": "tls", "secret": {"secretName": name}}],
            },
            node.name,
        ),
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"port": 443, "targetPort": 8443}]},
    }
    for obj in (pod, service):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}", "--timeout=120s"
    )
    config_name = f"{name}-{namespace}"
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": config_name},
        "webhooks": [
            {
                "name": "deny.netwebhook.e2e.modelprefetch.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
                "clientConfig": {
                    "service": {"namespace": namespace, "name": name, "path": "/validate"},
                    "caBundle": base64.b64encode(cluster.pki.ca_crt.read_bytes()).decode(),
                },
            }
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(webhook))
    return config_name
