"""Public keys from PEM text, and checking a signature against them.

cosign's `generate-key-pair` writes an ECDSA P-256 key (signatures: ASN.1 DER over
SHA-256 of the payload); RSA (PKCS#1 v1.5, SHA-256) and Ed25519 keys are accepted too.
Several keys may be configured; one PEM text may hold several keys.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----\s.*?-----END PUBLIC KEY-----", re.DOTALL)
MAX_KEYS = 32  # per ModelDeployment, after splitting PEM texts

PublicKeyTypes = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class InvalidKeyError(ValueError):
    """A configured key cannot be used; the message names its source."""


@dataclass(frozen=True)
class PublicKey:
    """One trusted key: where it came from and a short fingerprint for status messages."""

    source: str  # "Secret ns/name[key]" - never the key material itself
    key: PublicKeyTypes
    fingerprint: str  # sha256 of the DER SubjectPublicKeyInfo, first 16 hex digits

    def verifies(self, signature: bytes, payload: bytes) -> bool:
        """Whether `signature` over `payload` was made with this key's private half."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            elif isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            else:
                self.key.verify(signature, payload)
        except (InvalidSignature, ValueError):
            return False
        return True

    def verifies_prehashed(self, signature: bytes, sha256: bytes) -> bool:
        """Whether `signature` is over a message whose SHA-256 is `sha256` (a sigstore
        bundle's messageSignature); Ed25519 signs messages, not digests: never."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, sha256, ec.ECDSA(Prehashed(hashes.SHA256())))
            elif isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, sha256, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


def load_public_keys(pem: bytes, source: str) -> list[PublicKey]:
    """Every `PUBLIC KEY` block in `pem`; InvalidKeyError when there is none or one is unusable."""
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise InvalidKeyError(f"{source} holds no PEM 'PUBLIC KEY' block (cosign.pub format)")
    keys = []
    for number, block in enumerate(blocks, start=1):
        try:
            key = serialization.load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidKeyError(f"{source}: public key {number} does not parse: {exc}") from None
        if not isinstance(key, PublicKeyTypes):
            kind = type(key).__name__
            raise InvalidKeyError(
                f"{source}: public key {number} is a {kind}; use ECDSA, RSA or Ed25519"
            )
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keys.append(PublicKey(source, key, hashlib.sha256(der).hexdigest()[:16]))
    return keys
