"""The real node as the API server sees it: the kubelet and container runtime this session
was configured to run (build.sh's defaults, or MODELPREFETCH_KUBERNETES_VERSION and
MODELPREFETCH_NODE_RUNTIME), not kwok's."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from e2e.cluster.controlplane import FAKE_ANNOTATION
from e2e.cluster.realnode import TAINT_KEY
from e2e.cluster.tools import kubernetes_version, runtime_tool_path, tool_path
from e2e.realnode.helpers import RealNodeEnv

pytestmark = pytest.mark.realnode


def _node(env: RealNodeEnv) -> dict[str, Any]:
    out = env.cluster.kubectl("get", "node", env.node.name, "-o", "json")
    return dict(json.loads(out.stdout))


def _binary_version(path: str) -> str:
    """The first vX.Y.Z a binary's --version prints (build.sh stamps the release into it)."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"\bv?(\d+\.\d+\.\d+)\b", out.stdout)
    assert match, f"{path} --version printed no version: {out.stdout!r}"
    return match.group(1)


def configured_runtime(runtime: str) -> tuple[str, str]:
    """(CRI name, version) the node should report for its configured runtime."""
    if not runtime:  # build.sh's default containerd: the version built into it
        return "containerd", _binary_version(str(runtime_tool_path("", "containerd")))
    name, _, version = runtime.partition("-v")
    return {"crio": "cri-o"}.get(name, name), version


def test_node_runs_the_configured_kubelet_and_runtime(real_node: RealNodeEnv) -> None:
    """nodeInfo names exactly the kubelet and runtime releases the session asked for."""
    info = _node(real_node)["status"]["nodeInfo"]
    kubelet = _binary_version(str(tool_path("kubelet")))
    if kubernetes_version():
        assert kubelet == kubernetes_version().lstrip("v")
    assert info["kubeletVersion"] == f"v{kubelet}"
    name, version = configured_runtime(real_node.node.runtime)
    reported, _, reported_version = info["containerRuntimeVersion"].partition("://")
    assert (reported, reported_version.lstrip("v")) == (name, version), real_node.node.runtime


def test_control_plane_runs_the_configured_kubernetes(real_node: RealNodeEnv) -> None:
    """The API server the node joined is the configured release too (kubectl's as well)."""
    out = json.loads(real_node.cluster.kubectl("version", "-o", "json").stdout)
    expected = f"v{_binary_version(str(tool_path('kube-apiserver')))}"
    if kubernetes_version():
        assert expected == kubernetes_version()
    assert out["serverVersion"]["gitVersion"] == expected
    assert out["clientVersion"]["gitVersion"] == expected


def test_node_is_not_managed_by_kwok(real_node: RealNodeEnv) -> None:
    """The node carries no kwok annotation, so kwok leaves its status to the kubelet."""
    annotations = _node(real_node)["metadata"].get("annotations") or {}
    assert FAKE_ANNOTATION not in annotations


def test_node_is_tainted_for_real_node_tests_only(real_node: RealNodeEnv) -> None:
    """A NoSchedule taint keeps the other e2e tests' pods off the real node."""
    taints = _node(real_node)["spec"].get("taints") or []
    assert {"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"} in taints
