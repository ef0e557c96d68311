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


KEYLESS = {
    "keyless": [
        {
            "trustedRoot": {"configMapName": "sigstore-root"},
            "identity": "release@example.com",
            "issuerRegExp": "https://issuer\\.example\\.com/.*",
        }
    ]
}


def _with_policy(obj: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    obj["spec"]["model"]["verify"] = policy
    return obj


def test_keyless_policy_denial_names_identity_issuer_and_keyless_field() -> None:
    for reason in ("SignatureMissing", "UntrustedSigner"):
        decision, message = _decide(_verified(_with_policy(md(), KEYLESS), "False", reason))
        assert decision == "denied"
        assert (
            "keylessly with a certificate whose identity and issuer match identity "
            "'release@example.com' issuer ~'https://issuer\\\\.example\\\\.com/.*' "
            "(ConfigMap sigstore-root[trusted_root.json]), or fix spec.model.verify.keyless"
        ) in message, message
        assert "trusted key" not in message and "publicKeys" not in message


def test_key_policy_denial_names_key_sources_not_keyless() -> None:
    decision, message = _decide(_verified(_with_verify(md()), "False", "UntrustedSigner"))
    assert decision == "denied"
    assert (
        "sign the model's digest again with a trusted key (`cosign sign --key`, public key "
        "in ConfigMap signers[cosign.pub]) or fix spec.model.verify.publicKeys"
    ) in message, message
    assert "keyless" not in message


def test_both_policies_offer_both_ways() -> None:
    both = {**KEYS, **KEYLESS}
    _, message = _decide(_verified(_with_policy(md(), both), "False", "SignatureMissing"))
    assert "spec.model.verify.publicKeys; or sign the model's digest keylessly" in message


def test_hint_follows_the_verified_reason() -> None:
    hints = {
        "SignatureMissing": "sign the model's digest with a trusted key",
        "UntrustedSigner": "sign the model's digest again with a trusted key",
        "SignatureInvalid": "a signature is malformed or vouches for another digest: "
        "sign this digest with a trusted key",
        "ModelDigestMismatch": "sign the model folder again (model_signing sign key)",
        "PublicKeyNotFound": "create the Secret/ConfigMap entry of spec.model.verify."
        "publicKeys (ConfigMap signers[cosign.pub])",
        "InvalidPublicKey": "fix the PEM public keys of spec.model.verify.publicKeys",
        "VerificationError": "the operator retries",
        "DerivedImageUntrusted": "delete the derived image named above",
    }
    messages = {}
    for reason, hint in hints.items():
        _, messages[reason] = _decide(_verified(_with_verify(md()), "False", reason))
        assert f"NotVerified: {reason}: why; " in messages[reason]
        assert hint in messages[reason], messages[reason]
    assert len(set(messages.values())) == len(hints)  # no two reasons share a fix


def test_trusted_root_reasons_name_the_root() -> None:
    for reason, hint in (
        ("TrustedRootNotFound", "create the trusted root of spec.model.verify.keyless"),
        ("InvalidTrustedRoot", "fix the trusted_root.json of spec.model.verify.keyless"),
    ):
        _, message = _decide(_verified(_with_policy(md(), KEYLESS), "False", reason))
        assert f"{hint} (ConfigMap sigstore-root[trusted_root.json])" in message, message


def test_cluster_policy_denial_asks_for_spec_model_verify() -> None:
    _, message = _decide(_verified(md(), "False", "VerificationRequired"))
    assert "the cluster admits only verified models: set spec.model.verify" in message


def test_no_verdict_yet_says_wait() -> None:
    _, message = _decide(_with_policy(md(), KEYLESS))
    assert "wait for its Verified condition and create the pod again" in message


def test_spec_describe_matches_the_verifiers_policy_words() -> None:
    """The webhook cannot import the verifier: the spec's describe() must say the same."""
    from modelprefetch.api.verification import KeylessSigner
    from modelprefetch.verify.keyless import KeylessPolicy, Matcher
    from modelprefetch.verify.trustroot import TrustedRoot

    signer = KeylessSigner.model_validate(KEYLESS["keyless"][0])
    root = TrustedRoot(signer.trusted_root.describe(), (), ())
    policy = KeylessPolicy(
        root,
        Matcher(signer.identity, signer.identity_reg_exp),
        Matcher(signer.issuer, signer.issuer_reg_exp),
    )
    assert signer.describe() == policy.describe()


async def test_model_sig_verdicts_get_the_model_signing_fix() -> None:
    """The verifier's real model.sig messages (not cosign's) get the model_signing fix."""
    from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, ResolvedArtifact
    from modelprefetch.verify.check import verify_model_signature
    from modelprefetch.verify.modelsig import check_model_signature

    digest = "sha256:" + "cd" * 32
    unsigned = ResolvedArtifact(
        "r.local/m:v1", digest, f"r.local/m@{digest}", ArtifactKind.MODELPACK,
        LayerFormat.RAW, "application/vnd.oci.image.manifest.v1+json", None,
    )  # fmt: skip
    missing = await verify_model_signature(None, unsigned, [], required=True)  # type: ignore[arg-type]
    assert missing is not None
    invalid = check_model_signature(b"{}", (), [])
    cases = {
        ("SignatureMissing", missing.message): "sign the model folder (model_signing sign key) "
        "with a key whose public half is in spec.model.verify.publicKeys (ConfigMap "
        "signers[cosign.pub]) and push it with model.sig, or set "
        "spec.model.verify.modelSignature: IfPresent",
        (invalid.reason.value, f"r.local/m@{digest}: {invalid.message}"): "sign the model "
        "folder again (model_signing sign key) with a key whose public half is in",
    }
    for (reason, why), fix in cases.items():
        obj = _with_verify(md())
        obj["status"]["conditions"].append(
            {"type": "Verified", "status": "False", "reason": reason, "message": why}
        )
        _, message = _decide(obj)
        assert fix in message and "cosign sign" not in message, message
