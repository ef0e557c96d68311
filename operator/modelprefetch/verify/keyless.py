"""Keyless (certificate) cosign signatures, checked offline against a trusted root.

A keyless signature layer carries the signing certificate (`dev.sigstore.cosign/
certificate`, PEM), optionally its chain, and an RFC 3161 timestamp over the signature
bytes (`dev.sigstore.cosign/rfc3161timestamp`). It is trusted when, in this order:

1. the signature verifies over the payload with the certificate's public key
   (else SignatureInvalid: the layer is broken, whoever made it);
2. the time of signing is established: a timestamp by a configured timestamp authority
   over exactly these signature bytes (rfc3161-client checks the CMS signature and the
   TSA chain); without a timestamp, the time of verification (a short-lived certificate
   has expired by then, which is the point of a timestamp);
3. the certificate chains to a configured CA at that time (cryptography's X.509
   verifier; code-signing EKU, as Fulcio issues), and
4. its identity (a SubjectAltName) and its OIDC issuer (Fulcio extension
   1.3.6.1.4.1.57264.1.8, or the legacy .1.1) match the policy.

Steps 2-4 failing mean UntrustedSigner: a valid signature by someone not trusted. No
transparency log and no SCT is consulted (none is assumed reachable); docs/verification.md
says what that gives up.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from rfc3161_client import TimeStampResponse, VerifierBuilder, decode_timestamp_response
from rfc3161_client import VerificationError as TimestampError

from modelprefetch.api.regexp import full_match
from modelprefetch.verify.trustroot import Authority, TrustedRoot

ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes (deprecated)


@dataclass(frozen=True)
class Matcher:
    """An exact value or a regular expression that must match the WHOLE value."""

    exact: str | None = None
    pattern: str | None = None

    def matches(self, value: str) -> bool:
        if self.exact is not None:
            return value == self.exact
        return self.pattern is not None and full_match(self.pattern, value)

    def describe(self) -> str:
        return repr(self.exact) if self.exact is not None else f"~{self.pattern!r}"


@dataclass(frozen=True)
class KeylessPolicy:
    """Who may sign: a trusted root, and the certificate identity and issuer it must carry."""

    root: TrustedRoot
    identity: Matcher
    issuer: Matcher

    def describe(self) -> str:
        return (
            f"identity {self.identity.describe()} issuer {self.issuer.describe()} "
            f"({self.root.source})"
        )


@dataclass(frozen=True)
class CertificateLayer:
    """The keyless material of one signature layer, as found in its annotations."""

    certificate_pem: str
    timestamp_json: str | None
    # a sigstore bundle's timestamps instead: DER RFC 3161 responses (bundle.py)
    timestamps: tuple[bytes, ...] = ()


class KeylessError(Exception):
    """Why a keyless signature does not count; `invalid`: broken, else untrusted."""

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        self.message, self.invalid = message, invalid


def check_keyless(
    layer: CertificateLayer,
    signature: bytes,
    payload: bytes,
    policies: list[KeylessPolicy],
    *,
    prehashed: bool = False,
) -> str:
    """The evidence (identity, issuer, time) when a policy trusts this signature; else
    KeylessError with the reason of the closest policy. `prehashed`: `payload` is the
    SHA-256 of the signed message (a bundle's messageSignature)."""
    try:
        cert = x509.load_pem_x509_certificate(layer.certificate_pem.encode())
    except ValueError as exc:
        raise KeylessError(f"certificate annotation does not parse: {exc}", invalid=True) from None
    if not _signature_verifies(cert, signature, payload, prehashed):
        raise KeylessError("signature does not verify with its certificate", invalid=True)
    identities, issuer = certificate_identities(cert), certificate_issuer(cert)
    rejections = []
    for policy in policies:
        try:
            when, how = _signing_time(layer, signature, policy.root)
            _chain(cert, policy.root, when)
        except KeylessError as exc:
            if exc.invalid:
                raise
            rejections.append(exc.message)
            continue
        if not any(policy.identity.matches(identity) for identity in identities):
            rejections.append(
                f"certificate identity {identities} is not {policy.identity.describe()}"
            )
            continue
        if issuer is None or not policy.issuer.matches(issuer):
            rejections.append(f"certificate issuer {issuer!r} is not {policy.issuer.describe()}")
            continue
        return (
            f"certificate for {identities[0]} from issuer {issuer} "
            f"(CA {cert.issuer.rfc4514_string()}, {policy.root.source}), signed {how}"
        )
    raise KeylessError("; ".join(dict.fromkeys(rejections)))


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """The SubjectAltName values Fulcio puts the identity in: email, URI, otherName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found: list[str] = list(san.get_values_for_type(x509.RFC822Name))
    found += san.get_values_for_type(x509.UniformResourceIdentifier)
    for other in san.get_values_for_type(x509.OtherName):
        found.append(_der_utf8(other.value) or "")
    return [value for value in found if value]


def certificate_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded (the v2 extension wins over the legacy one)."""
    for oid, der in ((ISSUER_V2, True), (ISSUER_V1, False)):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        return (_der_utf8(raw) if der else raw.decode("utf-8", "replace")) or None
    return None


def _der_utf8(raw: bytes) -> str | None:
    # A short DER UTF8String: tag 0x0c, one length byte (or 0x81 + one), the text.
    if len(raw) >= 2 and raw[0] == 0x0C:
        start, length = (3, raw[2]) if raw[1] == 0x81 and len(raw) > 2 else (2, raw[1])
        if start + length == len(raw):
            return raw[start:].decode("utf-8", "replace")
    return None


def _signature_verifies(
    cert: x509.Certificate, signature: bytes, payload: bytes, prehashed: bool
) -> bool:
    sha256: hashes.SHA256 | Prehashed = Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
    try:
        key = cert.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(sha256))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), sha256)
        elif isinstance(key, ed25519.Ed25519PublicKey) and not prehashed:
            key.verify(signature, payload)
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _timestamps(layer: CertificateLayer) -> list[TimeStampResponse]:
    """The decoded RFC 3161 responses: the bundle's, or the annotation's one."""
    try:
        if layer.timestamps:
            return [decode_timestamp_response(der) for der in layer.timestamps]
        if not layer.timestamp_json:
            return []
        encoded = json.loads(layer.timestamp_json)["SignedRFC3161Timestamp"]
        return [decode_timestamp_response(base64.b64decode(encoded, validate=True))]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        where = "of the bundle" if layer.timestamps else "annotation"
        raise KeylessError(
            f"RFC 3161 timestamp {where} is unreadable: {exc}", invalid=True
        ) from None


def _signing_time(
    layer: CertificateLayer, signature: bytes, root: TrustedRoot
) -> tuple[datetime, str]:
    responses = _timestamps(layer)
    if not responses:
        now = datetime.now(UTC)
        return now, "without a timestamp (certificate checked at verification time)"
    if not root.timestamp_authorities:
        raise KeylessError(f"timestamped, but {root.source} lists no timestampAuthorities")
    for response in responses:
        for authority in root.timestamp_authorities:
            if _timestamp_verifies(authority, response, signature):
                when = response.tst_info.gen_time
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                if authority.valid_at(when):
                    return when, f"at {when.isoformat()} (timestamp by {authority.name})"
    raise KeylessError(
        f"the timestamp is not by a timestamp authority of {root.source} over this signature"
    )


def _timestamp_verifies(authority: Authority, response: object, signature: bytes) -> bool:
    certs = authority.certificates
    builder = VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
    for intermediate in certs[1:-1]:
        builder = builder.add_intermediate_certificate(intermediate)
    try:
        return bool(builder.build().verify_message(response, signature))  # type: ignore[arg-type]
    except TimestampError:
        return False


def _chain(cert: x509.Certificate, root: TrustedRoot, when: datetime) -> None:
    # Fulcio leaves carry code-signing, not client-auth: let any EKU through the
    # webpki defaults and check code-signing below.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    problems = []
    for authority in root.certificate_authorities:
        if not authority.valid_at(when):
            continue
        verifier = (
            PolicyBuilder()
            .store(Store([authority.certificates[-1]]))
            .time(when)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        try:
            verifier.verify(cert, list(authority.certificates[:-1]))
        except (VerificationError, x509.UnsupportedGeneralNameType) as exc:
            problems.append(f"{authority.name}: {exc}")
            continue
        try:
            usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usage = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
            raise KeylessError("certificate is not for code signing (no EKU codeSigning)")
        return
    raise KeylessError(
        f"certificate from {cert.issuer.rfc4514_string()} does not chain to a CA of "
        f"{root.source} at {when.isoformat()}" + (f" ({problems[0]})" if problems else "")
    )
