"""The Helm chart against a real API server: lint, server-side dry run, install, upgrade."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from tests.chart_renders import values_file, values_sets

from e2e.chart.helpers import CHART, DEPLOY_MANIFEST, get, helm, helm_template, rendered_kinds
from e2e.cluster.controlplane import LocalCluster

# The golden values sets of tests/golden/chart (their renders are pinned there). Sets
# whose render needs CRDs this cluster lacks (cert-manager, prometheus-operator) are
# linted only.
BUILTIN_KINDS_ONLY = ("defaults", "external-operator", "restricted")


@pytest.fixture
def release(cluster: LocalCluster, namespace: str, unique: str) -> Iterator[str]:
    """A release name unique to the test; uninstalled afterwards (its webhooks fail closed)."""
    name = f"modelprefetch-{unique}"  # contains the chart name: object names = release name
    yield name
    helm(cluster, "uninstall", name, "--namespace", namespace, check=False)


@pytest.fixture
def installed(cluster: LocalCluster, namespace: str, release: str) -> str:
    """The chart installed with default values into a fresh namespace."""
    helm(cluster, "install", release, str(CHART), "--namespace", namespace)
    return release


@pytest.mark.parametrize("name", values_sets())
def test_helm_lint_is_clean(cluster: LocalCluster, name: str) -> None:
    """helm lint --strict reports nothing for every golden values set."""
    result = helm(cluster, "lint", "--strict", str(CHART), "--values", str(values_file(name)))
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[INFO]" not in result.stdout


@pytest.mark.parametrize("name", BUILTIN_KINDS_ONLY)
def test_api_server_accepts_the_rendered_chart(
    cluster: LocalCluster, namespace: str, release: str, name: str
) -> None:
    """kubectl apply --dry-run=server accepts every object helm template renders."""
    manifest = helm_template(cluster, release, namespace, values=values_file(name))
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert result.stdout.count("(server dry run)") == len(rendered_kinds(manifest))


def test_deployment_meets_the_restricted_pod_security_standard(
    cluster: LocalCluster, namespace: str, release: str
) -> None:
    """In a namespace enforcing restricted, the API server raises no PodSecurity warning."""
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    manifest = helm_template(cluster, release, namespace)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert "PodSecurity" not in result.stderr, result.stderr


def test_api_server_accepts_the_deploy_manifest(cluster: LocalCluster, namespace: str) -> None:
    """deploy/modelprefetch.yaml (the kubectl apply path) passes a server-side dry run."""
    # Moved into the test's own namespace: a dry-run Namespace is not persisted, and the
    # real modelprefetch-system belongs to the session operator.
    manifest = DEPLOY_MANIFEST.read_text().replace("modelprefetch-system", namespace)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert result.stdout.count("(server dry run)") == len(rendered_kinds(manifest))
    assert "PodSecurity" not in result.stderr, result.stderr


def test_install_creates_the_release_objects(
    cluster: LocalCluster, namespace: str, installed: str
) -> None:
    """helm install creates the operator, its RBAC, Services, webhooks and dashboards."""
    deployment = get(cluster, "deployment", installed, namespace)
    assert deployment["spec"]["replicas"] == 2
    for kind, name in (
        ("serviceaccount", installed),
        ("role", installed),
        ("rolebinding", installed),
        ("service", f"{installed}-webhook"),
        ("service", f"{installed}-metrics"),
        ("poddisruptionbudget", installed),
    ):
        assert get(cluster, kind, name, namespace)["metadata"]["name"] == name
    for kind, name in (
        ("clusterrole", installed),
        ("clusterrolebinding", installed),
        ("mutatingwebhookconfiguration", f"{installed}-pods"),
        ("validatingwebhookconfiguration", f"{installed}-modeldeployments"),
    ):
        assert get(cluster, kind, name)["metadata"]["name"] == name
    get(cluster, "crd", "modeldeployments.modelprefetch.io")
    dashboards = json.loads(
        cluster.kubectl(
            "get", "configmap", "-n", namespace, "-l", "grafana_dashboard=1", "-o", "json"
        ).stdout
    )["items"]
    assert len(dashboards) == 3


def test_install_status_is_deployed_with_notes(
    cluster: LocalCluster, namespace: str, installed: str
) -> None:
    """helm status reports the release deployed and prints the next step."""
    status = json.loads(helm(cluster, "status", installed, "-n", namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    assert "kind: ModelDeployment" in status["info"]["notes"]


def test_install_without_replicas_points_at_the_external_operator(
    cluster: LocalCluster, namespace: str, release: str
) -> None:
    """replicaCount=0 (operator outside the cluster) installs and its notes say so."""
    helm(cluster, "install", release, str(CHART), "--namespace", namespace,
         "--set", "replicaCount=0", "--set", "webhook.url=https://127.0.0.1:9443")  # fmt: skip
    status = json.loads(helm(cluster, "status", release, "-n", namespace, "-o", "json").stdout)
    assert "run `modelprefetch run` elsewhere" in status["info"]["notes"]
    assert get(cluster, "deployment", release, namespace)["spec"]["replicas"] == 0


def test_upgrade_applies_new_values(cluster: LocalCluster, namespace: str, installed: str) -> None:
    """helm upgrade with new values rolls them into the Deployment (revision 2)."""
    helm(cluster, "upgrade", installed, str(CHART), "-n", namespace,
         "--set", "replicaCount=3", "--set", "logLevel=debug")  # fmt: skip
    deployment = get(cluster, "deployment", installed, namespace)
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELPREFETCH_LOG_LEVEL"] == "DEBUG"
    status = json.loads(helm(cluster, "status", installed, "-n", namespace, "-o", "json").stdout)
    assert (status["version"], status["info"]["status"]) == (2, "deployed")


def test_upgrade_keeps_the_ca_bundle_the_operator_patched(
    cluster: LocalCluster, namespace: str, installed: str
) -> None:
    """A caBundle patched in by the operator survives helm upgrade (the chart never sets it)."""
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nfake\n").decode()
    configurations = (
        ("mutatingwebhookconfiguration", f"{installed}-pods"),
        ("validatingwebhookconfiguration", f"{installed}-modeldeployments"),
    )
    for kind, name in configurations:
        patch = [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ca}]
        cluster.kubectl("patch", kind, name, "--type=json", "-p", json.dumps(patch))
    helm(cluster, "upgrade", installed, str(CHART), "-n", namespace, "--set", "logLevel=debug")
    for kind, name in configurations:
        webhook = get(cluster, kind, name)["webhooks"][0]
        assert webhook["clientConfig"].get("caBundle") == ca, kind
