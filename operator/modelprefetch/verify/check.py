"""The verdict on one manifest digest: signed by a trusted key, or why not.

Order of the checks, for every simple-signing layer of every signature manifest found
(and alike for every sigstore bundle of cosign's new bundle format, bundlecheck.py):
fetch the payload (digest-checked by the client), verify the signature with each
configured key, and only for a signature that verifies read the payload's digest (an
attacker can copy a valid signature of another digest: it verifies but names the wrong
digest -> SignatureInvalid). The first fully matching signature wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelprefetch.errors import ModelPrefetchError, RegistryNotFoundError
from modelprefetch.oci.artifact import LayerFormat, ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import Reference, parse_reference
from modelprefetch.verify.bundle import bundle_layers
from modelprefetch.verify.bundlecheck import judge_bundle
from modelprefetch.verify.cosign import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    signature_layers,
    signed_digest,
)
from modelprefetch.verify.discover import find_signatures, signature_tag
from modelprefetch.verify.keyless import (
    CertificateLayer,
    KeylessError,
    KeylessPolicy,
    check_keyless,
)
from modelprefetch.verify.keys import PublicKey
from modelprefetch.verify.modelsig import (
    MAX_SIGNATURE_BYTES,
    SIGNATURE_FILE,
    check_model_signature,
    signature_layer,
)
from modelprefetch.verify.outcome import Outcome, Reason


async def verify_digest(
    client: RegistryClient,
    ref: Reference,
    digest: str,
    keys: Sequence[PublicKey],
    keyless: Sequence[KeylessPolicy] = (),
) -> Outcome:
    """Verify the cosign signatures of `digest` in `ref`'s repository: made with one of
    `keys`, or keyless with a certificate one of the `keyless` policies trusts."""
    try:
        return await _verify(client, ref, digest, keys, list(keyless))
    except ModelPrefetchError as exc:
        message = f"Cannot read the signatures of {digest} from {ref.name}: {exc.message}"
        return Outcome(digest, Reason.VERIFICATION_ERROR, message)


async def _verify(
    client: RegistryClient,
    ref: Reference,
    digest: str,
    keys: Sequence[PublicKey],
    keyless: list[KeylessPolicy],
) -> Outcome:
    manifests = await find_signatures(client, ref, digest)
    if not manifests:
        return Outcome(
            digest,
            Reason.SIGNATURE_MISSING,
            f"{ref.name}@{digest} has no cosign signature (no {ref.name}:"
            f"{signature_tag(digest)} tag, no signature referrer): "
            "sign it with `cosign sign --key` (or keylessly)",
        )
    seen, invalid, untrusted = 0, [], list[str]()
    for found in manifests:
        for layer in signature_layers(found.manifest.document):
            seen += 1
            if not layer.signature:
                invalid.append(f"{found.where}: a layer without a base64 signature annotation")
                continue
            if layer.payload_size > MAX_PAYLOAD_BYTES:
                invalid.append(f"{found.where}: payload of {layer.payload_size} bytes")
                continue
            try:
                payload = await client.get_blob(
                    ref, layer.payload_digest, max_bytes=MAX_PAYLOAD_BYTES
                )
            except RegistryNotFoundError:
                invalid.append(f"{found.where}: payload blob {layer.payload_digest} is missing")
                continue
            signer = next((k for k in keys if k.verifies(layer.signature, payload)), None)
            evidence = ""
            if signer is not None:
                evidence = f"key {signer.fingerprint} ({signer.source})"
            elif layer.certificate and keyless:
                try:
                    evidence = check_keyless(
                        CertificateLayer(layer.certificate, layer.timestamp),
                        layer.signature,
                        payload,
                        keyless,
                    )
                except KeylessError as exc:
                    (invalid if exc.invalid else untrusted).append(f"{found.where}: {exc}")
                    continue
            if not evidence:
                continue
            try:
                named = signed_digest(payload)
            except PayloadError as exc:
                invalid.append(f"{found.where}: {exc}")
                continue
            if named != digest:
                invalid.append(f"{found.where}: signed payload names {named}, not {digest}")
                continue
            evidence = f"cosign signature in {found.where}, {evidence}"
            return Outcome(digest, Reason.VERIFIED, f"{digest} is signed: {evidence}", evidence)
        for bundle in bundle_layers(found.manifest.document):
            seen += 1
            judged = await judge_bundle(client, ref, digest, found.where, bundle, keys, keyless)
            if judged.evidence:
                message = f"{digest} is signed: {judged.evidence}"
                return Outcome(digest, Reason.VERIFIED, message, judged.evidence)
            if judged.invalid:
                invalid.append(judged.invalid)
            if judged.untrusted:
                untrusted.append(judged.untrusted)
    if invalid:
        return Outcome(
            digest, Reason.SIGNATURE_INVALID, f"{ref.name}@{digest}: " + "; ".join(invalid[:3])
        )
    if seen == 0:
        return Outcome(
            digest,
            Reason.SIGNATURE_MISSING,
            f"{ref.name}@{digest}: the signature manifests hold no cosign signature layer "
            "and no sigstore bundle",
        )
    if untrusted:
        return Outcome(
            digest,
            Reason.UNTRUSTED_SIGNER,
            f"{ref.name}@{digest} has {seen} signatures, no trusted signer: "
            + "; ".join(untrusted[:3]),
        )
    names = ", ".join(f"{k.fingerprint} ({k.source})" for k in keys)
    names += "".join(f", keyless {p.describe()}" for p in keyless)
    return Outcome(
        digest,
        Reason.UNTRUSTED_SIGNER,
        f"{ref.name}@{digest} has {seen} signatures, none made with a configured key: "
        + names.lstrip(", "),
    )


async def verify_model_signature(
    client: RegistryClient,
    artifact: ResolvedArtifact,
    keys: Sequence[PublicKey],
    *,
    required: bool,
) -> Outcome | None:
    """The OpenSSF model signature (model.sig) check: None when the model has none and
    none is required, else the verdict (Verified with the evidence, or why not)."""
    digest, ref = artifact.digest, parse_reference(artifact.pinned_reference)
    layer = signature_layer(artifact.layers)
    if layer is None:
        if not required:
            return None
        return Outcome(
            digest,
            Reason.SIGNATURE_MISSING,
            f"{ref.name}@{digest} carries no {SIGNATURE_FILE} (OpenSSF model signing), and "
            "spec.model.verify.modelSignature is Required: sign the model folder with "
            "`model_signing sign key` before packing it",
        )
    if layer.layer_format is not LayerFormat.RAW or layer.size > MAX_SIGNATURE_BYTES:
        return Outcome(
            digest,
            Reason.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE} of {ref.name}@{digest} is a {layer.layer_format} layer of "
            f"{layer.size} bytes; it must be a raw layer under {MAX_SIGNATURE_BYTES} bytes",
        )
    try:
        bundle = await client.get_blob(ref, layer.digest, max_bytes=MAX_SIGNATURE_BYTES)
    except ModelPrefetchError as exc:
        return Outcome(
            digest, Reason.VERIFICATION_ERROR, f"Cannot read {SIGNATURE_FILE}: {exc.message}"
        )
    verdict = check_model_signature(bundle, artifact.layers, list(keys))
    message = f"{ref.name}@{digest}: {verdict.message}"
    return Outcome(digest, verdict.reason, message, verdict.message)
