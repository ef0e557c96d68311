"""The chart's RBAC grants the operator's ServiceAccount what it needs and nothing more.

Checked with `kubectl auth can-i --as` against the real authorizer. The lead's e2e runs
the operator itself with this ServiceAccount's token; this table is the quick contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from e2e.chart.helpers import CHART, helm
from e2e.cluster.controlplane import LocalCluster

OTHER = "some-user-namespace"


@dataclass(frozen=True)
class Rbac:
    release: str
    namespace: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.release}"


@pytest.fixture(scope="module")
def rbac(cluster: LocalCluster) -> Iterator[Rbac]:
    """The chart's ServiceAccount and RBAC alone, applied into a fresh namespace."""
    suffix = uuid.uuid4().hex[:6]
    found = Rbac(release=f"modelprefetch-{suffix}", namespace=f"rbac-{suffix}")
    cluster.kubectl("create", "namespace", found.namespace)
    # `can-i` knows a custom resource only once its CRD is served: install it here rather
    # than rely on an earlier module of the session (modules run on xdist workers).
    crd = CHART / "crds" / "modelprefetch.io_modeldeployments.yaml"
    cluster.kubectl("apply", "--server-side", "-f", str(crd))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crd))
    manifest = helm(
        cluster, "template", found.release, str(CHART), "--namespace", found.namespace,
        "--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml",
    ).stdout  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=manifest)
    yield found
    cluster.kubectl("delete", "-f", "-", "--wait=false", input=manifest, check=False)
    cluster.kubectl("delete", "namespace", found.namespace, "--wait=false", check=False)


def can_i(cluster: LocalCluster, rbac: Rbac, verb: str, resource: str, namespace: str) -> bool:
    args = ["auth", "can-i", verb, resource.format(release=rbac.release), "--as", rbac.user]
    if namespace == "*":
        args.append("--all-namespaces")
    elif namespace:
        args += ["-n", rbac.namespace if namespace == "own" else namespace]
    return cluster.kubectl(*args, check=False).returncode == 0


# (verb, resource, namespace: "own" = the operator's, "*" = all, "" = cluster-scoped)
ALLOWED = [
    ("watch", "modeldeployments.modelprefetch.io", "*"),
    ("patch", "modeldeployments.modelprefetch.io", OTHER),
    ("patch", "modeldeployments.modelprefetch.io/status", OTHER),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("watch", "namespaces", ""),
    ("create", "events", OTHER),
    ("create", "events.events.k8s.io", OTHER),
    ("create", "daemonsets.apps", OTHER),
    ("patch", "daemonsets.apps", OTHER),
    ("delete", "daemonsets.apps", OTHER),
    ("watch", "pods", "*"),
    ("patch", "nodes", ""),
    ("create", "secrets", "own"),
    ("update", "secrets/{release}-webhook-tls", "own"),
    ("create", "leases.coordination.k8s.io", "own"),
    ("update", "leases.coordination.k8s.io/{release}-leader", "own"),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/{release}-pods", ""),
    (
        "patch",
        "validatingwebhookconfigurations.admissionregistration.k8s.io/{release}-modeldeployments",
        "",
    ),
]
DENIED = [
    # Pull secrets only where rbac.secretNamespaces lists the namespace (test_rbac_secrets).
    ("get", "secrets", OTHER),
    ("list", "secrets", OTHER),
    ("update", "secrets/other", "own"),
    ("delete", "modeldeployments.modelprefetch.io", OTHER),
    ("create", "pods", OTHER),
    ("delete", "nodes", ""),
    ("update", "leases.coordination.k8s.io/other", "own"),
    ("create", "leases.coordination.k8s.io", OTHER),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/other", ""),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", ""),
    ("create", "clusterroles.rbac.authorization.k8s.io", ""),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io", ""),
]


@pytest.mark.parametrize(("verb", "resource", "namespace"), ALLOWED)
def test_operator_may(
    cluster: LocalCluster, rbac: Rbac, verb: str, resource: str, namespace: str
) -> None:
    """The ServiceAccount is allowed this verb the operator needs."""
    assert can_i(cluster, rbac, verb, resource, namespace)


@pytest.mark.parametrize(("verb", "resource", "namespace"), DENIED)
def test_operator_may_not(
    cluster: LocalCluster, rbac: Rbac, verb: str, resource: str, namespace: str
) -> None:
    """The ServiceAccount is refused this verb it does not need."""
    assert not can_i(cluster, rbac, verb, resource, namespace)
