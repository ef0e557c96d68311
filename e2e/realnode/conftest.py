"""The session's real node (containerd 2.2 + kubelet 1.35) and the images it runs.

`real_node` starts it on the session `cluster` once, after the operator (whose holder
image is the project's own, built from the Dockerfile: `project_image` in e2e/conftest.py)
and stops it at the end of the session. Setup failures are errors with the component's log
tail, never skips: a real node that cannot start on a CI machine must be seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import images
from e2e.cluster.__main__ import workdir as cluster_workdir
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.project_image import ProjectImage
from e2e.cluster.realnode import RealNode
from e2e.cluster.registries import Registries
from e2e.operator_process import OperatorProcess
from e2e.realnode.helpers import RealNodeEnv


def _node_from_cluster_up(cluster: LocalCluster) -> tuple[dict[str, Any], Path] | None:
    """The real node `python -m e2e.cluster up --real-node` started for this cluster."""
    state_file = cluster_workdir() / "state.json"
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    same = Path(state["kubeconfig"]).read_text() == cluster.kubeconfig.read_text()
    return (state["realNode"], state_file) if same and "realNode" in state else None


@pytest.fixture(scope="session")
def real_node(
    cluster: LocalCluster,
    registries: Registries,
    project_image: ProjectImage,
    operator: OperatorProcess,
    e2e_workdir: Path,
    e2e_logdir: Path,
) -> Iterator[RealNodeEnv]:
    """A real kubelet + containerd node joined to the session cluster: the one `make
    cluster-up REAL_NODE=1` started when the suite runs against that cluster, else a new
    one, stopped at the end of the session."""
    started = time.monotonic()
    busybox = f"{registries.crane.host}/e2e/busybox:latest"
    images.push(images.busybox_image(), busybox)
    holder = project_image.reference  # the Dockerfile's image, as the operator was told
    build_seconds = time.monotonic() - started + project_image.seconds
    existing = _node_from_cluster_up(cluster)
    if existing is not None:
        node = RealNode.attach(cluster, existing[0], existing[1])
        node.trust_registries([r.host for r in registries.all()])
        yield RealNodeEnv(cluster, registries, node, busybox, holder, build_seconds)
        return
    node = RealNode(
        cluster=cluster,
        registry_hosts=[r.host for r in registries.all()],
        pause_registry=registries.crane.host,
        workdir=e2e_workdir / "realnode",
        logdir=e2e_logdir / "realnode",
    )
    try:
        node.start()
        joined = node.join_seconds
        print(f"\nreal node {node.name}: images {build_seconds:.1f}s, join {joined:.1f}s")
        yield RealNodeEnv(cluster, registries, node, busybox, holder, build_seconds)
    finally:
        node.stop()
        node.wipe()  # containerd's content and snapshots: hundreds of MiB per session
