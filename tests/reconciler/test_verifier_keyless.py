"""verify_artifact with spec.model.verify.keyless: the trusted root read from a
ConfigMap, its failures (TrustedRootNotFound, InvalidTrustedRoot), and the API
validation of the keyless entries."""

from __future__ import annotations

import pytest
from e2e.sigstore_ca import LocalCA, pem, trusted_root_json
from pydantic import ValidationError

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import CONFIGMAPS
from modelprefetch.oci.client import RegistryClient
from modelprefetch.reconciler.verifier import verify_artifact
from tests.oci.conftest import client, registry, sleeps
from tests.oci.fakeregistry import FakeRegistry
from tests.reconciler.test_verifier import _artifact
from tests.verify.signing import new_key, sign
from tests.verify.test_verify_cosign import REPO, _model

__all__ = ["client", "registry", "sleeps"]

IDENTITY, ISSUER = "ci@models.example", "https://issuer.example"


def _spec(registry: FakeRegistry, **signer: object) -> ModelDeploymentSpec:
    entry = {"trustedRoot": {"configMapName": "root"}, "identity": IDENTITY, "issuer": ISSUER}
    verify = {"keyless": [{**entry, **signer}]}
    return parse_spec({"model": {"reference": f"{registry.host}/{REPO}:v1", "verify": verify}})


async def _root(kube: KubeClient, text: str) -> None:
    body = {"metadata": {"name": "root", "namespace": "ns"}, "data": {"trusted_root.json": text}}
    await kube.create(CONFIGMAPS, body)


async def test_keyless_signature_verifies_with_the_configmap_root(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    ca, key = LocalCA("unit"), new_key()
    digest = _model(registry)
    cert = ca.issue(key.public_key(), identity=IDENTITY, issuer=ISSUER)
    annotations = {"dev.sigstore.cosign/certificate": pem(cert)}
    sign(registry, REPO, digest, key, annotations=annotations)
    await _root(kube, trusted_root_json([ca]))
    verdict = await verify_artifact(
        kube, client, "ns", _spec(registry), _artifact(registry, digest), None
    )
    assert verdict.verified, verdict.message
    assert f"certificate for {IDENTITY}" in verdict.message
    wrong = _spec(registry, identity=None, identityRegExp=r"release@.*")
    verdict = await verify_artifact(kube, client, "ns", wrong, _artifact(registry, digest), None)
    assert (verdict.verified, verdict.reason) == (False, "UntrustedSigner")


async def test_missing_and_broken_trusted_roots_have_their_reasons(
    kube: KubeClient, registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    spec = _spec(registry)
    verdict = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), None)
    assert (verdict.verified, verdict.reason) == (False, "TrustedRootNotFound")
    assert "ConfigMap root[trusted_root.json] in namespace ns not found" in verdict.message
    await _root(kube, '{"certificateAuthorities": []}')
    verdict = await verify_artifact(kube, client, "ns", spec, _artifact(registry, digest), None)
    assert (verdict.verified, verdict.reason) == (False, "InvalidTrustedRoot")
    assert "lists no certificateAuthorities" in verdict.message


@pytest.mark.parametrize(
    ("signer", "error"),
    [
        ({"identity": None}, "set exactly one of identity and identityRegExp"),
        ({"identityRegExp": ".*"}, "set exactly one of identity and identityRegExp"),
        ({"issuer": None, "issuerRegExp": "("}, "issuerRegExp '\\(' does not compile"),
        ({"trustedRoot": {}}, "set exactly one of secretName and configMapName"),
    ],
)
def test_keyless_entries_are_validated(signer: dict[str, object], error: str) -> None:
    entry: dict[str, object] = {
        "trustedRoot": {"configMapName": "root"},
        "identity": IDENTITY,
        "issuer": ISSUER,
    }
    entry = {k: v for k, v in {**entry, **signer}.items() if v is not None}
    with pytest.raises(ValidationError, match=error):
        parse_spec({"model": {"reference": "r.example/m:v1", "verify": {"keyless": [entry]}}})


def test_verify_needs_some_signer() -> None:
    with pytest.raises(ValidationError, match="set publicKeys or keyless"):
        parse_spec({"model": {"reference": "r.example/m:v1", "verify": {}}})
