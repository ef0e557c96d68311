"""The session's real nodes (containerd 2.2 + kubelet 1.35 + kube-proxy, each in its own
network namespace) and the images they run.

`real_nodes` is the session cluster's node group (e2e.cluster.nodes.RealNodes): the one
`make cluster-up REAL_NODES=N` started when the suite runs against that cluster, else a
new pod network stopped (with every node a test added) at the end of the session.
`real_node` is its first node, started after the operator (whose holder image is
`images.holder_reference(registries.crane.host)`, see e2e/conftest.py). Tests that need
more nodes call `real_nodes.add(...)` and remove them. Setup failures are errors with the
component's log tail, never skips: a real node that cannot start on a CI machine must be
seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.__main__ import workdir as cluster_workdir
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes, push_test_images
from e2e.cluster.registries import Registries
from e2e.operator_process import OperatorProcess
from e2e.realnode.helpers import RealNodeEnv


def _nodes_from_cluster_up(cluster: LocalCluster) -> tuple[dict[str, Any], Path] | None:
    """The state of the real nodes `python -m e2e.cluster up --real-nodes N` started."""
    state_file = cluster_workdir() / "state.json"
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    same = Path(state["kubeconfig"]).read_text() == cluster.kubeconfig.read_text()
    return (state, state_file) if same and state.get("realNodes") else None


@pytest.fixture(scope="session")
def real_nodes(
    cluster: LocalCluster, registries: Registries, e2e_workdir: Path, e2e_logdir: Path
) -> Iterator[RealNodes]:
    """The session cluster's real nodes and their network (see the module docstring)."""
    hosts = [r.host for r in registries.all()]
    existing = _nodes_from_cluster_up(cluster)
    if existing is not None:
        group = RealNodes.attach(cluster, *existing)
        group.trust_registries(hosts)
        started_by_cluster_up = list(group.nodes)
        yield group
        for node in [n for n in group.nodes if n not in started_by_cluster_up]:
            group.remove(node)
        return
    group = RealNodes.create(
        cluster, hosts, registries.crane.host, e2e_workdir / "rn", e2e_logdir / "realnodes"
    )
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture(scope="session")
def real_node(
    real_nodes: RealNodes, registries: Registries, operator: OperatorProcess
) -> RealNodeEnv:
    """The first real node, labelled for the operator tests, with the test images pushed."""
    started = time.monotonic()
    busybox, holder = push_test_images(registries.crane.host)
    build_seconds = time.monotonic() - started
    node = real_nodes.ensure(1)[0]
    print(f"\nreal node {node.name}: images {build_seconds:.1f}s, join {node.join_seconds:.1f}s")
    return RealNodeEnv(real_nodes.cluster, registries, node, busybox, holder, build_seconds)
