"""The chart as a user installs it (README: `helm install modelprefetch charts/modelprefetch
-n modelprefetch-system --create-namespace --set image.repository=...`), and what the
in-cluster tests read back from the cluster: the operator pods, their logs and events.

The one value besides the image that differs from the defaults is a toleration of the
harness's real-node taint (`TAINT_KEY`): the e2e real nodes are tainted NoSchedule so that
only pods that ask for them land there, and the operator pods must land there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.realnode import TAINT_KEY
from e2e.cluster.tools import REPO_ROOT, tool_path

RELEASE = "modelprefetch"
NAMESPACE = "modelprefetch-system"
CHART = REPO_ROOT / "charts" / "modelprefetch"
FULLNAME = RELEASE  # the release name contains the chart name
SELECTOR = f"app.kubernetes.io/name=modelprefetch,app.kubernetes.io/instance={RELEASE}"
MUTATING = f"{FULLNAME}-pods"
VALIDATING = f"{FULLNAME}-modeldeployments"
WEBHOOK_SERVICE = f"{FULLNAME}-webhook"
CERT_SECRET = f"{FULLNAME}-webhook-tls"
LEASE = f"{FULLNAME}-leader"
MODEL_LABEL = "modelprefetch.io/model"
DENIED_MISSING = re.compile(
    r'admission webhook ".*" denied the request: .*"missing-model" not found'
)


def toleration_values() -> list[str]:
    """--set flags for the real-node taint toleration (see the module docstring)."""
    return [
        "--set",
        f"tolerations[0].key={TAINT_KEY}",
        "--set",
        "tolerations[0].operator=Exists",
        "--set",
        "tolerations[0].effect=NoSchedule",
    ]


@dataclass
class Helm:
    cluster: LocalCluster

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        home = self.cluster.workdir / "helm"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        result = subprocess.run(
            [str(tool_path("helm")), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
        return result

    def install(self, image: ProjectImage, registry_host: str, pod_registry: str) -> None:
        """The README's command with the local image pinned by digest, and the
        registry the pods reach over plain HTTP listed in insecureRegistries."""
        self.run(
            "install",
            RELEASE,
            str(CHART),
            "-n",
            NAMESPACE,
            "--create-namespace",
            "--set",
            f"image.repository={registry_host}/{REPOSITORY}",
            "--set",
            f"image.digest={image.digest}",
            "--set-json",
            f'insecureRegistries=["{pod_registry}"]',
            *toleration_values(),
        )


def kubectl_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def operator_pods(cluster: LocalCluster) -> list[dict[str, Any]]:
    return list(kubectl_json(cluster, "get", "pods", "-n", NAMESPACE, "-l", SELECTOR)["items"])


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return (
        ready
        and pod["status"].get("phase") == "Running"
        and "deletionTimestamp" not in (pod["metadata"])
    )


def diagnostics(cluster: LocalCluster) -> str:
    """Pods, events and the operator logs of the release namespace, for failure messages."""
    parts = []
    for args in (
        ("get", "pods", "-n", NAMESPACE, "-o", "wide"),
        ("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp"),
        ("logs", "-n", NAMESPACE, "-l", SELECTOR, "--tail=40", "--prefix", "--all-containers"),
    ):
        out = cluster.kubectl(*args, check=False)
        parts.append(f"$ kubectl {' '.join(args)}\n{out.stdout}{out.stderr}")
    return "\n".join(parts)


def admit_labelled_pod(cluster: LocalCluster, namespace: str) -> str:
    """A pod asking for a ModelDeployment that does not exist, created with a server-side
    dry run: only the operator's webhook (reached through its Service, its certificate
    checked against the caBundle) can answer with this denial; an unreachable webhook
    gives 'failed calling webhook' under failurePolicy Fail instead."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "p-",
            "namespace": namespace,
            "labels": {MODEL_LABEL: "missing-model"},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    out = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod), check=False
    )
    return out.stderr.strip()
