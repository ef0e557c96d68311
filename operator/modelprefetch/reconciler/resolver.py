"""Resolving a ModelDeployment's reference, with its pull secrets, and caching the result.

A resolution is reused until the reference or the secrets change, or refreshInterval
passes (a moved tag is then seen). Failures back off exponentially, so a registry that
is down is not hammered, and recover on their own.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from modelprefetch import metrics
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.backoff import exponential_delay
from modelprefetch.core.world import Problem, Verification
from modelprefetch.errors import (
    CredentialsError,
    KubernetesError,
    KubernetesNotFoundError,
    ModelPrefetchError,
    PullSecretForbiddenError,
)
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import SECRETS
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials, credentials_from_dockerconfigjson
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve
from modelprefetch.reconciler.verifier import (
    verification_required,
    verify_artifact,
    with_derived_proof,
)

DOCKERCONFIG_TYPE = "kubernetes.io/dockerconfigjson"
FIRST_RETRY_SECONDS = 5.0  # after the first failed resolve; doubles up to the maximum


@dataclass
class Resolution:
    """The last resolution of one ModelDeployment, kept by its reconcile loop."""

    key: str = ""  # reference + secrets fingerprint it was made for
    artifact: ResolvedArtifact | None = None
    error: Problem | None = None
    at: datetime | None = None
    failures: int = 0
    derive_error: Problem | None = None
    verification: Verification | None = None  # of `artifact.digest`; None: not asked for

    def _wait(self, refresh: timedelta, max_backoff: float) -> float:
        """Seconds after `at` until the next resolve: back-off after errors, else refresh."""
        if self.error is not None or (
            self.verification is not None and not self.verification.verified
        ):
            return exponential_delay(self.failures, FIRST_RETRY_SECONDS, max_backoff)
        return refresh.total_seconds()

    def due(self, key: str, refresh: timedelta, now: datetime, max_backoff: float) -> bool:
        """Whether to resolve now: a new key, never resolved, or the wait has passed."""
        if key != self.key or self.at is None:
            return True
        return (now - self.at).total_seconds() >= self._wait(refresh, max_backoff)

    def retry_in(self, refresh: timedelta, now: datetime, max_backoff: float) -> float:
        """Seconds until `due` turns True for the same key."""
        if self.at is None:
            return 0.0
        return max(0.0, self._wait(refresh, max_backoff) - (now - self.at).total_seconds())


async def read_credentials(
    kube: KubeClient, namespace: str, spec: ModelDeploymentSpec
) -> tuple[dict[str, Credentials], str]:
    """Credentials for the reference's registry from the spec's pull secrets, and a
    fingerprint of the secrets' versions (so an edited password triggers a new resolve)."""
    host = parse_reference(spec.model.reference).registry
    creds: dict[str, Credentials] = {}
    versions = []
    for secret_ref in spec.model.pull_secrets:
        try:
            secret = await kube.get(SECRETS, secret_ref.name, namespace)
        except KubernetesNotFoundError as exc:
            raise CredentialsError(
                f"Pull secret {namespace}/{secret_ref.name} not found: create it "
                f"(type {DOCKERCONFIG_TYPE}) or remove it from spec.model.pullSecrets",
                reason="PullSecretNotFound",
            ) from exc
        except KubernetesError as exc:
            if exc.status != 403:
                raise
            raise PullSecretForbiddenError(namespace, secret_ref.name) from exc
        versions.append(secret.get("metadata", {}).get("resourceVersion", ""))
        if secret.get("type") != DOCKERCONFIG_TYPE:
            raise CredentialsError(
                f"Pull secret {namespace}/{secret_ref.name} has type {secret.get('type')!r}, "
                f"expected {DOCKERCONFIG_TYPE}",
                reason="InvalidPullSecret",
            )
        raw = (secret.get("data") or {}).get(".dockerconfigjson")
        if not raw:
            raise CredentialsError(
                f"Pull secret {namespace}/{secret_ref.name} has no .dockerconfigjson key",
                reason="InvalidPullSecret",
            )
        found = credentials_from_dockerconfigjson(base64.b64decode(raw), host)
        if found is not None and host not in creds:
            creds[host] = found
    fingerprint = hashlib.sha256("|".join(versions).encode()).hexdigest()[:16]
    return creds, fingerprint


async def refresh(
    resolution: Resolution,
    *,
    kube: KubeClient,
    namespace: str,
    name: str,
    spec: ModelDeploymentSpec,
    insecure: list[str],
    max_backoff: float,
    now: datetime | None = None,
    require_verification: bool = False,
) -> None:
    """Resolve again if due; records the result (or the error) in `resolution`.

    Healthy and fresh: no API call and no registry call (this runs on every reconcile).
    Broken: the pull secrets are read again each time, so a fixed secret is used at once,
    while the registry itself is only retried on the back-off schedule.
    """
    now = now or datetime.now(UTC)
    names = ",".join(secret.name for secret in spec.model.pull_secrets)
    base = f"{spec.model.reference}|{names}|"
    if verification_required(spec, require_verification):  # a changed policy: verify again
        verify = spec.model.verify.model_dump_json() if spec.model.verify else "required"
        base += f"{verify}|"
    refresh_every = spec.model.refresh_interval
    if (
        resolution.error is None
        and resolution.key.startswith(base)
        and not resolution.due(resolution.key, refresh_every, now, max_backoff)
    ):
        return
    try:
        creds, fingerprint = await read_credentials(kube, namespace, spec)
    except ModelPrefetchError as exc:
        key = base + exc.reason
        if resolution.due(key, refresh_every, now, max_backoff):
            resolution.key = key
            _fail(resolution, spec.model.reference, exc, now)
            metrics.observe_resolve(namespace, name, 0.0, exc.reason)
        return
    key = base + fingerprint
    if not resolution.due(key, refresh_every, now, max_backoff):
        return
    started = time.monotonic()
    try:
        client = RegistryClient(credentials=creds, plain_http=insecure)
        async with client:
            artifact = await resolve(client, spec.model.reference)
            verification = None
            if verification_required(spec, require_verification):  # before any rollout
                verify_started = time.monotonic()
                verification = await verify_artifact(
                    kube, client, namespace, spec, artifact, resolution.verification
                )
                verification = await with_derived_proof(client, artifact, verification)
                seconds = time.monotonic() - verify_started
                reason = verification.reason if verification else "VerificationError"
                metrics.observe_verification(namespace, name, reason, seconds)
    except ModelPrefetchError as exc:
        resolution.key = key
        _fail(resolution, spec.model.reference, exc, now)
        metrics.observe_resolve(namespace, name, time.monotonic() - started, exc.reason)
        return
    metrics.observe_resolve(namespace, name, time.monotonic() - started, None)
    resolution.key, resolution.artifact, resolution.error = key, artifact, None
    resolution.verification = verification
    resolution.at = now
    resolution.failures = (
        0 if verification is None or verification.verified else resolution.failures + 1
    )


def _fail(resolution: Resolution, reference: str, exc: ModelPrefetchError, now: datetime) -> None:
    resolution.error = Problem(reason=exc.reason, message=exc.message)
    resolution.failures += 1
    resolution.at = now
    # Keep serving the last good artifact only if it is for the same reference.
    if resolution.artifact is not None and resolution.artifact.reference != reference:
        resolution.artifact = None


async def publish_derived(
    resolution: Resolution,
    *,
    kube: KubeClient,
    namespace: str,
    spec: ModelDeploymentSpec,
    insecure: list[str],
) -> None:
    """Publish the mountable image the planner asked for and record it on the artifact."""
    artifact = resolution.artifact
    if artifact is None:
        return
    try:
        creds, _ = await read_credentials(kube, namespace, spec)
        client = RegistryClient(credentials=creds, plain_http=insecure)
        async with client:
            derived = await ensure_derived_image(client, artifact)
            published = replace(artifact, derived_image=derived)
            # verified content only: the new image is checked like any found one
            verification = await with_derived_proof(client, published, resolution.verification)
    except ModelPrefetchError as exc:
        resolution.derive_error = Problem(reason=exc.reason, message=exc.message)
        return
    resolution.artifact, resolution.verification = published, verification
    resolution.derive_error = None
