"""cosign's signature format: a manifest whose layers are "simple signing" payloads.

Each layer (media type `application/vnd.dev.cosign.simplesigning.v1+json`) is a small
JSON payload naming the signed manifest digest in `critical.image.docker-manifest-digest`;
the layer's `dev.cosignproject.cosign/signature` annotation is the base64 signature over
the payload bytes. The same manifest is stored under the `sha256-<hex>.sig` tag (cosign's
default) or as an OCI 1.1 referrer of the signed manifest.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"  # keyless: the signing cert (PEM)
TIMESTAMP_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"  # {"SignedRFC3161Timestamp": b64}
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
PAYLOAD_TYPE = "cosign container image signature"
MAX_PAYLOAD_BYTES = 64 * 1024  # a payload is a few hundred bytes; optional claims add some
MAX_SIGNATURE_LAYERS = 64  # per signature manifest; more is not cosign's doing


class PayloadError(ValueError):
    """A simple-signing payload that is not one, or names another digest."""


@dataclass(frozen=True, slots=True)
class SignatureLayer:
    """One signature as listed in a signature manifest (payload not fetched yet)."""

    payload_digest: str
    payload_size: int
    signature: bytes  # decoded from the annotation; b"" when absent or not base64
    certificate: str | None = None  # keyless signatures: the signing certificate (PEM)
    timestamp: str | None = None  # the RFC 3161 timestamp annotation (JSON), if any


def signature_layers(document: dict[str, Any]) -> list[SignatureLayer]:
    """The simple-signing layers of a signature manifest (others are ignored)."""
    layers = document.get("layers")
    if not isinstance(layers, list):
        return []
    found = []
    for layer in layers[:MAX_SIGNATURE_LAYERS]:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING_TYPE:
            continue
        digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
            continue
        annotations = layer.get("annotations") or {}
        encoded = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        if not isinstance(annotations, dict):
            annotations = {}
        found.append(
            SignatureLayer(
                digest,
                size,
                _b64(encoded),
                _text(annotations.get(CERTIFICATE_ANNOTATION)),
                _text(annotations.get(TIMESTAMP_ANNOTATION)),
            )
        )
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _b64(value: object) -> bytes:
    if not isinstance(value, str) or not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def signed_digest(payload: bytes) -> str:
    """The manifest digest a payload vouches for; PayloadError when it is no cosign payload."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from None
    critical = document.get("critical") if isinstance(document, dict) else None
    if not isinstance(critical, dict):
        raise PayloadError("payload has no 'critical' object")
    if critical.get("type") != PAYLOAD_TYPE:
        raise PayloadError(f"payload type is {critical.get('type')!r}, not {PAYLOAD_TYPE!r}")
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(digest, str) or not digest:
        raise PayloadError("payload has no critical.image.docker-manifest-digest")
    return digest
