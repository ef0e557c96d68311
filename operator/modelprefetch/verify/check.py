"""The verdict on one manifest digest: signed by a trusted key, or why not.

Order of the checks, for every simple-signing layer of every signature manifest found:
fetch the payload (digest-checked by the client), verify the signature with each
configured key, and only for a signature that verifies read the payload's digest (an
attacker can copy a valid signature of another digest: it verifies but names the wrong
digest -> SignatureInvalid). The first fully matching signature wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelprefetch.errors import ModelPrefetchError, RegistryNotFoundError
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import Reference
from modelprefetch.verify.cosign import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    signature_layers,
    signed_digest,
)
from modelprefetch.verify.discover import find_signatures, signature_tag
from modelprefetch.verify.keys import PublicKey
from modelprefetch.verify.outcome import Outcome, Reason


async def verify_digest(
    client: RegistryClient, ref: Reference, digest: str, keys: Sequence[PublicKey]
) -> Outcome:
    """Verify the cosign signatures of `digest` in `ref`'s repository against `keys`."""
    try:
        return await _verify(client, ref, digest, keys)
    except ModelPrefetchError as exc:
        message = f"Cannot read the signatures of {digest} from {ref.name}: {exc.message}"
        return Outcome(digest, Reason.VERIFICATION_ERROR, message)


async def _verify(
    client: RegistryClient, ref: Reference, digest: str, keys: Sequence[PublicKey]
) -> Outcome:
    manifests = await find_signatures(client, ref, digest)
    if not manifests:
        return Outcome(
            digest,
            Reason.SIGNATURE_MISSING,
            f"{ref.name}@{digest} has no cosign signature (no {ref.name}:"
            f"{signature_tag(digest)} tag, no signature referrer): "
            "sign it with `cosign sign --key`",
        )
    seen, invalid = 0, []
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
            if signer is None:
                continue
            try:
                named = signed_digest(payload)
            except PayloadError as exc:
                invalid.append(f"{found.where}: {exc}")
                continue
            if named != digest:
                invalid.append(f"{found.where}: signed payload names {named}, not {digest}")
                continue
            evidence = (
                f"cosign signature in {found.where}, key {signer.fingerprint} ({signer.source})"
            )
            return Outcome(digest, Reason.VERIFIED, f"{digest} is signed: {evidence}", evidence)
    if invalid:
        return Outcome(
            digest, Reason.SIGNATURE_INVALID, f"{ref.name}@{digest}: " + "; ".join(invalid[:3])
        )
    if seen == 0:
        return Outcome(
            digest,
            Reason.SIGNATURE_MISSING,
            f"{ref.name}@{digest}: the signature manifests hold no cosign signature layer",
        )
    names = ", ".join(f"{k.fingerprint} ({k.source})" for k in keys)
    return Outcome(
        digest,
        Reason.UNTRUSTED_SIGNER,
        f"{ref.name}@{digest} has {seen} signatures, none made with a configured key: {names}",
    )
