"""Waves: never more than maxConcurrentNodes pulling; a killed operator converges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    is_ready,
    make_pool,
    mark_ready,
    model_deployment,
    pods,
    wait_for,
    wait_ready,
)

SELECTOR = "modelprefetch.io/modeldeployment={name}"


def _initialized(pod: dict[str, Any]) -> bool:
    # kwok's pod-create stage (our fake kubelet) has started the pod; marking it Ready
    # before that would be overwritten by the stage.
    return any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _scheduled_not_ready(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Holder pods bound to a node and not Ready: what the throttle counts as pulling."""
    return [
        p
        for p in pods(cluster, namespace, SELECTOR.format(name=name))
        if p["spec"].get("nodeName")
        and not is_ready(p)
        and not p["metadata"].get("deletionTimestamp")
    ]


def _pulling(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Of those, the ones the fake kubelet has started: safe to mark as finished."""
    return [p for p in _scheduled_not_ready(cluster, namespace, name) if _initialized(p)]


def test_never_more_than_k_nodes_pull_at_once(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """With 5 slow nodes and maxConcurrentNodes 2, at most 2 pull at any time and all
    5 end up warm as pulls finish."""
    reference = f"{registries.distribution.host}/models/waves-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"waves-{unique}"
    nodes = [f"held-{unique}-{i}" for i in range(5)]
    make_pool(cluster, nodes, pool)
    try:
        apply(
            cluster,
            model_deployment(
                "waves", namespace, reference, pool, prefetch={"maxConcurrentNodes": 2}
            ),
        )
        finished: set[str] = set()
        max_seen = 0
        while len(finished) < len(nodes):
            pulling = wait_for("a node pulling", lambda: _pulling(cluster, namespace, "waves"))
            bound = _scheduled_not_ready(cluster, namespace, "waves")
            status = get_md(cluster, namespace, "waves")["status"]["nodes"]
            max_seen = max(max_seen, len(bound), int(status.get("pulling", 0)))
            assert len(bound) <= 2, [p["spec"]["nodeName"] for p in bound]
            assert int(status.get("pulling", 0)) <= 2, status
            first = pulling[0]
            mark_ready(cluster, namespace, str(first["metadata"]["name"]))
            finished.add(str(first["spec"]["nodeName"]))
            wait_for(
                "the finished node to count as ready",
                lambda: (
                    get_md(cluster, namespace, "waves")["status"]["nodes"]["ready"] >= len(finished)
                ),
            )
        assert max_seen == 2
        wait_ready(cluster, namespace, "waves", "5/5")
    finally:
        delete_nodes(cluster, nodes)


def test_operator_killed_mid_rollout_converges(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """SIGKILL while nodes are pulling; after a restart the rollout finishes with one
    DaemonSet and no duplicate pods."""
    reference = f"{registries.crane.host}/models/restart-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"restart-{unique}"
    nodes = [f"held-r{unique}-{i}" for i in range(3)]
    make_pool(cluster, nodes, pool)
    try:
        apply(
            cluster,
            model_deployment(
                "restart", namespace, reference, pool, prefetch={"maxConcurrentNodes": 1}
            ),
        )
        first = wait_for("first pull", lambda: _pulling(cluster, namespace, "restart"))[0]
        mark_ready(cluster, namespace, str(first["metadata"]["name"]))
        wait_for(
            "second pull",
            lambda: [
                p
                for p in _pulling(cluster, namespace, "restart")
                if p["spec"]["nodeName"] != first["spec"]["nodeName"]
            ],
        )
        operator.stop(kill=True)
        operator.start()
        for _ in range(2):
            pod = wait_for("next pull", lambda: _pulling(cluster, namespace, "restart"))[0]
            mark_ready(cluster, namespace, str(pod["metadata"]["name"]))
        wait_ready(cluster, namespace, "restart", "3/3")
        daemonsets = json.loads(cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
        assert len(daemonsets) == 1
        holders = pods(cluster, namespace, SELECTOR.format(name="restart"))
        assert sorted(p["spec"]["nodeName"] for p in holders) == sorted(nodes)
    finally:
        delete_nodes(cluster, nodes)
