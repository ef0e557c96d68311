"""spec.model.verify in the reconcile loop: read the trusted keys, verify the digest.

Runs right after every resolve (so a tag that moved is verified before the planner sees
its new digest) and returns the `core.world.Verification` the planner gates on. Key
material is read from the namespace's Secrets/ConfigMaps each time and never logged;
messages name the key's source and fingerprint only.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.api.verification import KeylessSigner, PublicKeySource, TrustedRootSource
from modelprefetch.core.world import Verification
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import CONFIGMAPS, SECRETS
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.verify import Outcome, PublicKey, Reason, load_public_keys, verify_digest
from modelprefetch.verify.check import verify_model_signature
from modelprefetch.verify.derived import prove_derived
from modelprefetch.verify.keyless import KeylessPolicy, Matcher
from modelprefetch.verify.keys import InvalidKeyError
from modelprefetch.verify.trustroot import TrustedRootError, load_trusted_root

MAX_KEY_BYTES = 64 * 1024  # PEM text per entry; a public key is a few hundred bytes
MAX_TRUSTED_ROOT_BYTES = 1024 * 1024  # sigstore's public trusted_root.json is ~10 KiB


class KeySourceError(Exception):
    """A key source that cannot be used; `reason` is the Verified condition's reason."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def verification_required(spec: ModelDeploymentSpec, cluster_requires: bool) -> bool:
    """Whether this ModelDeployment's digest must be verified before anything is pulled."""
    return spec.model.verify is not None or cluster_requires


async def verify_artifact(
    kube: KubeClient,
    client: RegistryClient,
    namespace: str,
    spec: ModelDeploymentSpec,
    artifact: ResolvedArtifact,
    previous: Verification | None,
) -> Verification:
    """The verdict on `artifact.digest`. A registry error keeps an earlier success for the
    same digest (a registry blip must not deny every pod); any other failure stands."""
    digest = artifact.digest
    policy = spec.model.verify
    if policy is None:
        return Verification(
            digest,
            False,
            Reason.VERIFICATION_REQUIRED,
            "The cluster requires verified models (verification.required in the chart): "
            "set spec.model.verify.publicKeys (or keyless) to who signs this model",
        )
    try:
        keys = [
            key for source in policy.public_keys for key in await _keys(kube, namespace, source)
        ]
        keyless = [await _keyless(kube, namespace, signer) for signer in policy.keyless]
    except KeySourceError as exc:
        return Verification(digest, False, exc.reason, exc.message)
    ref = parse_reference(artifact.pinned_reference)
    outcome = await verify_digest(client, ref, digest, keys, keyless)
    if outcome.verified:
        required = policy.model_signature == "Required"
        model = await verify_model_signature(client, artifact, keys, required=required)
        if model is not None and not model.verified:
            outcome = model
        elif model is not None:
            message = f"{outcome.message}; {model.evidence}"
            outcome = replace(outcome, message=message)
    if (
        outcome.reason is Reason.VERIFICATION_ERROR
        and previous is not None
        and previous.verified
        and previous.digest == digest
    ):
        return previous
    return _verdict(outcome)


async def with_derived_proof(
    client: RegistryClient, artifact: ResolvedArtifact, verification: Verification | None
) -> Verification | None:
    """A verified digest whose derived image is not provably the same content is not
    verified any more (DerivedImageUntrusted): nothing would mount it. Else the proof is
    recorded for the status."""
    if verification is None or not verification.verified:
        return verification
    proof = await prove_derived(client, artifact)
    if proof is None:
        return replace(verification, proof="")
    if not proof.proven:
        return Verification(
            artifact.digest,
            False,
            Reason.DERIVED_IMAGE_UNTRUSTED,
            f"{proof.message}; delete that referrer, the operator derives the image again",
        )
    return replace(verification, proof=proof.message)


def _verdict(outcome: Outcome) -> Verification:
    return Verification(outcome.digest, outcome.verified, outcome.reason, outcome.message)


async def _keyless(kube: KubeClient, namespace: str, signer: KeylessSigner) -> KeylessPolicy:
    source = signer.trusted_root
    text = await _read(kube, namespace, source, MAX_TRUSTED_ROOT_BYTES, trusted_root=True)
    try:
        root = load_trusted_root(text, source.describe())
    except TrustedRootError as exc:
        raise KeySourceError(
            Reason.INVALID_TRUSTED_ROOT, f"{exc} (namespace {namespace})"
        ) from None
    return KeylessPolicy(
        root,
        Matcher(signer.identity, signer.identity_reg_exp),
        Matcher(signer.issuer, signer.issuer_reg_exp),
    )


async def _keys(kube: KubeClient, namespace: str, source: PublicKeySource) -> list[PublicKey]:
    pem = await _read(kube, namespace, source, MAX_KEY_BYTES, trusted_root=False)
    try:
        return load_public_keys(pem, source.describe())
    except InvalidKeyError as exc:
        raise KeySourceError(Reason.INVALID_PUBLIC_KEY, f"{exc} (namespace {namespace})") from None


async def _read(
    kube: KubeClient,
    namespace: str,
    source: PublicKeySource | TrustedRootSource,
    limit: int,
    *,
    trusted_root: bool,
) -> bytes:
    """One entry of a Secret/ConfigMap; KeySourceError when missing, unreadable, too big."""
    where = f"{source.describe()} in namespace {namespace}"
    missing = Reason.TRUSTED_ROOT_NOT_FOUND if trusted_root else Reason.PUBLIC_KEY_NOT_FOUND
    invalid = Reason.INVALID_TRUSTED_ROOT if trusted_root else Reason.INVALID_PUBLIC_KEY
    resource, name = (
        (SECRETS, source.secret_name)
        if source.secret_name
        else (CONFIGMAPS, source.config_map_name)
    )
    assert name is not None  # the API model requires exactly one of the two
    try:
        obj = await kube.get(resource, name, namespace)
    except KubernetesNotFoundError:
        raise KeySourceError(missing, f"{where} not found") from None
    except KubernetesError as exc:
        if exc.status != 403:
            raise
        raise KeySourceError(
            missing,
            f"{where}: the operator may not read it (RBAC); grant get on it to the operator",
        ) from None
    text = _entry(obj, source.key, secret=resource is SECRETS)
    if text is None:
        raise KeySourceError(missing, f"{where} has no entry {source.key!r}")
    if len(text) > limit:
        raise KeySourceError(invalid, f"{where} is over {limit} bytes")
    return text


def _entry(obj: Mapping[str, Any], key: str, *, secret: bool) -> bytes | None:
    if not secret:
        text = (obj.get("data") or {}).get(key)
        if isinstance(text, str):
            return text.encode()
        binary = (obj.get("binaryData") or {}).get(key)
        return base64.b64decode(binary) if isinstance(binary, str) else None
    encoded = (obj.get("data") or {}).get(key)
    return base64.b64decode(encoded) if isinstance(encoded, str) else None
