"""verify_artifact: keys from ConfigMaps and Secrets, their failures, the cluster policy,
and a registry blip that must not revoke an earlier success."""

from __future__ import annotations

import base64
from dataclasses import replace

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import CONFIGMAPS, SECRETS
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.reconciler.verifier import verify_artifact
from tests.core.helpers import artifact
from tests.oci.conftest import client, registry, sleeps
from tests.oci.fakeregistry import FakeRegistry
from tests.verify.signing import new_key, public_pem, sign
from tests.verify.test_verify_cosign import REPO, _model

__all__ = ["client", "registry", "sleeps"]


def _spec(registry: FakeRegistry, *sources: dict[str, str]) -> ModelDeploymentSpec:
    model: dict[str, object] = {"reference": f"{registry.host}/{REPO}:v1"}
    if sources:
        model["verify"] = {"publicKeys": list(sources)}
    return parse_spec({"model": model})


def _artifact(registry: FakeRegistry, digest: str) -> ResolvedArtifact:
    return artifact(digest, pinned_reference=f"{registry.host}/{REPO}@{digest}")


async def test_configmap_key_verifies(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest = _model(registry)
    sign(registry, REPO, digest, key)
    body = {
        "metadata": {"name": "signers", "namespace": "ns"},
        "data": {"k": public_pem(key).decode()},
    }
    await kube.create(CONFIGMAPS, body)
    spec = _spec(registry, {"configMapName": "signers", "key": "k"})
    verdict = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), None)
    assert verdict.verified and verdict.reason == "Verified"
    assert "ConfigMap signers[k]" in verdict.message


async def test_missing_and_garbage_keys_have_their_reasons(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    missing = _spec(registry, {"configMapName": "absent"})
    verdict = await verify_artifact(kube, client, "ns", missing, _artifact(registry, digest), None)
    assert (verdict.verified, verdict.reason) == (False, "PublicKeyNotFound")
    assert "ConfigMap absent[cosign.pub] in namespace ns not found" in verdict.message
    garbage = base64.b64encode(b"not a key").decode()
    await kube.create(
        SECRETS, {"metadata": {"name": "s", "namespace": "ns"}, "data": {"cosign.pub": garbage}}
    )
    invalid = _spec(registry, {"secretName": "s"})
    verdict = await verify_artifact(kube, client, "ns", invalid, _artifact(registry, digest), None)
    assert (verdict.verified, verdict.reason) == (False, "InvalidPublicKey")
    assert "not a key" not in verdict.message  # key material is never echoed


async def test_cluster_policy_without_spec_verify_is_verification_required(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    verdict = await verify_artifact(
        kube, client, "ns", _spec(registry), _artifact(registry, digest), None
    )
    assert (verdict.verified, verdict.reason) == (False, "VerificationRequired")


async def test_registry_blip_keeps_an_earlier_success_for_the_same_digest(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest = _model(registry)
    sign(registry, REPO, digest, key)
    body = {
        "metadata": {"name": "signers", "namespace": "ns"},
        "data": {"cosign.pub": public_pem(key).decode()},
    }
    await kube.create(CONFIGMAPS, body)
    spec = _spec(registry, {"configMapName": "signers"})
    first = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), None)
    assert first.verified
    for _ in range(3):
        registry.fail_next(r"/referrers/", 503)
    again = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), first)
    assert again == first
    other = replace(first, digest="sha256:" + "0" * 64)  # a success for another digest
    for _ in range(3):
        registry.fail_next(r"/referrers/", 503)
    blip = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), other)
    assert (blip.verified, blip.reason) == (False, "VerificationError")
