"""What to do about a model whose signature did not verify: the fix in a pod's denial.

The fix follows the Verified condition's reason (a missing signature, an untrusted
signer and a broken signature have different cures) and the model's own policy: a
keyless policy names the certificate identity and issuer it trusts, a key policy the
Secrets/ConfigMaps its keys are in. The webhook cannot import the verifier (same layer),
so the words come from the spec (`KeylessSigner.describe()`, `PublicKeySource.describe()`)
and match the verifier's messages.
"""

from __future__ import annotations

from modelprefetch.api.verification import VerifyPolicy

DESCRIBE = " (kubectl describe md)"


def verification_fix(verify: VerifyPolicy | None, reason: str | None, message: str = "") -> str:
    """The sentence after "NotVerified: <reason>: <message>;" in a pod's denial."""
    if reason is None:
        return (
            "no pod may use it before its signature verifies: wait for its Verified "
            "condition and create the pod again" + DESCRIBE
        )
    if reason == "VerificationRequired" or verify is None:
        return (
            "the cluster admits only verified models: set spec.model.verify (publicKeys "
            "or keyless) and sign the model" + DESCRIBE
        )
    keys = ", ".join(source.describe() for source in verify.public_keys)
    if reason in _MODEL_SIG_REASONS and _about_model_sig(message):
        return _model_sig_fix(reason, keys) + DESCRIBE
    keyless = "; ".join(signer.describe() for signer in verify.keyless)
    fix = {
        "SignatureMissing": _sign(keys, keyless, "sign the model's digest"),
        "UntrustedSigner": _sign(keys, keyless, "sign the model's digest again"),
        "SignatureInvalid": "a signature is malformed or vouches for another digest: "
        + _sign(keys, keyless, "sign this digest"),
        "ModelDigestMismatch": "the model's files differ from its signed model.sig: sign "
        "the model folder again (model_signing sign key) and push it with model.sig",
        "InvalidPublicKey": f"fix the PEM public keys of spec.model.verify.publicKeys ({keys})",
        "PublicKeyNotFound": "create the Secret/ConfigMap entry of "
        f"spec.model.verify.publicKeys ({keys}) or fix its name",
        "InvalidTrustedRoot": "fix the trusted_root.json of spec.model.verify.keyless "
        f"({_roots(verify)})",
        "TrustedRootNotFound": "create the trusted root of spec.model.verify.keyless "
        f"({_roots(verify)}) or fix its name",
        "DerivedImageUntrusted": "delete the derived image named above; the operator "
        "derives it again from the verified model",
        "VerificationError": "the registry could not be asked for the signatures; the "
        "operator retries, create the pod once the model is Verified",
    }.get(reason)
    if fix is None:
        fix = "no pod may use it before its signature verifies: " + _sign(
            keys, keyless, "sign the model's digest"
        )
    return fix + DESCRIBE


def _sign(keys: str, keyless: str, verb: str) -> str:
    ways = []
    if keys:
        ways.append(
            f"{verb} with a trusted key (`cosign sign --key`, public key in {keys}) or "
            "fix spec.model.verify.publicKeys"
        )
    if keyless:
        ways.append(
            f"{verb} keylessly with a certificate whose identity and issuer match "
            f"{keyless}, or fix spec.model.verify.keyless"
        )
    return "; or ".join(ways)


def _roots(verify: VerifyPolicy) -> str:
    return ", ".join(dict.fromkeys(s.trusted_root.describe() for s in verify.keyless))


# The verifier's model.sig verdicts (verify/check.py, verify/modelsig.py) share the
# reasons of cosign signatures; their messages name the file: "<ref>@<digest>: model.sig
# is not signed ...", "... carries no model.sig (OpenSSF model signing) ...".
_MODEL_SIG_REASONS = frozenset({"SignatureMissing", "UntrustedSigner", "SignatureInvalid"})


def _about_model_sig(message: str) -> bool:
    return ": model.sig " in message or "no model.sig (OpenSSF model signing)" in message


def _model_sig_fix(reason: str, keys: str) -> str:
    with_key = f"with a key whose public half is in spec.model.verify.publicKeys ({keys})"
    if not keys:
        with_key = "with a key and add its public half to spec.model.verify.publicKeys"
    if reason == "SignatureMissing":
        return (
            f"sign the model folder (model_signing sign key) {with_key} and push it with "
            "model.sig, or set spec.model.verify.modelSignature: IfPresent"
        )
    return f"sign the model folder again (model_signing sign key) {with_key} and push it"
