"""The webhook admits no pod for a model whose Verified condition is not True."""

from __future__ import annotations

from typing import Any

from modelprefetch.webhook.admission import review_pod
from modelprefetch.webhook.index import ModelIndex

from .helpers import md, pod

KEYS = {"publicKeys": [{"configMapName": "signers"}]}


def _verified(obj: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
    obj["status"]["conditions"].append(
        {"type": "Verified", "status": status, "reason": reason, "message": "why"}
    )
    return obj


def _decide(obj: dict[str, Any]) -> tuple[str, str]:
    index = ModelIndex()
    index.replace_all([obj])
    request = {"uid": "u", "operation": "CREATE", "namespace": "team", "object": pod()}
    answer, decision = review_pod(request, index)
    return decision, str(answer["response"].get("status", {}).get("message", ""))


def _with_verify(obj: dict[str, Any]) -> dict[str, Any]:
    obj["spec"]["model"]["verify"] = KEYS
    return obj


def test_failed_verification_denies_naming_model_and_reason() -> None:
    for reason in ("SignatureMissing", "UntrustedSigner", "SignatureInvalid"):
        decision, message = _decide(_verified(_with_verify(md()), "False", reason))
        assert decision == "denied"
        assert "ModelDeployment team/llama" in message and f"NotVerified: {reason}: why" in message


def test_spec_asking_for_verification_without_verdict_is_denied() -> None:
    decision, message = _decide(_with_verify(md()))
    assert decision == "denied" and "not verified its signature yet" in message


def test_cluster_policy_verdict_denies_even_without_spec_verify() -> None:
    decision, message = _decide(_verified(md(), "False", "VerificationRequired"))
    assert decision == "denied" and "VerificationRequired" in message


def test_verified_model_is_admitted() -> None:
    decision, _ = _decide(_verified(_with_verify(md()), "True", "Verified"))
    assert decision == "patched"
