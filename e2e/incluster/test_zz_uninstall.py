"""`helm uninstall` as the chart README documents it (ModelDeployments deleted first, their
finalizers removed by the operator): no webhook configurations, DaemonSets, operator pods
or operator node labels are left behind; the CRD stays. Runs last in this package: it
removes the release the other tests use."""

from __future__ import annotations

import json

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import LABEL_KEY
from e2e.incluster.helm import (
    MUTATING,
    NAMESPACE,
    RELEASE,
    VALIDATING,
    Helm,
    diagnostics,
    kubectl_json,
    operator_pods,
)
from e2e.operator_tests.helpers import wait_for
from modelprefetch.constants import ANNOTATION_ALLOW_DELETE_IN_USE

pytestmark = pytest.mark.realnode

CRD = "modeldeployments.modelprefetch.io"
GROUP_PREFIX = "modelprefetch.io/"


def _leftover_node_labels(cluster: LocalCluster) -> dict[str, list[str]]:
    nodes = kubectl_json(cluster, "get", "nodes")["items"]
    return {
        n["metadata"]["name"]: found
        for n in nodes
        if (
            found := [
                k
                for k in n["metadata"].get("labels", {})
                if k.startswith(GROUP_PREFIX) and k != LABEL_KEY
            ]
        )
    }


def test_helm_uninstall_leaves_nothing_but_the_crd(
    installed: Helm, incluster: LocalCluster
) -> None:
    """The README's uninstall: ModelDeployments first (readers still use one, so the
    deletion guard asks for its override annotation), then `helm uninstall`."""
    incluster.kubectl(
        "annotate", "modeldeployments", "--all", "-A", f"{ANNOTATION_ALLOW_DELETE_IN_USE}=true"
    )
    incluster.kubectl("delete", "modeldeployments", "--all", "-A", "--wait=false")
    try:
        wait_for(
            "every ModelDeployment gone (finalizers removed by the operator)",
            lambda: not kubectl_json(incluster, "get", "modeldeployments", "-A")["items"],
            timeout=120,
            interval=1,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnostics(incluster)}") from None
    installed.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "3m")

    wait_for("the operator pods gone", lambda: not operator_pods(incluster), timeout=120)
    for kind, name in (
        ("mutatingwebhookconfiguration", MUTATING),
        ("validatingwebhookconfiguration", VALIDATING),
    ):
        out = incluster.kubectl("get", kind, name, check=False)
        assert out.returncode != 0 and "NotFound" in out.stderr, f"{kind}/{name} left behind"
    daemonsets = kubectl_json(incluster, "get", "daemonsets", "-A")["items"]
    ours = [
        f"{d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in daemonsets
        if any(k.startswith(GROUP_PREFIX) for k in d["metadata"].get("labels", {}))
        or d["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "modelprefetch"
    ]
    assert not ours, f"DaemonSets left behind: {ours}"
    assert not _leftover_node_labels(incluster), _leftover_node_labels(incluster)
    crd = kubectl_json(incluster, "get", "crd", CRD)
    assert crd["metadata"]["name"] == CRD, "the CRD must stay (documented)"
    leftovers = incluster.kubectl(
        "get",
        "all,secrets,configmaps,roles,rolebindings,serviceaccounts",
        "-n",
        NAMESPACE,
        "-l",
        f"app.kubernetes.io/instance={RELEASE}",
        "-o",
        "json",
    )
    items = json.loads(leftovers.stdout)["items"]
    assert not items, [f"{i['kind']}/{i['metadata']['name']}" for i in items]
