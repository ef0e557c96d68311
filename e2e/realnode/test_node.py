"""The real node as the API server sees it: a kubelet 1.35 on containerd 2.2, not kwok's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e.cluster.controlplane import FAKE_ANNOTATION
from e2e.cluster.realnode import TAINT_KEY
from e2e.realnode.helpers import RealNodeEnv

pytestmark = pytest.mark.realnode


def _node(env: RealNodeEnv) -> dict[str, Any]:
    out = env.cluster.kubectl("get", "node", env.node.name, "-o", "json")
    return dict(json.loads(out.stdout))


def test_node_runs_kubelet_135_on_containerd_22(real_node: RealNodeEnv) -> None:
    """nodeInfo names the real kubelet and containerd versions."""
    info = _node(real_node)["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.35.")
    assert info["containerRuntimeVersion"].startswith("containerd://2.2.")


def test_node_is_not_managed_by_kwok(real_node: RealNodeEnv) -> None:
    """The node carries no kwok annotation, so kwok leaves its status to the kubelet."""
    annotations = _node(real_node)["metadata"].get("annotations") or {}
    assert FAKE_ANNOTATION not in annotations


def test_node_is_tainted_for_real_node_tests_only(real_node: RealNodeEnv) -> None:
    """A NoSchedule taint keeps the other e2e tests' pods off the real node."""
    taints = _node(real_node)["spec"].get("taints") or []
    assert {"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"} in taints
