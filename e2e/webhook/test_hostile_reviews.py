"""Hostile AdmissionReviews sent straight to the running webhook over HTTPS: every one
gets a well-formed answer (an AdmissionReview naming the field, or HTTP 4xx for what
cannot be one) within the chart's webhook timeout, the operator's memory stays bounded,
and a normal review is still served afterwards."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.hostile.measure import RssSampler, documented_outcomes, rss_mib, write_results
from e2e.models import make_model_dir, push_model
from e2e.operator_process import MUTATING, OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    make_pool,
    model_deployment,
    wait_reason,
)
from e2e.webhook.workloads import configuration

WEBHOOK_TIMEOUT = 5.0  # charts/modelprefetch/values.yaml webhook.timeoutSeconds
RSS_BOUND_MIB = 400.0
MODEL = "hostile-md"
MIB = 1024 * 1024


@dataclass
class Target:
    host: str
    port: int
    context: ssl.SSLContext
    namespace: str


@pytest.fixture(scope="module")
def target(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    """The operator's webhook, trusted through the CA it published, and a resolved model
    on one fake CRI-O 1.34 node (mountable; admitted cold or warm, so the mutation path
    runs) in a fresh namespace."""
    unique = uuid.uuid4().hex[:6]
    namespace = f"t-hostile-wh-{unique}"
    reference = f"{registries.distribution.host}/models/hostile-wh-{unique}:v1"
    push_model(make_model_dir(tmp_path_factory.mktemp("hwh"), seed=unique), reference)
    cluster.kubectl("create", "namespace", namespace)
    nodes = [f"hwh-{unique}-0"]
    make_pool(cluster, nodes, f"hwh-{unique}", runtime="cri-o://1.34.2")
    try:
        apply(cluster, model_deployment(MODEL, namespace, reference, f"hwh-{unique}"))
        wait_reason(cluster, namespace, MODEL, "Resolved", "Resolved")
        wait_reason(cluster, namespace, MODEL, "Mountable", "Mountable")
        hooks = configuration(cluster, "mutatingwebhookconfiguration", MUTATING)["webhooks"]
        ca = base64.b64decode(hooks[0]["clientConfig"]["caBundle"]).decode()
        context = ssl.create_default_context(cadata=ca)
        yield Target("127.0.0.1", operator.webhook_port, context, namespace)
    finally:
        delete_nodes(cluster, nodes)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _post(target: Target, path: str, body: bytes) -> tuple[int, Any]:
    """POST over HTTPS; (status, parsed JSON or None). A server that closes the
    connection early on a huge body still counts if it answered."""
    conn = http.client.HTTPSConnection(
        target.host, target.port, context=target.context, timeout=WEBHOOK_TIMEOUT * 4
    )
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            for start in range(0, len(body), MIB):
                conn.send(body[start : start + MIB])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server refused the rest of the body; its answer is already sent
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, None


def _review(request: dict[str, Any], **top: Any) -> bytes:
    return json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request, **top}
    ).encode()


def _pod_request(namespace: str, uid: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    labels = {"modelprefetch.io/model": MODEL}
    return {
        "uid": uid,
        "operation": "CREATE",
        "namespace": namespace,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace, "labels": labels, **metadata},
            "spec": spec,
        },
    }


def _containers(n: int) -> list[dict[str, Any]]:
    return [{"name": f"c{i}", "image": "busybox"} for i in range(n)]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _cases(ns: str) -> list[tuple[str, str, bytes, str]]:
    """(case, path, body, what the answer must be): "4xx", or "allowed"/"denied" with
    a fragment after a colon that the message must hold."""
    mutate, validate = "/mutate-pods", "/validate-modeldeployments"
    normal = {"containers": _containers(1)}
    deep_unparseable = b'{"request":' * 200_000 + b"1" + b"}" * 200_000
    return [
        ("not JSON", mutate, b"{{{ not json", "4xx"),
        ("empty body", mutate, b"", "4xx"),
        ("JSON array", mutate, b"[1,2,3]", "4xx"),
        (
            "wrong apiVersion",
            mutate,
            _review({"uid": "u"}).replace(b"k8s.io/v1", b"k8s.io/v1beta1"),
            "4xx",
        ),
        ("wrong kind", mutate, _review({"uid": "u"}).replace(b"AdmissionReview", b"Pod"), "4xx"),
        ("uid not a string", mutate, _review({"uid": 12345}), "4xx"),
        ("50 MiB body", mutate, _review({"uid": "u", "pad": "x" * (50 * MIB)}), "4xx"),
        ("nesting 200k deep", mutate, deep_unparseable, "4xx"),
        (
            "nesting 900 deep in the pod",
            mutate,
            _review(_pod_request(ns, "deep", {**normal, "x": _nested(900)})),
            "allowed:",
        ),
        (
            "5000 containers",
            mutate,
            _review(_pod_request(ns, "many-c", {"containers": _containers(5000)})),
            "allowed:",
        ),
        (
            "5000 volumes",
            mutate,
            _review(
                _pod_request(
                    ns,
                    "many-v",
                    {**normal, "volumes": [{"name": f"v{i}", "emptyDir": {}} for i in range(5000)]},
                )
            ),
            "allowed:",
        ),
        (
            "our volume name taken",
            mutate,
            _review(
                _pod_request(
                    ns, "vol", {**normal, "volumes": [{"name": f"model-{MODEL}", "emptyDir": {}}]}
                )
            ),
            "denied:spec.volumes[0].name",
        ),
        (
            "our mount path taken",
            mutate,
            _review(
                _pod_request(
                    ns,
                    "mnt",
                    {
                        "containers": [
                            {
                                "name": "c",
                                "image": "b",
                                "volumeMounts": [{"name": "x", "mountPath": f"/models/{MODEL}"}],
                            }
                        ],
                        "volumes": [{"name": "x", "emptyDir": {}}],
                    },
                )
            ),
            "denied:spec.containers[0].volumeMounts[0].mountPath",
        ),
        (
            "containers not a list",
            mutate,
            _review(_pod_request(ns, "shape", {"containers": {"c": 1}})),
            "denied:spec.containers",
        ),
        (
            "object is a Deployment",
            mutate,
            _review(
                {
                    **_pod_request(ns, "dep", normal),
                    "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                }
            ),
            "denied:request.kind",
        ),
        (
            "uid of 10k unicode chars",
            mutate,
            _review(_pod_request(ns, "ü" * 10_000, normal)),
            "allowed:",
        ),
        (
            "spec of wrong types",
            validate,
            _review({"uid": "md", "operation": "CREATE", "object": {"spec": {"model": 5}}}),
            "denied:model",
        ),
        (
            "spec nesting 900 deep",
            validate,
            _review({"uid": "md-deep", "operation": "CREATE", "object": {"spec": _nested(900)}}),
            "denied:",
        ),
    ]


def test_hostile_reviews_get_well_formed_answers(target: Target, operator: OperatorProcess) -> None:
    assert operator.proc is not None
    pid = operator.proc.pid
    idle = rss_mib(pid)
    rows = []
    with RssSampler(pid, interval=0.05) as rss:
        for case, path, body, want in _cases(target.namespace):
            started = time.monotonic()
            status, answer = _post(target, path, body)
            seconds = time.monotonic() - started
            outcome, message = _judge(case, body, status, answer, want)
            assert seconds < WEBHOOK_TIMEOUT, (case, seconds)
            rows.append(
                {
                    "case": case,
                    "outcome": outcome,
                    "message": message[:300],
                    "seconds": round(seconds, 2),
                    "peak_rss_mib": rss.peak(started, time.monotonic()),
                }
            )
        # still serving: a plain pod is allowed, an opted-in one patched
        status, answer = _post(
            target,
            "/mutate-pods",
            _review(_pod_request(target.namespace, "after", {"containers": _containers(1)})),
        )
        assert status == 200 and answer["response"]["allowed"] is True, answer
        assert answer["response"].get("patch"), answer
    assert operator.proc.poll() is None, "the operator died"
    peak = rss.peak()
    write_results("webhook", rows, idle_rss_mib=round(idle, 1), peak_rss_mib=peak)
    assert peak < RSS_BOUND_MIB, f"operator RSS peaked at {peak} MiB"
    seen = {row["case"]: row["outcome"] for row in rows}
    assert seen == (documented_outcomes("webhook") or seen), (
        "outcomes differ from docs/security/hostile-inputs.json: run python -m e2e.hostile.report"
    )


def _judge(case: str, body: bytes, status: int, answer: Any, want: str) -> tuple[str, str]:
    if want == "4xx":
        assert 400 <= status < 500, (case, status, answer)
        message = answer.get("error", "") if isinstance(answer, dict) else ""
        return f"HTTP {status}", str(message)
    assert status == 200, (case, status, answer)
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == json.loads(body)["request"]["uid"], case
    verdict, _, fragment = want.partition(":")
    allowed = verdict == "allowed"
    assert response["allowed"] is allowed, (case, response)
    message = str(response.get("status", {}).get("message", ""))
    assert fragment in message, (case, message)
    return ("allowed" if allowed else f"denied {response['status']['code']}"), message
