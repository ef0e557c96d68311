"""A local Fulcio-like certificate authority for keyless signatures, made in the test.

Fulcio issues short-lived (10 minute) code-signing certificates whose SubjectAltName is
the signer's OIDC identity and whose extension 1.3.6.1.4.1.57264.1.8 (DER UTF8String;
the legacy .1.1 holds the raw string) is the OIDC issuer. This CA issues the same shape
for a public key the test holds, so cosign can sign "keyless" with
`--certificate/--certificate-chain` and no network. `trusted_root_json` writes the
sigstore trusted_root.json naming it (and a timestamp authority's chain).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")


def _utf8_der(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128, "short test values only"
    return bytes([0x0C, len(raw)]) + raw


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modelprefetch-e2e"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class LocalCA:
    """A root CA and an intermediate (as Fulcio has), both ECDSA P-256."""

    name: str
    root_key: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)
    intermediate_key: ec.EllipticCurvePrivateKey = field(init=False)
    intermediate: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca_cert(
            _name(f"{self.name} root"), self.root_key, self.root_key, None, now
        )
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca_cert(
            _name(f"{self.name} intermediate"),
            self.intermediate_key,
            self.root_key,
            self.root,
            now,
        )

    def _ca_cert(
        self,
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        issuer: x509.Certificate | None,
        now: datetime,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        identity: str,
        issuer: str,
        lifetime: timedelta = timedelta(minutes=10),
        not_before: datetime | None = None,
    ) -> x509.Certificate:
        """A Fulcio-shaped leaf: SAN email (or URI) = identity, OIDC issuer extensions."""
        start = not_before or datetime.now(UTC) - timedelta(seconds=30)
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity)
            if "://" in identity
            else x509.RFC822Name(identity)
        )
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, _utf8_der(issuer)), False)
            .sign(self.intermediate_key, hashes.SHA256())
        )

    @property
    def chain(self) -> list[x509.Certificate]:
        """Intermediate first, root last (trusted_root.json's and cosign's order)."""
        return [self.intermediate, self.root]


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _authority(name: str, chain: list[x509.Certificate]) -> dict[str, object]:
    return {
        "subject": {"organization": "modelprefetch-e2e", "commonName": name},
        "certChain": {
            "certificates": [
                {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
                for c in chain
            ]
        },
        "validFor": {"start": "2020-01-01T00:00:00Z"},
    }


def trusted_root_json(
    cas: list[LocalCA], tsa_chains: list[list[x509.Certificate]] | None = None
) -> str:
    """sigstore's trusted_root.json for these CAs and timestamp authorities (no logs)."""
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [],
            "certificateAuthorities": [_authority(ca.name, ca.chain) for ca in cas],
            "ctlogs": [],
            "timestampAuthorities": [
                _authority(f"tsa-{i}", chain) for i, chain in enumerate(tsa_chains or [])
            ],
        },
        indent=1,
    )
