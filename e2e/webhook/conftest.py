"""Fixtures of the webhook e2e tests: the session operator with its CA published, and one
ModelDeployment Ready on two fake nodes with a Deployment of two opted-in pods."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    make_pool,
    model_deployment,
    pods,
    wait_for,
    wait_ready,
)
from e2e.webhook.workloads import MODEL_LABEL, delete_models, deployment, wait_ca_bundles

PULL_SECRET = "regcred"


@pytest.fixture
def webhook(cluster: LocalCluster, operator: OperatorProcess) -> OperatorProcess:
    """The session operator, ready, with its CA published on both configurations."""
    wait_ca_bundles(cluster)
    return operator


@dataclass(frozen=True)
class Served:
    """A Ready ModelDeployment (basic-auth registry, pull secret) and its Deployment's pods."""

    namespace: str
    name: str
    md: dict[str, Any]  # as read when Ready
    nodes: list[str]
    pods: list[dict[str, Any]]  # scheduled pods of the Deployment


@pytest.fixture(scope="module")
def served(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """ModelDeployment `served` Ready 2/2 on fake nodes, then a Deployment labelled for it."""
    unique = uuid.uuid4().hex[:6]
    namespace, name = f"t-wh-{unique}", "served"
    auth = registries.distribution_auth
    reference = f"{auth.host}/models/served-{unique}:v1"
    push_model(
        make_model_dir(tmp_path_factory.mktemp("served"), seed=unique),
        reference,
        username=auth.username,
        password=auth.password,
    )
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "create",
        "secret",
        "docker-registry",
        PULL_SECRET,
        "-n",
        namespace,
        "--docker-server",
        auth.host,
        "--docker-username",
        auth.username or "",
        "--docker-password",
        auth.password or "",
    )
    nodes = [f"served-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, f"served-{unique}")
    try:
        wait_ca_bundles(cluster)
        apply(
            cluster,
            model_deployment(
                name,
                namespace,
                reference,
                f"served-{unique}",
                model={"pullSecrets": [{"name": PULL_SECRET}]},
                mount={"subPath": "extra", "scheduling": "Required"},
            ),
        )
        md = wait_ready(cluster, namespace, name, "2/2")
        apply(cluster, deployment(namespace, "web", {MODEL_LABEL: name}, replicas=2))
        scheduled = wait_for(
            "2 scheduled pods of the Deployment",
            lambda: (
                found
                if len(
                    found := [
                        p for p in pods(cluster, namespace, "app=web") if p["spec"].get("nodeName")
                    ]
                )
                == 2
                else None
            ),
        )
        yield Served(namespace, name, md, nodes, scheduled)
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def webhook_down(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The operator (and so the webhook) stopped for one test, started again after it."""
    operator.stop()
    try:
        yield operator
    finally:
        operator.start()
