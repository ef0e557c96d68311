"""cosign's new bundle format: a sigstore bundle as an OCI 1.1 referrer of the manifest.

`cosign sign --new-bundle-format` (cosign 2.4+, the default of cosign 3) stores a
manifest with artifactType `application/vnd.dev.sigstore.bundle.v0.3+json` whose one
layer is a sigstore bundle (JSON):

* `dsseEnvelope`: an in-toto statement (payloadType `application/vnd.in-toto+json`,
  predicateType `https://sigstore.dev/cosign/sign/v1`) whose subject is the signed
  manifest digest; the signature is over the DSSE pre-authentication encoding;
* or `messageSignature`: a signature over a message whose sha256 (`messageDigest`) must
  be the manifest digest, i.e. the signed message is the manifest itself (what
  `cosign sign-blob --new-bundle-format` makes of a manifest file);
* `verificationMaterial`: `publicKey.hint` (key-based: checked with the configured keys),
  or the signing `certificate` (v0.3) / `x509CertificateChain` (v0.1-0.2) with
  `timestampVerificationData.rfc3161Timestamps` (keyless: keyless.py, offline).
  `tlogEntries` are not consulted (no transparency log is assumed reachable).

Only parsing lives here; check.py decides, in the same order as for simple signing.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from modelprefetch.verify.modelsig import IN_TOTO_PAYLOAD_TYPE, STATEMENT_TYPE, pae

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
# Every bundle media type a referrer's layer (or artifactType) may carry.
BUNDLE_MEDIA_TYPES = frozenset(
    {
        BUNDLE_V03,
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
MAX_BUNDLE_BYTES = 256 * 1024  # a certificate chain and a few timestamps: some KB
MAX_BUNDLE_LAYERS = 8
MAX_TIMESTAMPS = 8


class BundleError(ValueError):
    """A bundle that cannot be read, or that vouches for another digest."""


@dataclass(frozen=True, slots=True)
class BundleLayer:
    """A bundle blob listed in a signature manifest (not fetched yet)."""

    digest: str
    size: int


@dataclass(frozen=True)
class Bundle:
    """What a bundle signs and with what material."""

    kind: str  # "DSSE" or "message signature", for messages
    signature: bytes
    signed: bytes  # the bytes the signature is over (PAE), or the sha256 when prehashed
    prehashed: bool  # messageSignature: `signed` is the message's sha256
    subject_digests: tuple[str, ...]  # the manifest digests it vouches for ("sha256:...")
    predicate_type: str | None  # the statement's (DSSE only)
    certificate_pem: str | None  # keyless: the signing certificate
    timestamps: tuple[bytes, ...]  # keyless: DER RFC 3161 timestamp responses


def bundle_layers(document: dict[str, Any]) -> list[BundleLayer]:
    """The bundle layers of a signature manifest; [] for any other manifest, including
    attestations (another predicate type in the manifest's annotation)."""
    annotations = document.get("annotations")
    if isinstance(annotations, dict) and annotations.get(PREDICATE_ANNOTATION) not in (
        None,
        COSIGN_SIGN_PREDICATE,
    ):
        return []
    layers = document.get("layers")
    if not isinstance(layers, list):
        return []
    found = []
    for layer in layers[:MAX_BUNDLE_LAYERS]:
        if not isinstance(layer, dict) or layer.get("mediaType") not in BUNDLE_MEDIA_TYPES:
            continue
        digest, size = layer.get("digest"), layer.get("size")
        if isinstance(digest, str) and isinstance(size, int) and not isinstance(size, bool):
            found.append(BundleLayer(digest, size))
    return found


def parse_bundle(raw: bytes) -> Bundle:
    """The signature, what it is over and the verification material; BundleError."""
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise BundleError("is not a JSON object")
        material = _material(document.get("verificationMaterial"))
        if "dsseEnvelope" in document:
            return _dsse(document["dsseEnvelope"], *material)
        if "messageSignature" in document:
            return _message(document["messageSignature"], *material)
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise BundleError(f"is no sigstore bundle: {type(exc).__name__}: {exc}") from None
    raise BundleError("has neither dsseEnvelope nor messageSignature")


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"expected base64 text, got {type(value).__name__}")
    return base64.b64decode(value, validate=True)


def _material(material: object) -> tuple[str | None, tuple[bytes, ...]]:
    if not isinstance(material, dict):
        raise BundleError("has no verificationMaterial")
    der = None
    if isinstance(material.get("certificate"), dict):
        der = _b64(material["certificate"].get("rawBytes"))
    elif isinstance(material.get("x509CertificateChain"), dict):
        chain = material["x509CertificateChain"].get("certificates") or []
        der = _b64(chain[0].get("rawBytes")) if chain else None
    certificate = None
    if der is not None:
        cert = x509.load_der_x509_certificate(der)
        certificate = cert.public_bytes(serialization.Encoding.PEM).decode()
    data = material.get("timestampVerificationData") or {}
    stamps = (data.get("rfc3161Timestamps") or []) if isinstance(data, dict) else []
    if not isinstance(stamps, list):
        raise BundleError("timestampVerificationData.rfc3161Timestamps is not a list")
    timestamps = tuple(_b64(s.get("signedTimestamp")) for s in stamps[:MAX_TIMESTAMPS])
    return certificate, timestamps


def _dsse(
    envelope: dict[str, Any], certificate: str | None, timestamps: tuple[bytes, ...]
) -> Bundle:
    payload_type, body = str(envelope["payloadType"]), _b64(envelope["payload"])
    signatures = envelope["signatures"]
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise BundleError("DSSE envelope must carry exactly one signature (sigstore's rule)")
    predicate: object = None
    subjects: tuple[str, ...] = ()
    if payload_type == IN_TOTO_PAYLOAD_TYPE:
        statement = json.loads(body)
        if statement.get("_type") != STATEMENT_TYPE:
            raise BundleError(f"statement type {statement.get('_type')!r}")
        predicate = statement.get("predicateType")
        subjects = tuple(
            f"sha256:{s['digest']['sha256']}"
            for s in statement.get("subject") or []
            if isinstance(s, dict) and isinstance((s.get("digest") or {}).get("sha256"), str)
        )
    return Bundle(
        "DSSE",
        _b64(signatures[0]["sig"]),
        pae(payload_type, body),
        False,
        subjects,
        str(predicate) if predicate is not None else None,
        certificate,
        timestamps,
    )


def _message(
    signed: dict[str, Any], certificate: str | None, timestamps: tuple[bytes, ...]
) -> Bundle:
    digest = signed["messageDigest"]
    if digest.get("algorithm") != "SHA2_256":
        raise BundleError(f"message digest algorithm {digest.get('algorithm')!r}, not SHA2_256")
    value = _b64(digest["digest"])
    if len(value) != 32:
        raise BundleError(f"message digest of {len(value)} bytes, not a sha256")
    return Bundle(
        "message signature",
        _b64(signed["signature"]),
        value,
        True,
        (f"sha256:{value.hex()}",),
        None,
        certificate,
        timestamps,
    )


def vouches_for(bundle: Bundle, digest: str) -> None:
    """BundleError unless the (verified) bundle is a cosign signature of `digest`."""
    if bundle.prehashed:
        if digest not in bundle.subject_digests:
            raise BundleError(
                f"signed message has digest {bundle.subject_digests[0]}, not {digest}"
            )
        return
    if bundle.predicate_type != COSIGN_SIGN_PREDICATE:
        raise BundleError(
            f"statement predicateType is {bundle.predicate_type!r}, not {COSIGN_SIGN_PREDICATE!r}"
        )
    if digest not in bundle.subject_digests:
        named = ", ".join(bundle.subject_digests) or "no sha256 digest"
        raise BundleError(f"signed statement names {named}, not {digest}")
