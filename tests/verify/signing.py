"""cosign-format signatures made in Python for the unit tests (e2e tests use cosign).

Same bytes cosign writes: a simple-signing payload layer whose annotation carries the
base64 ECDSA P-256 / SHA-256 signature, in a manifest tagged `sha256-<hex>.sig`.
"""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.oci.fakeregistry import FakeRegistry

EMPTY_CONFIG = b"{}"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def payload_for(repo_ref: str, digest: str) -> bytes:
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": repo_ref},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()


def signature_manifest(
    registry: FakeRegistry,
    repo: str,
    payload: bytes,
    signature: bytes | str,
    annotations: dict[str, str] | None = None,
) -> dict[str, object]:
    encoded = signature if isinstance(signature, str) else base64.b64encode(signature).decode()
    config = registry.put_blob(repo, EMPTY_CONFIG)
    layer = registry.put_blob(repo, payload)
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": len(EMPTY_CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": layer,
                "size": len(payload),
                "annotations": {
                    "dev.cosignproject.cosign/signature": encoded,
                    **(annotations or {}),
                },
            }
        ],
    }


def sign(
    registry: FakeRegistry,
    repo: str,
    digest: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    payload_digest: str | None = None,
    annotations: dict[str, str] | None = None,
) -> None:
    """Store a cosign signature of `digest` under its .sig tag (payload naming
    `payload_digest` instead when given: a signature copied from another digest;
    `annotations`: cosign's keyless certificate/chain/timestamp ones)."""
    payload = payload_for(f"{registry.host}/{repo}", payload_digest or digest)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    manifest = signature_manifest(registry, repo, payload, signature, annotations)
    registry.put_manifest(repo, manifest, digest.replace(":", "-") + ".sig")
