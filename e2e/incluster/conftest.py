"""A cluster of its own for the in-cluster suite: a control plane, two real nodes (each in
its own network namespace, see e2e.cluster.nodes) and the chart installed by helm.

The suite does not use the session `cluster`: other suites run the operator as a local
process with the chart's webhook configurations and RBAC under the same release names, and
the helm release must own those objects here. The cluster and its nodes live for this
module's tests only and are removed before the session goes on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import ProjectImage
from e2e.cluster.registries import Registries
from e2e.incluster.helm import Helm, diagnostics, is_ready, operator_pods
from e2e.incluster.prefetch import Prefetched, prefetch_big_model
from e2e.operator_tests.helpers import wait_for

REPLICAS = 2


@pytest.fixture(scope="package")
def incluster_nodes(
    e2e_workdir: Path, e2e_logdir: Path, registries: Registries
) -> Iterator[RealNodes]:
    """A control plane with two real nodes; stopped (nodes first) after the suite."""
    cluster = LocalCluster(workdir=e2e_workdir / "incluster", logdir=e2e_logdir / "incluster")
    nodes: RealNodes | None = None
    try:
        cluster.start()
        nodes = RealNodes.create(
            cluster,
            [r.host for r in registries.all()],
            registries.crane.host,
            e2e_workdir / "incluster-nodes",
            e2e_logdir / "incluster" / "nodes",
        )
        started = time.monotonic()
        nodes.ensure(REPLICAS, prefix="incluster")
        print(f"\n{REPLICAS} real nodes joined in {time.monotonic() - started:.1f}s")
        yield nodes
    finally:
        if nodes is not None:
            nodes.stop()
        cluster.stop()


@pytest.fixture(scope="package")
def incluster(incluster_nodes: RealNodes) -> LocalCluster:
    return incluster_nodes.cluster


@pytest.fixture(scope="package")
def pod_registry(incluster_nodes: RealNodes, registries: Registries) -> str:
    """The crane registry as pods see it (CONTROL_PLANE_IP:PORT on the node LAN).

    The nodes reach the host registries at 127.0.0.1:PORT through relays in their own
    namespaces, but a pod's 127.0.0.1 is its own: the operator pods resolve models over
    the LAN. So one more relay listens on the LAN address and forwards to the host
    registry's relay socket (no route or NAT to the host), and containerd on every node
    gets a plain-HTTP hosts.toml for that address, so the holder pods pull the same
    reference the operator resolved."""
    port = int(registries.crane.host.rsplit(":", 1)[1])
    host = incluster_nodes.network.serve_registry_on_lan(port)
    for node in incluster_nodes.nodes:
        node.trust_plain_http([host])
    return host


@pytest.fixture(scope="package")
def installed(
    incluster: LocalCluster, project_image: ProjectImage, registries: Registries, pod_registry: str
) -> Helm:
    """`helm install` as the README says, waited for until both replicas are Ready."""
    helm = Helm(incluster)
    started = time.monotonic()
    helm.install(project_image, registries.crane.host, pod_registry)

    def ready() -> bool:
        pods = operator_pods(incluster)
        return len(pods) == REPLICAS and all(is_ready(p) for p in pods)

    try:
        wait_for("both operator replicas Running and Ready", ready, timeout=300, interval=2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnostics(incluster)}") from None
    print(f"\nhelm install -> {REPLICAS} replicas Ready in {time.monotonic() - started:.1f}s")
    return helm


@pytest.fixture(scope="package")
def prefetched(
    installed: Helm,
    incluster_nodes: RealNodes,
    registries: Registries,
    pod_registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prefetched]:
    """The real model, Ready 2/2 (see prefetch.py); made by whichever test asks first."""
    yield from prefetch_big_model(incluster_nodes, registries, pod_registry, tmp_path_factory)


@pytest.fixture
def workload_namespace(incluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace for workload pods (the webhook ignores the release namespace)."""
    name = f"w-{uuid.uuid4().hex[:8]}"
    incluster.kubectl("create", "namespace", name)
    yield name
    incluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
