"""Pod admission and ModelDeployment validation decisions (no HTTP)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.webhook.admission import (
    BadReviewError,
    parse_review,
    review_modeldeployment,
    review_pod,
)
from modelprefetch.webhook.index import ModelIndex

from .helpers import apply_patch, md, pod


def request(
    obj: dict[str, Any], operation: str = "CREATE", namespace: str = "team"
) -> dict[str, Any]:
    return {"uid": "u-1", "operation": operation, "namespace": namespace, "object": obj}


def index_of(*objs: dict[str, Any]) -> ModelIndex:
    index = ModelIndex()
    index.replace_all(objs)
    return index


def patched(answer: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    ops = json.loads(base64.b64decode(answer["response"]["patch"]))
    return apply_patch(obj, ops)


def test_labelled_pod_is_patched() -> None:
    """A pod labelled for a warm ModelDeployment gets a JSONPatch with the volume."""
    answer, decision = review_pod(request(pod()), index_of(md()))
    assert decision == "patched"
    assert answer["response"]["patchType"] == "JSONPatch"
    assert patched(answer, pod())["spec"]["volumes"][0]["name"] == "model-llama"


def test_response_echoes_uid_and_review_kind() -> None:
    """The answer is an AdmissionReview v1 with the request's uid."""
    answer, _ = review_pod(request(pod()), index_of(md()))
    assert (answer["apiVersion"], answer["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert answer["response"]["uid"] == "u-1"


def test_unknown_model_denied_naming_the_label() -> None:
    """A label naming a missing ModelDeployment is denied with the label as field."""
    answer, decision = review_pod(request(pod()), index_of())
    assert decision == "denied"
    message = answer["response"]["status"]["message"]
    assert 'metadata.labels["modelprefetch.io/model"]' in message and "not found" in message


def test_unresolved_model_denied() -> None:
    """Choice: a model without a digest is denied, telling to wait for resolution."""
    answer, decision = review_pod(request(pod()), index_of(md(resolved=False)))
    assert decision == "denied"
    assert "Unresolved: tag v1 not found" in answer["response"]["status"]["message"]


def test_not_mountable_model_denied() -> None:
    """A model no runtime can mount is denied with the fix."""
    answer, _ = review_pod(request(pod()), index_of(md(mountable=False)))
    assert "NotMountable" in answer["response"]["status"]["message"]


def test_cold_model_admitted_with_warning_and_preferred_affinity() -> None:
    """Choice: a resolved model warm nowhere is admitted, Preferred affinity, with a warning."""
    spec = {"model": {"reference": "r.local/m:v1"}, "mount": {"scheduling": "Required"}}
    answer, decision = review_pod(request(pod()), index_of(md(spec=spec, ready_nodes=0)))
    assert decision == "patched"
    assert "not warm on any node" in answer["response"]["warnings"][0]
    node_affinity = patched(answer, pod())["spec"]["affinity"]["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in node_affinity


def test_warm_required_model_gets_required_affinity() -> None:
    """A warm model with Required scheduling gets a required term."""
    spec = {"model": {"reference": "r.local/m:v1"}, "mount": {"scheduling": "Required"}}
    answer, _ = review_pod(request(pod()), index_of(md(spec=spec)))
    node_affinity = patched(answer, pod())["spec"]["affinity"]["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in node_affinity


def test_annotation_adds_more_models_after_the_label() -> None:
    """The models annotation adds models; the label's model stays primary."""
    p = pod()
    p["metadata"]["annotations"] = {"modelprefetch.io/models": "b, c"}
    answer, _ = review_pod(request(p), index_of(md(), md("b"), md("c")))
    out = patched(answer, p)
    assert [v["name"] for v in out["spec"]["volumes"]] == ["model-llama", "model-b", "model-c"]
    env = {e["name"]: e["value"] for e in out["spec"]["containers"][0]["env"]}
    assert env["MODEL_PATH"] == "/models/llama"


def test_pod_selector_opt_in_without_label() -> None:
    """A pod matching a podSelector gets the model without our label."""
    spec = {
        "model": {"reference": "r.local/m:v1"},
        "mount": {"podSelector": {"matchLabels": {"app": "web"}}},
    }
    p = pod()
    p["metadata"]["labels"] = {"app": "web"}
    answer, decision = review_pod(request(p), index_of(md("sel", spec=spec)))
    assert decision == "patched"
    assert patched(answer, p)["spec"]["volumes"][0]["name"] == "model-sel"


def test_pod_without_models_is_allowed_unchanged() -> None:
    """A pod that asks for nothing is allowed without a patch."""
    p = pod()
    p["metadata"]["labels"] = {}
    answer, decision = review_pod(request(p), index_of(md()))
    assert decision == "allowed" and "patch" not in answer["response"]


def test_conflict_denied_naming_pod_field() -> None:
    """A taken mount path is denied with the pod field and the fix."""
    p = pod({"name": "app", "volumeMounts": [{"name": "x", "mountPath": "/models/llama"}]})
    answer, _ = review_pod(request(p), index_of(md()))
    message = answer["response"]["status"]["message"]
    assert "spec.containers[0].volumeMounts[0].mountPath" in message
    assert "spec.mount.path" in message


def test_index_not_synced_denies() -> None:
    """Before the first full list, opted-in pods are denied, not admitted bare."""
    answer, decision = review_pod(request(pod()), ModelIndex())
    assert decision == "denied"
    assert "not loaded" in answer["response"]["status"]["message"]


def test_update_is_allowed_untouched() -> None:
    """Only CREATE is mutated."""
    answer, decision = review_pod(request(pod(), operation="UPDATE"), index_of())
    assert decision == "allowed" and answer["response"]["allowed"]


def test_object_without_metadata_is_denied_not_crashing() -> None:
    """A review whose object has no metadata is denied with a message."""
    answer, decision = review_pod({"uid": "u", "operation": "CREATE", "object": 5}, index_of())
    assert decision == "denied" and "metadata" in answer["response"]["status"]["message"]


def test_bad_spec_denied_with_field_path() -> None:
    """An invalid ModelDeployment spec is denied with the camelCase field path."""
    obj = md(spec={"model": {"reference": "r.local/m:v1"}, "prefetch": {"maxConcurrentNodes": -1}})
    answer, decision = review_modeldeployment(request(obj), parse_spec)
    assert decision == "denied"
    assert answer["response"]["status"]["message"].startswith("spec.prefetch.maxConcurrentNodes:")


def test_good_spec_allowed() -> None:
    """A valid spec is allowed."""
    _, decision = review_modeldeployment(request(md()), parse_spec)
    assert decision == "allowed"


def test_missing_spec_denied() -> None:
    """A ModelDeployment without a spec is denied naming spec."""
    answer, _ = review_modeldeployment(request({"metadata": {}}), parse_spec)
    assert answer["response"]["status"]["message"].startswith("spec:")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}',
        b'{"apiVersion": "v1", "kind": "AdmissionReview", "request": {"uid": "x"}}',
        b"[" * 100_000,
    ],
)
def test_unanswerable_bodies_raise_bad_review(body: bytes) -> None:
    """Bodies without a usable request.uid are rejected as bad reviews."""
    with pytest.raises(BadReviewError):
        parse_review(body)


def test_non_string_label_values_are_denied() -> None:
    """Label values that are not strings are denied, not crashed on."""
    p = pod()
    p["metadata"]["labels"]["app"] = ["x"]
    answer, decision = review_pod(request(p), index_of(md()))
    assert decision == "denied" and "metadata.labels" in answer["response"]["status"]["message"]


def test_metadata_only_update_is_allowed() -> None:
    """An UPDATE that keeps the spec (e.g. finalizer removal) is allowed even if the spec is bad."""
    obj = md(spec={"model": {"reference": "r.local/m:v1"}, "prefetch": {"timeout": "1s"}})
    req = request(obj, operation="UPDATE") | {"oldObject": obj}
    _, decision = review_modeldeployment(req, parse_spec)
    assert decision == "allowed"


def test_update_changing_spec_is_validated() -> None:
    """An UPDATE that changes the spec is validated."""
    old = md()
    new = md(spec={"model": {"reference": "r.local/m:v1"}, "prefetch": {"timeout": "1s"}})
    _, decision = review_modeldeployment(
        request(new, operation="UPDATE") | {"oldObject": old}, parse_spec
    )
    assert decision == "denied"
