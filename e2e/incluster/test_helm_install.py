"""The chart installed the way the README tells users, onto two real nodes: both replicas
Ready on different nodes, the self-managed certificate issued and its CA patched into
both webhook configurations, admission answered through the webhook Service by either
replica (checked in each replica's own metrics, and while one replica is deleted)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import TAINT_KEY
from e2e.incluster.helm import (
    CERT_SECRET,
    DENIED_MISSING,
    MUTATING,
    NAMESPACE,
    VALIDATING,
    WEBHOOK_SERVICE,
    Helm,
    admit_labelled_pod,
    diagnostics,
    is_ready,
    kubectl_json,
    operator_pods,
)
from e2e.operator_tests.helpers import model_deployment, wait_for

pytestmark = pytest.mark.realnode

REQUESTS = re.compile(
    r"^modelprefetch_webhook_requests_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M
)


def test_both_replicas_ready_on_different_real_nodes(
    installed: Helm, incluster: LocalCluster
) -> None:
    pods = operator_pods(incluster)
    nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods}
    assert len(set(nodes.values())) == 2, (
        f"replicas share a node: {nodes}\n{diagnostics(incluster)}"
    )
    for node in nodes.values():
        taints = kubectl_json(incluster, "get", "node", str(node))["spec"].get("taints") or []
        assert any(t["key"] == TAINT_KEY for t in taints), f"{node} is not a real node"
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsUser"] == 65532
        assert all(
            s["ready"] and s["restartCount"] == 0 for s in pod["status"]["containerStatuses"]
        ), f"{pod['metadata']['name']} restarted\n{diagnostics(incluster)}"


def _ca_bundles(cluster: LocalCluster) -> list[tuple[str, dict[str, Any]]]:
    hooks = []
    for kind, name in (
        ("mutatingwebhookconfiguration", MUTATING),
        ("validatingwebhookconfiguration", VALIDATING),
    ):
        for hook in kubectl_json(cluster, "get", kind, name)["webhooks"]:
            hooks.append((f"{kind}/{name}:{hook['name']}", hook["clientConfig"]))
    return hooks


def test_self_signed_certificate_issued_and_ca_bundle_patched(
    installed: Helm, incluster: LocalCluster
) -> None:
    secret = wait_for(
        f"Secret {CERT_SECRET}",
        lambda: (
            incluster.kubectl(
                "get", "secret", "-n", NAMESPACE, CERT_SECRET, "-o", "json", check=False
            ).stdout
        ),
        timeout=60,
    )
    data = json.loads(secret)["data"]
    assert {"tls.crt", "tls.key", "ca.crt"} <= set(data), sorted(data)
    ca = data["ca.crt"]
    assert base64.b64decode(ca).startswith(b"-----BEGIN CERTIFICATE-----")

    def patched() -> list[str]:
        hooks = _ca_bundles(incluster)
        return [] if any(c.get("caBundle") != ca for _, c in hooks) else [h for h, _ in hooks]

    names = wait_for("caBundle = the Secret's ca.crt on every webhook", patched, timeout=60)
    assert len(names) >= 2, names
    for hook, client in _ca_bundles(incluster):
        assert "url" not in client, f"{hook} calls a URL, not the Service: {client}"
        assert client["service"]["name"] == WEBHOOK_SERVICE, (hook, client)
        assert client["service"]["namespace"] == NAMESPACE, (hook, client)


def _denied_count(cluster: LocalCluster, pod: str) -> float:
    """The replica's own modelprefetch_webhook_requests_total{decision="denied"}, read
    through the API server's pod proxy (the API server reaches pods on the node LAN)."""
    raw = cluster.kubectl(
        "get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}:8080/proxy/metrics"
    )
    return sum(
        float(m["value"])
        for m in REQUESTS.finditer(raw.stdout)
        if 'decision="denied"' in m["labels"]
    )


def test_admission_through_the_service_by_either_replica(
    installed: Helm, incluster: LocalCluster, workload_namespace: str
) -> None:
    wait_for("caBundle patched", lambda: all(c.get("caBundle") for _, c in _ca_bundles(incluster)))
    pods = [p["metadata"]["name"] for p in operator_pods(incluster)]
    before = {p: _denied_count(incluster, p) for p in pods}
    answers = [admit_labelled_pod(incluster, workload_namespace) for _ in range(24)]
    wrong = [a for a in answers if not DENIED_MISSING.search(a)]
    assert not wrong, (
        f"{len(wrong)}/24 not answered by the webhook: {wrong[:3]}\n{diagnostics(incluster)}"
    )
    served = {p: _denied_count(incluster, p) - before[p] for p in pods}
    # Every review is counted by one replica's own metrics. The API server keeps its
    # connection to the Service open, so one replica usually answers them all (kube-proxy
    # balances connections, not requests): the other one is shown by deleting this one.
    assert sum(served.values()) == 24, served
    victim = max(served, key=lambda p: served[p])
    survivor = next(p for p in pods if p != victim)
    survivor_before = _denied_count(incluster, survivor)

    # The serving replica deleted: the other answers while it terminates and is replaced
    # (maxUnavailable 0, PDB minAvailable 1; the endpoint leaves the Service first).
    incluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait=false")
    during = [admit_labelled_pod(incluster, workload_namespace) for _ in range(12)]
    wrong = [a for a in during if not DENIED_MISSING.search(a)]
    assert not wrong, f"{len(wrong)}/12 failed while {victim} was deleted: {wrong[:3]}"

    def replaced() -> bool:
        now = operator_pods(incluster)
        names = {p["metadata"]["name"] for p in now}
        return victim not in names and len(now) == 2 and all(is_ready(p) for p in now)

    try:
        wait_for(f"{victim} replaced by a Ready replica", replaced, timeout=180, interval=2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnostics(incluster)}") from None
    after = [admit_labelled_pod(incluster, workload_namespace) for _ in range(12)]
    assert all(DENIED_MISSING.search(a) for a in after), after[:3]
    current = [p["metadata"]["name"] for p in operator_pods(incluster)]
    gained = {p: _denied_count(incluster, p) - (survivor_before if p == survivor else 0)
              for p in current}  # fmt: skip
    # The 12 after the replacement are counted by the current replicas, none of which is
    # the deleted one: a second replica answered (the 12 during the delete may have been
    # answered by the terminating one, on the connection it still held).
    assert victim not in gained and sum(gained.values()) >= 12, gained
    print(f"\nadmission: {victim} answered 24/24; after its deletion: {gained}")


TRANSPORT_ERROR = re.compile(
    r"failed calling webhook .*(use of closed network connection|EOF|connection reset by peer)"
)


def test_validating_webhook_through_the_service(
    installed: Helm, incluster: LocalCluster, workload_namespace: str
) -> None:
    """A ModelDeployment the CRD accepts but the API model rejects: the operator's
    validating webhook refuses it, through the Service."""
    bad = model_deployment(
        "bad", workload_namespace, "registry.local/m:v1", "none", prefetch={"timeout": "5s"}
    )
    # The API server does not retry a webhook POST whose pooled connection broke under it
    # (seen once here: "use of closed network connection" through the egress proxy); such
    # a transport error is not the webhook's answer, so ask again, at most twice.
    for _ in range(3):
        out = incluster.kubectl(
            "create", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False
        )
        if not TRANSPORT_ERROR.search(out.stderr):
            break
    assert out.returncode != 0
    assert 'admission webhook "modeldeployments.modelprefetch.io" denied the request' in (
        out.stderr
    ), out.stderr
    assert "spec.prefetch.timeout: must be at least 10s" in out.stderr, out.stderr
