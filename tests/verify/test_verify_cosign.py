"""verify_digest against the fake registry: every verdict, with cosign-format signatures."""

from __future__ import annotations

import pytest

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.verify import Outcome, Reason, load_public_keys, verify_digest
from modelprefetch.verify.cosign import PayloadError, signed_digest
from modelprefetch.verify.keys import InvalidKeyError
from tests.oci.fakeregistry import FakeRegistry
from tests.verify.signing import new_key, payload_for, public_pem, sign, signature_manifest

REPO = "m/tiny"


def _model(registry: FakeRegistry, tag: str = "v1", content: bytes = b"weights") -> str:
    layer = registry.put_blob(REPO, content)
    config = registry.put_blob(REPO, b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [
            {"mediaType": "application/octet-stream", "digest": layer, "size": len(content)}
        ],
    }
    return registry.put_manifest(REPO, manifest, tag)


async def _verdict(
    registry: FakeRegistry, client: RegistryClient, digest: str, pem: bytes
) -> Outcome:
    keys = load_public_keys(pem, "Secret keys[cosign.pub]")
    return await verify_digest(client, parse_reference(f"{registry.host}/{REPO}"), digest, keys)


async def test_signed_digest_verifies(registry: FakeRegistry, client: RegistryClient) -> None:
    key = new_key()
    digest = _model(registry)
    sign(registry, REPO, digest, key)
    outcome = await _verdict(registry, client, digest, public_pem(key))
    assert outcome.reason is Reason.VERIFIED and outcome.verified
    assert ".sig" in outcome.evidence


async def test_unsigned_digest_is_signature_missing(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    outcome = await _verdict(registry, client, digest, public_pem(new_key()))
    assert outcome.reason is Reason.SIGNATURE_MISSING and not outcome.verified
    assert digest in outcome.message


async def test_other_key_is_untrusted_signer(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    sign(registry, REPO, digest, new_key())
    outcome = await _verdict(registry, client, digest, public_pem(new_key()))
    assert outcome.reason is Reason.UNTRUSTED_SIGNER


async def test_any_of_several_keys_verifies(registry: FakeRegistry, client: RegistryClient) -> None:
    signer = new_key()
    digest = _model(registry)
    sign(registry, REPO, digest, signer)
    both = public_pem(new_key()) + public_pem(signer)
    assert (await _verdict(registry, client, digest, both)).verified


async def test_signature_copied_from_another_digest_is_invalid(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    good = _model(registry, "v1", b"good weights")
    bad = _model(registry, "v2", b"swapped weights")
    sign(registry, REPO, bad, key, payload_digest=good)  # a valid signature, of `good`
    outcome = await _verdict(registry, client, bad, public_pem(key))
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert good in outcome.message


async def test_garbled_signature_annotation_is_invalid(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    payload = payload_for(f"{registry.host}/{REPO}", digest)
    manifest = signature_manifest(registry, REPO, payload, "not base64!!")
    registry.put_manifest(REPO, manifest, digest.replace(":", "-") + ".sig")
    outcome = await _verdict(registry, client, digest, public_pem(new_key()))
    assert outcome.reason is Reason.SIGNATURE_INVALID


async def test_signature_as_referrer_verifies(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest = _model(registry)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = payload_for(f"{registry.host}/{REPO}", digest)
    manifest = signature_manifest(
        registry, REPO, payload, key.sign(payload, ec.ECDSA(hashes.SHA256()))
    )
    manifest["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
    manifest["subject"] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": len(registry.manifests[REPO][digest][1]),
    }
    registry.put_manifest(REPO, manifest)
    outcome = await _verdict(registry, client, digest, public_pem(key))
    assert outcome.verified
    assert outcome.evidence.startswith("cosign signature in referrer sha256:")


async def test_registry_failure_is_verification_error(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    digest = _model(registry)
    for _ in range(3):
        registry.fail_next(r"/referrers/", 503)
    outcome = await _verdict(registry, client, digest, public_pem(new_key()))
    assert outcome.reason is Reason.VERIFICATION_ERROR


def test_pem_without_key_is_rejected() -> None:
    with pytest.raises(InvalidKeyError, match="no PEM 'PUBLIC KEY' block"):
        load_public_keys(b"hello", "ConfigMap k[cosign.pub]")


def test_pem_with_garbage_key_is_rejected() -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(InvalidKeyError, match="public key 1 does not parse"):
        load_public_keys(pem, "ConfigMap k[cosign.pub]")


def test_deeply_nested_payload_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="payload is not JSON"):
        signed_digest(b"[" * 30_000 + b"]" * 30_000)
