"""cosign's new bundle format (sigstore bundles as OCI referrers) through verify_digest.

The positive cases replay what the real cosign v2.6.5 wrote with --new-bundle-format
(tests/verify/data/cosign-v2.6.5-new-bundle, README there): every manifest, index and
blob byte for byte, into the fake registry without a referrers API, as cosign left them
in a registry without one. The negative cases change one thing each, or build a bundle
in Python (a statement of another digest, an attestation, a messageSignature).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.verify import Outcome, Reason, load_public_keys, verify_digest
from modelprefetch.verify.keyless import KeylessPolicy, Matcher
from modelprefetch.verify.modelsig import pae
from modelprefetch.verify.trustroot import load_trusted_root
from tests.oci.fakeregistry import FakeRegistry, digest_of
from tests.verify.signing import new_key, public_pem

DATA = Path(__file__).parent / "data" / "cosign-v2.6.5-new-bundle"
REPO = "m/x"
SUBJECT = "sha256:79854494a64d84d58fbebd4bafd3f58c077367c54f908336e37a7065c741d420"
KEY_REFERRER = "sha256:1d0c1d14a05d5f3e14fb1eab0f0df4180c4926986dea76c25a93820078104143"
KEYLESS_REFERRER = "sha256:24a63e5f73ed73e1a6620a9e4e075e57325f9e70892c7da642185f9b1d6dff2c"
IDENTITY, ISSUER = "bot@x.example", "https://iss.example"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _replay_cosign(registry: FakeRegistry) -> None:
    """The registry as cosign left it: subject, tag-schema index, two bundle referrers."""
    registry.referrers_api = False
    assert registry.put_manifest(REPO, _raw("subject-manifest.json"), "v1") == SUBJECT
    registry.put_manifest(REPO, _raw("referrers-index.json"), "sha256-" + SUBJECT[7:])
    registry.put_manifest(REPO, _raw("key-signature-manifest.json"))
    registry.put_manifest(REPO, _raw("keyless-signature-manifest.json"))
    registry.put_blob(REPO, b"{}")
    registry.put_blob(REPO, _raw("key-bundle.json"))
    registry.put_blob(REPO, _raw("keyless-bundle.json"))


def _policy(identity: str = IDENTITY, issuer: str = ISSUER) -> KeylessPolicy:
    root = load_trusted_root(_raw("trusted_root.json"), "ConfigMap root[trusted_root.json]")
    return KeylessPolicy(root, Matcher(identity), Matcher(issuer))


async def _verdict(
    registry: FakeRegistry,
    client: RegistryClient,
    pem: bytes | None = None,
    keyless: list[KeylessPolicy] | None = None,
    digest: str = SUBJECT,
) -> Outcome:
    keys = load_public_keys(pem, "ConfigMap signers[cosign.pub]") if pem else []
    ref = parse_reference(f"{registry.host}/{REPO}")
    return await verify_digest(client, ref, digest, keys, keyless or [])


async def test_cosign_key_bundle_verifies(registry: FakeRegistry, client: RegistryClient) -> None:
    _replay_cosign(registry)
    outcome = await _verdict(registry, client, _raw("key.pub"))
    assert outcome.reason is Reason.VERIFIED, outcome.message
    assert outcome.evidence.startswith(
        f"sigstore bundle (DSSE) in referrer {KEY_REFERRER}, key "
    ), outcome.evidence
    assert "(ConfigMap signers[cosign.pub])" in outcome.evidence


async def test_cosign_keyless_bundle_verifies_offline_at_its_timestamp(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """The certificate lived 10 minutes, long ago by now: the TSA's time makes it valid."""
    _replay_cosign(registry)
    outcome = await _verdict(registry, client, keyless=[_policy()])
    assert outcome.reason is Reason.VERIFIED, outcome.message
    assert f"sigstore bundle (DSSE) in referrer {KEYLESS_REFERRER}" in outcome.evidence
    assert f"certificate for {IDENTITY} from issuer {ISSUER}" in outcome.evidence
    assert "(timestamp by tsa-0)" in outcome.evidence


async def test_wrong_key_is_untrusted_signer(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    _replay_cosign(registry)
    outcome = await _verdict(registry, client, public_pem(new_key()))
    assert outcome.reason is Reason.UNTRUSTED_SIGNER, outcome.message
    assert "has 2 signatures, none made with a configured key" in outcome.message


@pytest.mark.parametrize(
    ("identity", "issuer", "tell"),
    [
        ("intern@x.example", ISSUER, "certificate identity ['bot@x.example'] is not"),
        (IDENTITY, "https://evil.example", "certificate issuer 'https://iss.example' is not"),
    ],
)
async def test_keyless_bundle_of_another_identity_or_issuer_is_untrusted(
    registry: FakeRegistry, client: RegistryClient, identity: str, issuer: str, tell: str
) -> None:
    _replay_cosign(registry)
    outcome = await _verdict(registry, client, keyless=[_policy(identity, issuer)])
    assert outcome.reason is Reason.UNTRUSTED_SIGNER and tell in outcome.message


async def test_tampered_keyless_bundle_is_signature_invalid(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """cosign's keyless bundle with the statement's subject changed (attached anew, as a
    tamperer would): only the signature check can catch it."""
    bundle = json.loads(_raw("keyless-bundle.json"))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    registry.put_manifest(REPO, _raw("subject-manifest.json"), "v1")
    referrer = _attach(registry, SUBJECT, json.dumps(bundle).encode(), None)
    outcome = await _verdict(registry, client, keyless=[_policy()])
    assert outcome.reason is Reason.SIGNATURE_INVALID, outcome.message
    assert f"referrer {referrer}: signature does not verify with its certificate" in (
        outcome.message
    )


async def test_the_bundle_of_one_digest_does_not_verify_another(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """The cosign bundle referrer copied onto another digest: valid signature, wrong
    subject -> SignatureInvalid."""
    _replay_cosign(registry)
    other = registry.put_manifest(REPO, {"schemaVersion": 2, "layers": []}, "v2")
    document = json.loads(_raw("key-signature-manifest.json"))
    document["subject"]["digest"] = other
    registry.referrers_api = True
    registry.put_manifest(REPO, document)
    outcome = await _verdict(registry, client, _raw("key.pub"), digest=other)
    assert outcome.reason is Reason.SIGNATURE_INVALID, outcome.message
    assert f"signed statement names {SUBJECT}, not {other}" in outcome.message


# -- bundles built in Python, pushed as referrers through the referrers API ---------------


def _statement(digest: str, predicate: str = "https://sigstore.dev/cosign/sign/v1") -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": digest[7:]}}],
            "predicateType": predicate,
        }
    ).encode()


def _dsse_bundle(key: ec.EllipticCurvePrivateKey, statement: bytes) -> bytes:
    kind = "application/vnd.in-toto+json"
    signature = key.sign(pae(kind, statement), ec.ECDSA(hashes.SHA256()))
    return json.dumps(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": "k"}},
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": kind,
                "signatures": [{"sig": base64.b64encode(signature).decode()}],
            },
        }
    ).encode()


def _message_bundle(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    sha256 = digest_of(message)[7:]
    signature = key.sign(bytes.fromhex(sha256), ec.ECDSA(Prehashed(hashes.SHA256())))
    return json.dumps(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": "k"}},
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": base64.b64encode(bytes.fromhex(sha256)).decode(),
                },
                "signature": base64.b64encode(signature).decode(),
            },
        }
    ).encode()


def _attach(registry: FakeRegistry, subject: str, bundle: bytes, predicate: str | None) -> str:
    layer = registry.put_blob(REPO, bundle)
    config = registry.put_blob(REPO, b"{}")
    annotations = {"dev.sigstore.bundle.predicateType": predicate} if predicate else {}
    return registry.put_manifest(
        REPO,
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": BUNDLE_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [{"mediaType": BUNDLE_TYPE, "digest": layer, "size": len(bundle)}],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject,
                "size": 1,
            },
            **({"annotations": annotations} if annotations else {}),
        },
    )


def _subject(registry: FakeRegistry) -> tuple[str, bytes]:
    manifest = json.dumps({"schemaVersion": 2, "layers": [], "config": {}}).encode()
    return registry.put_manifest(REPO, manifest, "v1"), manifest


async def test_bundle_found_through_the_referrers_api_verifies(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest, _ = _subject(registry)
    referrer = _attach(registry, digest, _dsse_bundle(key, _statement(digest)), None)
    outcome = await _verdict(registry, client, public_pem(key), digest=digest)
    assert outcome.reason is Reason.VERIFIED, outcome.message
    assert f"sigstore bundle (DSSE) in referrer {referrer}" in outcome.evidence


async def test_attestation_statement_is_not_a_signature(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A trusted key's statement with another predicate (an attestation) vouches for
    provenance, not for the model: invalid; one labelled as such is not read at all."""
    key = new_key()
    digest, _ = _subject(registry)
    slsa = "https://slsa.dev/provenance/v1"
    _attach(registry, digest, _dsse_bundle(key, _statement(digest, slsa)), None)
    outcome = await _verdict(registry, client, public_pem(key), digest=digest)
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert f"predicateType is '{slsa}'" in outcome.message
    registry.manifests[REPO] = {}  # again, with cosign's predicateType annotation
    digest, _ = _subject(registry)
    _attach(registry, digest, _dsse_bundle(key, _statement(digest, slsa)), slsa)
    outcome = await _verdict(registry, client, public_pem(key), digest=digest)
    assert outcome.reason is Reason.SIGNATURE_MISSING, outcome.message


async def test_message_signature_over_the_manifest_verifies(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest, manifest = _subject(registry)
    _attach(registry, digest, _message_bundle(key, manifest), None)
    outcome = await _verdict(registry, client, public_pem(key), digest=digest)
    assert outcome.reason is Reason.VERIFIED, outcome.message
    assert "sigstore bundle (message signature)" in outcome.evidence
    wrong = await _verdict(registry, client, public_pem(new_key()), digest=digest)
    assert wrong.reason is Reason.UNTRUSTED_SIGNER


async def test_message_signature_of_other_bytes_is_invalid(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    key = new_key()
    digest, _ = _subject(registry)
    _attach(registry, digest, _message_bundle(key, b"another manifest"), None)
    outcome = await _verdict(registry, client, public_pem(key), digest=digest)
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert f"signed message has digest {digest_of(b'another manifest')}, not {digest}" in (
        outcome.message
    )


@pytest.mark.parametrize(
    ("bundle", "tell"),
    [
        (b"not json", "is no sigstore bundle"),
        (b"[" * 100_000 + b"]" * 100_000, "is no sigstore bundle"),  # nesting past recursion
        (b'{"verificationMaterial": {"certificate": []}, "dsseEnvelope": []}', "is no sigstore"),
        (b'{"verificationMaterial": {}}', "has neither dsseEnvelope nor messageSignature"),
        (b'{"dsseEnvelope": {}}', "has no verificationMaterial"),
        (
            b'{"verificationMaterial": {"certificate": {"rawBytes": "AAAA"}}, "dsseEnvelope": {}}',
            "is no sigstore bundle",
        ),
    ],
)
async def test_broken_bundle_is_signature_invalid(
    registry: FakeRegistry, client: RegistryClient, bundle: bytes, tell: str
) -> None:
    digest, _ = _subject(registry)
    _attach(registry, digest, bundle, None)
    outcome = await _verdict(registry, client, public_pem(new_key()), digest=digest)
    assert outcome.reason is Reason.SIGNATURE_INVALID and tell in outcome.message, outcome.message


async def test_oversized_bundle_is_not_fetched(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    digest, _ = _subject(registry)
    _attach(registry, digest, b" " * (256 * 1024 + 1), None)
    outcome = await _verdict(registry, client, public_pem(new_key()), digest=digest)
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert "sigstore bundle of 262145 bytes" in outcome.message
    assert registry.count("GET", "/blobs/") == 0
