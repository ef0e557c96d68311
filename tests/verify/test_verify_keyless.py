"""Keyless cosign signatures (certificate + chain annotations) against a local
Fulcio-like CA and a trusted_root.json naming it: every verdict of verify_digest.

Timestamps need a real RFC 3161 authority: e2e/operator_tests/test_verification_keyless.py
signs with cosign against the local timestamp-authority; here the certificate is checked
at verification time (no timestamp), as cosign does without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from e2e.sigstore_ca import LocalCA, pem, trusted_root_json

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.verify import Outcome, Reason, verify_digest
from modelprefetch.verify.keyless import KeylessPolicy, Matcher, certificate_issuer
from modelprefetch.verify.trustroot import TrustedRootError, load_trusted_root
from tests.oci.fakeregistry import FakeRegistry
from tests.verify.signing import new_key, sign
from tests.verify.test_verify_cosign import REPO, _model

IDENTITY = "release@models.example"
ISSUER = "https://issuer.models.example"


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA("test-fulcio")


def _annotations(cert_pem: str, chain_pem: str) -> dict[str, str]:
    return {
        "dev.sigstore.cosign/certificate": cert_pem,
        "dev.sigstore.cosign/chain": chain_pem,
    }


def _sign_keyless(
    registry: FakeRegistry, digest: str, ca: LocalCA, identity: str = IDENTITY, **kw: object
) -> None:
    key = new_key()
    issuer = str(kw.pop("issuer", ISSUER))
    cert = ca.issue(key.public_key(), identity=identity, issuer=issuer, **kw)  # type: ignore[arg-type]
    sign(registry, REPO, digest, key, annotations=_annotations(pem(cert), pem(*ca.chain)))


def _policy(
    trusted: list[LocalCA], identity: Matcher | None = None, issuer: Matcher | None = None
) -> KeylessPolicy:
    root = load_trusted_root(trusted_root_json(trusted).encode(), "ConfigMap root[tr.json]")
    return KeylessPolicy(root, identity or Matcher(IDENTITY), issuer or Matcher(ISSUER))


async def _verdict(
    registry: FakeRegistry, client: RegistryClient, digest: str, policy: KeylessPolicy
) -> Outcome:
    ref = parse_reference(f"{registry.host}/{REPO}")
    return await verify_digest(client, ref, digest, [], [policy])


async def test_keyless_signature_from_trusted_ca_verifies(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    _sign_keyless(registry, digest, ca)
    outcome = await _verdict(registry, client, digest, _policy([ca]))
    assert outcome.verified, outcome.message
    assert f"certificate for {IDENTITY} from issuer {ISSUER}" in outcome.evidence


@pytest.mark.parametrize(
    ("identity", "issuer", "expected"),
    [
        (Matcher("someone@else.example"), None, "is not 'someone@else.example'"),
        (None, Matcher("https://other.example"), "is not 'https://other.example'"),
        (Matcher(pattern=r".*@other\.example"), None, r"is not ~'.*@other\\.example'"),
        (Matcher(pattern="release"), None, "is not ~'release'"),  # whole value, not search
    ],
)
async def test_wrong_identity_or_issuer_is_untrusted_signer(
    registry: FakeRegistry,
    client: RegistryClient,
    ca: LocalCA,
    identity: Matcher | None,
    issuer: Matcher | None,
    expected: str,
) -> None:
    digest = _model(registry)
    _sign_keyless(registry, digest, ca)
    outcome = await _verdict(registry, client, digest, _policy([ca], identity, issuer))
    assert outcome.reason is Reason.UNTRUSTED_SIGNER
    assert expected in outcome.message


async def test_regexp_identity_and_issuer_verify(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    _sign_keyless(registry, digest, ca)
    policy = _policy(
        [ca], Matcher(pattern=r"[a-z]+@models\.example"), Matcher(pattern=r"https://.*")
    )
    assert (await _verdict(registry, client, digest, policy)).verified


async def test_certificate_from_another_ca_is_untrusted_signer(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    _sign_keyless(registry, digest, LocalCA("rogue"))  # same identity, issuer; other CA
    outcome = await _verdict(registry, client, digest, _policy([ca]))
    assert outcome.reason is Reason.UNTRUSTED_SIGNER
    assert "does not chain to a CA of ConfigMap root[tr.json]" in outcome.message


async def test_expired_certificate_without_timestamp_is_untrusted(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    past = datetime.now(UTC) - timedelta(hours=1)
    _sign_keyless(registry, digest, ca, not_before=past)  # 10 minutes, long gone
    outcome = await _verdict(registry, client, digest, _policy([ca]))
    assert outcome.reason is Reason.UNTRUSTED_SIGNER
    assert "does not chain" in outcome.message


async def test_certificate_of_another_key_is_signature_invalid(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    cert = ca.issue(new_key().public_key(), identity=IDENTITY, issuer=ISSUER)
    sign(registry, REPO, digest, new_key(), annotations=_annotations(pem(cert), ""))
    outcome = await _verdict(registry, client, digest, _policy([ca]))
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert "signature does not verify with its certificate" in outcome.message


async def test_unreadable_timestamp_is_signature_invalid(
    registry: FakeRegistry, client: RegistryClient, ca: LocalCA
) -> None:
    digest = _model(registry)
    key = new_key()
    cert = ca.issue(key.public_key(), identity=IDENTITY, issuer=ISSUER)
    annotations = _annotations(pem(cert), "")
    annotations["dev.sigstore.cosign/rfc3161timestamp"] = '{"SignedRFC3161Timestamp": "AAAA"}'
    sign(registry, REPO, digest, key, annotations=annotations)
    outcome = await _verdict(registry, client, digest, _policy([ca]))
    assert outcome.reason is Reason.SIGNATURE_INVALID
    assert "RFC 3161 timestamp annotation is unreadable" in outcome.message


def test_issuer_extension_is_read(ca: LocalCA) -> None:
    cert = ca.issue(new_key().public_key(), identity=IDENTITY, issuer=ISSUER)
    assert certificate_issuer(cert) == ISSUER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"not json", "is not JSON"),
        (b"[]", "is not a JSON object"),
        (b"{}", "lists no certificateAuthorities"),
        (b'{"certificateAuthorities": [{"certChain": {"certificates": []}}]}', "must list"),
        (
            b'{"certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": "eA=="}]'
            b"}}]}",
            "is no base64 DER certificate",
        ),
    ],
)
def test_bad_trusted_root_is_a_clear_error(text: bytes, expected: str) -> None:
    with pytest.raises(TrustedRootError, match=expected):
        load_trusted_root(text, "ConfigMap root[tr.json]")
