"""Helm against the e2e cluster, and reading back what a release created."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from e2e.chart.render import CHART
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.tools import REPO_ROOT, tool_path

__all__ = ["CHART", "DEPLOY_MANIFEST", "get", "helm", "helm_template", "rendered_kinds"]
DEPLOY_MANIFEST = REPO_ROOT / "deploy" / "modelprefetch.yaml"


def helm(cluster: LocalCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with the cluster's kubeconfig; raises with its output when check fails."""
    result = subprocess.run(
        [str(tool_path("helm")), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def helm_template(
    cluster: LocalCluster, release: str, namespace: str, *sets: str, values: Path | None = None
) -> str:
    """The chart rendered for a release, CRDs included."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    if values is not None:
        args += ["--values", str(values)]
    for value in sets:
        args += ["--set", value]
    return helm(cluster, *args).stdout


def get(cluster: LocalCluster, kind: str, name: str, namespace: str | None = None) -> Any:
    """One object as JSON."""
    args = ["get", kind, name, "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    return json.loads(cluster.kubectl(*args).stdout)


def rendered_kinds(manifest: str) -> list[str]:
    """`kind` of every document in a multi-document manifest, in order."""
    return [
        line.split(":", 1)[1].strip() for line in manifest.splitlines() if line.startswith("kind:")
    ]
