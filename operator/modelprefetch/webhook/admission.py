"""AdmissionReview v1 in and out: which pods get which models, and spec validation.

Malformed input: a body that is not JSON, not an object, or has no `request.uid` cannot
be answered with a review (the response must echo the uid), so it gets HTTP 400; the API
server then applies failurePolicy (Fail: the pod is refused). A review with a uid but a
bad shape is answered `allowed: false` with a message naming the field.

Which models a pod gets, in this order (the first is the primary one, see `patch`):
the `modelprefetch.io/model` label, the comma-separated `modelprefetch.io/models`
annotation, then every ModelDeployment of the namespace whose spec.mount.podSelector
matches the pod's labels (by name).

Not-ready choice (documented and tested):
- A named ModelDeployment that does not exist, is not resolved (no digest: nothing to
  pin), cannot be mounted by any runtime, or has an invalid spec: the pod is DENIED
  with the reason and the fix. So is one whose signature did not verify (spec.model.verify
  or the chart's verification.required): the denial names the Verified reason and the
  fix that reason and the model's policy call for (verification_hint). A
  ReplicaSet/Job controller retries pod creation with backoff, so pods appear by
  themselves once the model resolves.
- Resolved but warm on no node yet: the pod is ADMITTED with the pinned reference (the
  kubelet pulls the model itself where the pod lands), a Required scheduling is lowered
  to Preferred so the pod is not stranded Pending on a label no node has, and the
  response carries a warning that kubectl prints.
- Before the index has seen the first full list from the watch: opted-in pods are
  denied ("not ready yet, retried"), never admitted without their model.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from modelprefetch import constants
from modelprefetch.api.validation import describe
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.patch import PodConflictError, mutate_pod
from modelprefetch.webhook.types import ModelEntry, Readiness
from modelprefetch.webhook.usage import PodUsage, deletion_refusal, marker_ops

API_VERSION = "admission.k8s.io/v1"
MAX_BODY = 3 * 1024 * 1024  # etcd stores at most 1.5 MiB; a review may carry old + new

DECISION_ALLOWED = "allowed"
DECISION_PATCHED = "patched"
DECISION_DENIED = "denied"

SpecValidator = Callable[[Mapping[str, Any]], object]


class BadReviewError(Exception):
    """The body cannot be answered with an AdmissionReview (HTTP 400)."""


def parse_review(body: bytes) -> dict[str, Any]:
    """The `request` of an AdmissionReview v1 body, with a string uid; else BadReviewError."""
    if len(body) > MAX_BODY:
        raise BadReviewError(f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        review = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadReviewError(f"body is not JSON: {exc}") from None
    if not isinstance(review, dict):
        raise BadReviewError("body is not a JSON object")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != "AdmissionReview":
        raise BadReviewError(f"expected apiVersion {API_VERSION} kind AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise BadReviewError("request.uid is missing")
    return request


def response(
    uid: str,
    *,
    allowed: bool,
    message: str = "",
    code: int = 403,
    patch: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """A complete AdmissionReview v1 answer."""
    answer: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        answer["status"] = {"code": code, "message": message}
    if patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warnings:
        answer["warnings"] = warnings
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": answer}


def _names(value: object) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else []


def _field(key: str, where: str) -> str:
    return f'metadata.{where}["{key}"]'


def pod_models(request: Mapping[str, Any], index: ModelIndex) -> tuple[list[ModelEntry], list[str]]:
    """The models this pod asks for and the warnings to return; raises PodConflictError."""
    pod = request.get("object")
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    if not isinstance(metadata, dict):
        raise PodConflictError("metadata", "the pod has no metadata")
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise PodConflictError("metadata", "labels and annotations must be objects")
    if not all(isinstance(v, str) for v in labels.values()):
        raise PodConflictError("metadata.labels", "label values must be strings")
    namespace = request.get("namespace") or metadata.get("namespace") or ""
    if not isinstance(namespace, str):
        raise PodConflictError("namespace", "must be a string")
    asked = [
        (name, _field(constants.POD_MODEL_LABEL, "labels"))
        for name in _names(labels.get(constants.POD_MODEL_LABEL))
    ] + [
        (name, _field(constants.POD_MODELS_ANNOTATION, "annotations"))
        for name in _names(annotations.get(constants.POD_MODELS_ANNOTATION))
    ]
    if constants.POD_MODEL_LABEL in labels and not asked:
        raise PodConflictError(
            _field(constants.POD_MODEL_LABEL, "labels"), "name a ModelDeployment in the label"
        )
    if not index.synced:  # every pod that reaches us opted in: never admit it without its model
        raise PodConflictError(
            "metadata", "the modelprefetch webhook has not loaded ModelDeployments yet; retry"
        )
    models: dict[str, ModelEntry] = {}
    for name, field in asked:
        if name in models:
            continue
        entry = index.get(namespace, name)
        if entry is None:
            raise PodConflictError(
                field,
                f'ModelDeployment "{name}" not found in namespace "{namespace}"; '
                "create it first or fix the name",
            )
        models[name] = entry
    for entry in index.selected(namespace, labels):
        models.setdefault(entry.name, entry)
    warnings = []
    for entry in models.values():
        if entry.readiness in (Readiness.WARM, Readiness.COLD):
            if entry.readiness is Readiness.COLD:
                warnings.append(
                    f"ModelDeployment {namespace}/{entry.name} is not warm on any node yet: "
                    "the model is pulled where the pod lands; warm-node affinity is Preferred"
                )
            continue
        fix = {
            Readiness.UNRESOLVED: "wait until its status shows a resolved digest "
            "(kubectl get md) and create the pod again",
            Readiness.NOT_MOUNTABLE: "use a runtime that can mount it (CRI-O >= 1.34 or "
            "containerd with spec.model.allowDerivation: true) or publish an OCI image",
            Readiness.INVALID: "fix the ModelDeployment spec",
            Readiness.UNVERIFIED: "no pod may use it before its signature verifies "
            "(kubectl describe md)",
        }[entry.readiness]
        fix = entry.fix or fix  # an unverified model: the fix its policy and reason call for
        raise PodConflictError(
            f"ModelDeployment {namespace}/{entry.name}",
            f"{entry.readiness}: {entry.message}; {fix}",
        )
    return list(models.values()), warnings


def _require_pod(request: Mapping[str, Any]) -> None:
    """Only pods are ours to patch; a misrouted rule or a hostile client may send else."""
    kind = request.get("kind")
    if kind is not None and (
        not isinstance(kind, dict) or (kind.get("group"), kind.get("kind")) != ("", "Pod")
    ):
        raise PodConflictError("request.kind", f"expected core/v1 Pod, got {str(kind)[:100]}")
    obj = request.get("object")
    if isinstance(obj, dict) and obj.get("kind", "Pod") != "Pod":
        raise PodConflictError("object.kind", f"expected Pod, got {str(obj.get('kind'))[:100]}")


def review_pod(request: Mapping[str, Any], index: ModelIndex) -> tuple[dict[str, Any], str]:
    """Answer a pod admission: (AdmissionReview, decision)."""
    uid = str(request["uid"])
    if request.get("operation") != "CREATE" or request.get("subResource"):
        return response(uid, allowed=True), DECISION_ALLOWED
    try:
        _require_pod(request)
        models, warnings = pod_models(request, index)
        if not models:
            return response(uid, allowed=True), DECISION_ALLOWED
        # the label lets the operator watch exactly the pods that use models (usage.py)
        ops = [*mutate_pod(request["object"], models), *marker_ops(request["object"])]
    except PodConflictError as exc:
        message = f"modelprefetch: {exc.field}: {exc.message}"
        return response(uid, allowed=False, message=message), DECISION_DENIED
    decision = DECISION_PATCHED if ops else DECISION_ALLOWED
    return response(uid, allowed=True, patch=ops, warnings=warnings), decision


def review_modeldeployment(
    request: Mapping[str, Any], validate: SpecValidator, usage: PodUsage | None = None
) -> tuple[dict[str, Any], str]:
    """Validate a ModelDeployment's spec with the API model; deny with field paths.

    A DELETE is refused while pods use the model (see `usage`); without `usage` (no
    pod watch in this process) every DELETE is allowed.
    """
    uid = str(request["uid"])
    if request.get("operation") == "DELETE" and usage is not None:
        refusal = deletion_refusal(request, usage)
        if refusal is not None:
            return response(
                uid, allowed=False, message=f"modelprefetch: {refusal}"
            ), DECISION_DENIED
        return response(uid, allowed=True), DECISION_ALLOWED
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return response(uid, allowed=True), DECISION_ALLOWED
    obj = request.get("object")
    spec = obj.get("spec") if isinstance(obj, dict) else None
    old = request.get("oldObject")
    if request.get("operation") == "UPDATE" and isinstance(old, dict) and old.get("spec") == spec:
        # the same check as the matchCondition, for API servers that ignore it
        return response(uid, allowed=True), DECISION_ALLOWED
    if not isinstance(spec, dict):
        return response(
            uid, allowed=False, code=422, message="spec: required; see kubectl explain md.spec"
        ), DECISION_DENIED
    try:
        validate(spec)
    except ValidationError as exc:
        return response(uid, allowed=False, code=422, message=describe(exc)), DECISION_DENIED
    return response(uid, allowed=True), DECISION_ALLOWED
