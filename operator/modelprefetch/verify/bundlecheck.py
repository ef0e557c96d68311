"""The verdict on one sigstore bundle layer (bundle.py), in check.py's terms.

Same order as for a simple-signing layer: fetch (size-capped, digest-checked), verify the
signature with a configured key or, failing that, keyless against the configured trusted
roots; only a signature that verifies is asked what it vouches for (a valid bundle of
another digest, or an attestation, is SignatureInvalid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelprefetch.errors import RegistryNotFoundError
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import Reference
from modelprefetch.verify.bundle import (
    MAX_BUNDLE_BYTES,
    BundleError,
    BundleLayer,
    parse_bundle,
    vouches_for,
)
from modelprefetch.verify.keyless import (
    CertificateLayer,
    KeylessError,
    KeylessPolicy,
    check_keyless,
)
from modelprefetch.verify.keys import PublicKey


@dataclass(frozen=True, slots=True)
class Judged:
    """Exactly one of: evidence (verified), invalid, untrusted; or nothing (no configured
    key made it and it carries no certificate: counted as an untrusted signature)."""

    evidence: str = ""
    invalid: str = ""
    untrusted: str = ""


async def judge_bundle(
    client: RegistryClient,
    ref: Reference,
    digest: str,
    where: str,
    layer: BundleLayer,
    keys: Sequence[PublicKey],
    keyless: list[KeylessPolicy],
) -> Judged:
    if layer.size > MAX_BUNDLE_BYTES:
        return Judged(invalid=f"{where}: sigstore bundle of {layer.size} bytes")
    try:
        raw = await client.get_blob(ref, layer.digest, max_bytes=MAX_BUNDLE_BYTES)
    except RegistryNotFoundError:
        return Judged(invalid=f"{where}: bundle blob {layer.digest} is missing")
    try:
        bundle = parse_bundle(raw)
    except BundleError as exc:
        return Judged(invalid=f"{where}: the sigstore bundle {exc}")
    if bundle.prehashed:
        signer = next(
            (k for k in keys if k.verifies_prehashed(bundle.signature, bundle.signed)), None
        )
    else:
        signer = next((k for k in keys if k.verifies(bundle.signature, bundle.signed)), None)
    evidence = f"key {signer.fingerprint} ({signer.source})" if signer is not None else ""
    if signer is None and bundle.certificate_pem and keyless:
        material = CertificateLayer(bundle.certificate_pem, None, bundle.timestamps)
        try:
            evidence = check_keyless(
                material, bundle.signature, bundle.signed, keyless, prehashed=bundle.prehashed
            )
        except KeylessError as exc:
            if exc.invalid:
                return Judged(invalid=f"{where}: {exc}")
            return Judged(untrusted=f"{where}: {exc}")
    if not evidence:
        return Judged()
    try:
        vouches_for(bundle, digest)
    except BundleError as exc:
        return Judged(invalid=f"{where}: {exc}")
    return Judged(evidence=f"sigstore bundle ({bundle.kind}) in {where}, {evidence}")
