"""The deletion guard: which pods use a model, and the decision on a ModelDeployment DELETE."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelprefetch import constants
from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.errors import KubernetesError
from modelprefetch.webhook.admission import review_modeldeployment, review_pod
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app
from modelprefetch.webhook.usage import PodUsage, marker_ops
from modelprefetch.webhook.usage_watch import follow_pod_usage

from .helpers import apply_patch, md, pod

ALLOW = constants.ANNOTATION_ALLOW_DELETE_IN_USE


def using(
    name: str, models: str, namespace: str = "team", phase: str = "Running", **meta: Any
) -> dict[str, Any]:
    """A pod our webhook mutated: labelled, the annotation lists `models`."""
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {constants.POD_INJECTED_LABEL: "true"},
            "annotations": {constants.POD_INJECTED_ANNOTATION: models},
            **meta,
        },
        "status": {"phase": phase},
    }


def usage_of(*pods: dict[str, Any]) -> PodUsage:
    usage = PodUsage()
    usage.replace_all(pods)
    return usage


def delete(name: str = "llama", namespace: str = "team", **annotations: str) -> dict[str, Any]:
    old = {"metadata": {"name": name, "namespace": namespace, "annotations": annotations}}
    return {
        "uid": "u-1",
        "operation": "DELETE",
        "namespace": namespace,
        "name": name,
        "object": None,
        "oldObject": old,
    }


def decide(request: dict[str, Any], usage: PodUsage) -> tuple[str, str]:
    answer, decision = review_modeldeployment(request, parse_spec, usage)
    return decision, answer["response"].get("status", {}).get("message", "")


def test_in_use_is_denied_naming_the_pods() -> None:
    """Running and Pending pods using the model are named, with the count and the fix."""
    usage = usage_of(using("a", "llama"), using("b", "llama,other", phase="Pending"))
    decision, message = decide(delete(), usage)
    assert decision == "denied"
    assert message == (
        "modelprefetch: ModelDeployment team/llama is in use by 2 running or pending pods "
        "(team/a, team/b); delete them first, or set the annotation "
        f"{ALLOW}=true on it (kubectl annotate md llama -n team {ALLOW}=true)"
    )


def test_annotation_overrides() -> None:
    """allow-delete-in-use: "true" lets the deletion through although pods use the model."""
    assert decide(delete(**{ALLOW: "true"}), usage_of(using("a", "llama")))[0] == "allowed"
    assert decide(delete(**{ALLOW: "no"}), usage_of(using("a", "llama")))[0] == "denied"


def test_no_pods_is_allowed() -> None:
    assert decide(delete(), usage_of()) == ("allowed", "")


def test_other_models_namespaces_and_finished_pods_do_not_count() -> None:
    usage = usage_of(
        using("x", "other"),
        using("y", "llama", namespace="elsewhere"),
        using("done", "llama", phase="Succeeded"),
        using("crashed", "llama", phase="Failed"),
        using("going", "llama", deletionTimestamp="2026-01-01T00:00:00Z"),
    )
    assert decide(delete(), usage) == ("allowed", "")


def test_pod_events_update_the_count() -> None:
    """A pod that finishes, is deleted or drops the model stops counting."""
    usage = usage_of(using("a", "llama"), using("b", "llama"))
    usage.apply("MODIFIED", using("a", "llama", phase="Succeeded"))
    assert usage.users("team", "llama") == ["b"]
    usage.apply("DELETED", using("b", "llama"))
    assert decide(delete(), usage)[0] == "allowed"
    assert len(usage) == 0
    usage.apply("ADDED", using("c", "llama"))
    assert usage.users("team", "llama") == ["c"]


def test_message_is_bounded_at_a_thousand_pods() -> None:
    usage = usage_of(*(using(f"pod-{i:04d}", "llama") for i in range(1000)))
    decision, message = decide(delete(), usage)
    assert decision == "denied"
    assert "in use by 1000 running or pending pods" in message
    assert "team/pod-0000, team/pod-0001" in message and "and 995 more" in message
    assert "pod-0005" not in message
    assert len(message) < 400


def test_not_synced_is_denied_unless_annotated() -> None:
    """Before the first pod list the guard knows nothing: retry, or the override."""
    decision, message = decide(delete(), PodUsage())
    assert decision == "denied" and "has not loaded the pods" in message and ALLOW in message
    assert decide(delete(**{ALLOW: "true"}), PodUsage())[0] == "allowed"


def test_object_already_deleting_is_allowed() -> None:
    request = delete()
    request["oldObject"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert decide(request, usage_of(using("a", "llama")))[0] == "allowed"


def test_without_a_pod_watch_deletion_is_allowed() -> None:
    _, decision = review_modeldeployment(delete(), parse_spec)
    assert decision == "allowed"


def test_mutated_pod_gets_the_marker_label() -> None:
    """The pod webhook labels pods it gives a model, so the watch can select them."""
    request = {"uid": "u", "operation": "CREATE", "namespace": "team", "object": pod()}
    index = ModelIndex()
    index.replace_all([md()])
    answer, _ = review_pod(request, index)
    ops = json.loads(base64.b64decode(answer["response"]["patch"]))
    labels = apply_patch(pod(), ops)["metadata"]["labels"]
    assert labels[constants.POD_INJECTED_LABEL] == "true"


def test_marker_ops_without_labels_and_reinvoked() -> None:
    bare: dict[str, Any] = {"metadata": {}}
    labelled = apply_patch(bare, marker_ops(bare))
    assert labelled["metadata"]["labels"] == {constants.POD_INJECTED_LABEL: "true"}
    assert marker_ops(labelled) == []


class FakePods:
    """A list then a watch stream that breaks once (410 Gone) and is re-listed."""

    def __init__(self) -> None:
        self.selectors: list[str | None] = []
        self.lists = 0

    async def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Any:
        self.selectors.append(label_selector)
        self.lists += 1
        items = [using("a", "llama")] if self.lists == 1 else [using("b", "llama")]
        return {"metadata": {"resourceVersion": str(self.lists)}, "items": items}

    async def watch(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, Any]]:
        self.selectors.append(label_selector)
        if self.lists == 1:
            yield "ADDED", using("c", "llama")
            raise KubernetesError("too old resource version", status=410)
        await asyncio.sleep(3600)
        yield "BOOKMARK", {}


async def test_watch_is_narrowed_by_the_label_and_relists_after_a_break(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("modelprefetch.webhook.usage_watch.WATCH_RETRY", 0.0)
    source, usage = FakePods(), PodUsage()
    task = asyncio.create_task(follow_pod_usage(source, "pods", usage))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if source.lists == 2:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(source.selectors) == {constants.POD_INJECTED_LABEL}
    assert usage.synced and usage.users("team", "llama") == ["b"]  # the re-list replaced all


async def test_deletion_guard_over_http() -> None:
    """create_app(usage=...) routes a DELETE review to the guard."""
    usage = usage_of(using("a", "llama"))
    app = create_app(ModelIndex(), recorder=lambda *r: None, usage=usage)
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": delete()}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        denied = await (await client.post("/validate-modeldeployments", json=review)).json()
        usage.apply("DELETED", using("a", "llama"))
        allowed = await (await client.post("/validate-modeldeployments", json=review)).json()
    assert denied["response"]["allowed"] is False
    assert "team/a" in denied["response"]["status"]["message"]
    assert allowed["response"] == {"uid": "u-1", "allowed": True}
