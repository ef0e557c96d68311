"""The verdict of verifying one digest, and its CamelCase reasons."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why a digest is (not) verified: the `Verified` condition's reason."""

    VERIFIED = "Verified"
    SIGNATURE_MISSING = "SignatureMissing"  # no signature for this digest in the registry
    SIGNATURE_INVALID = "SignatureInvalid"  # a signature that is malformed or for another digest
    UNTRUSTED_SIGNER = "UntrustedSigner"  # signatures exist, none by a configured key
    VERIFICATION_ERROR = "VerificationError"  # the registry could not be asked (retried)
    INVALID_PUBLIC_KEY = "InvalidPublicKey"  # a configured key is not a usable PEM key
    PUBLIC_KEY_NOT_FOUND = "PublicKeyNotFound"  # the Secret/ConfigMap or its key is missing
    VERIFICATION_REQUIRED = "VerificationRequired"  # the cluster policy wants spec.model.verify
    DERIVED_IMAGE_UNTRUSTED = "DerivedImageUntrusted"  # not provably the verified content
    TRUSTED_ROOT_NOT_FOUND = "TrustedRootNotFound"  # its Secret/ConfigMap or entry is missing
    INVALID_TRUSTED_ROOT = "InvalidTrustedRoot"  # a keyless trusted_root.json that is unusable
    MODEL_DIGEST_MISMATCH = "ModelDigestMismatch"  # layers differ from the signed model.sig


@dataclass(frozen=True, slots=True)
class Outcome:
    """Verified or not, for one manifest digest, with a message for people."""

    digest: str
    reason: Reason
    message: str
    # How it was proven (signature manifest digest, where it was found, which key).
    evidence: str = ""

    @property
    def verified(self) -> bool:
        return self.reason is Reason.VERIFIED
