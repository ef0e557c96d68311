"""Two replicas: one reconciles; the standby takes over when the leader dies."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cluster.tools import free_port
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    make_pool,
    model_deployment,
    wait_for,
    wait_ready,
)

LEADER = re.compile(r"^modelprefetch_leader(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


def _is_leader(proc: OperatorProcess) -> bool:
    match = LEADER.search(proc.metrics())
    return bool(match and float(match.group(1)) == 1.0)


def test_standby_takes_over_when_the_leader_is_killed(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """The standby does not reconcile; after SIGKILL of the leader it wins the Lease and
    covers a node that appears only then; a clean stop hands the Lease back at once.

    (Here the API server reaches the webhook at one replica's URL, so the ModelDeployment
    is created before the leader dies; in a cluster the webhook Service spans replicas.)"""
    standby = replace(
        operator,
        health_port=free_port(),
        metrics_port=free_port(),
        proc=None,
        extra_env={
            "MODELPREFETCH_WEBHOOK_ENABLED": "false",
            "MODELPREFETCH_POD_NAME": "e2e-standby",
        },
    )
    standby.start()
    reference = f"{registries.crane.host}/models/leader-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"leader-{unique}"
    nodes = [f"leader-{unique}-0"]
    try:
        assert _is_leader(operator) and not _is_leader(standby)
        apply(cluster, model_deployment("led", namespace, reference, pool))
        operator.stop(kill=True)
        wait_for("the standby to lead", lambda: _is_leader(standby), timeout=60)
        make_pool(cluster, nodes, pool)
        wait_ready(cluster, namespace, "led", "1/1")
    finally:
        if operator.proc is None:
            operator.start()
        standby.stop()  # SIGTERM: releases the Lease
        delete_nodes(cluster, nodes)
    wait_for("the session operator to lead again", lambda: _is_leader(operator), timeout=30)
