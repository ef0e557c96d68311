"""Verify a model's signatures before any node pulls it (spec.model.verify).

    keys      PEM public keys -> signature checks (cryptography: ECDSA, RSA, Ed25519)
    cosign    cosign's "simple signing" payloads and signature manifests
    bundle    cosign's new bundle format: sigstore bundles as referrers (bundlecheck judges)
    discover  where the signatures live: OCI 1.1 referrers and the `sha256-<hex>.sig` tag
    check     the verdict on one digest: Verified, or why not (reasons below)

Registry I/O through `modelprefetch.oci`; no Kubernetes: the reconciler reads the key
Secrets/ConfigMaps and hands the PEM text in.
"""

from modelprefetch.verify.check import verify_digest
from modelprefetch.verify.keys import PublicKey, load_public_keys
from modelprefetch.verify.outcome import Outcome, Reason

__all__ = ["Outcome", "PublicKey", "Reason", "load_public_keys", "verify_digest"]
