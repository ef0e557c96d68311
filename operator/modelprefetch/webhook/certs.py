"""The webhook's serving certificate: a self-signed CA and a leaf, kept in one Secret.

Every replica calls `ensure_certificate(store, ...)` at start and `rotate_forever(...)`
after: the first replica to write the Secret wins (`store.write` with the version it
read, False on conflict), the others adopt what is stored. The serving certificate is
re-issued `renew_before` its expiry or when the wanted SANs change; the CA lives longer
and, when it is itself renewed, the previous CA stays in `ca.crt` (so in `caBundle`)
until it expires, so replicas still serving the old leaf are trusted meanwhile.

Secret keys (the kubernetes.io/tls layout cert-manager uses, plus `ca.key`):
`tls.crt`, `tls.key`, `ca.crt` (current CA first, then older still-valid CAs), `ca.key`.

With cert-manager (the chart's certManager.enabled), none of this runs: the server
loads `tls.crt`/`tls.key` from the mounted Secret with `load_cert_dir` and cert-manager
injects caBundle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

CA_VALIDITY = dt.timedelta(days=3650)
CERT_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
CA_RENEW_BEFORE = dt.timedelta(days=400)  # longer than a leaf: a new CA never signs briefly


class SecretStore(Protocol):
    """Where the certificate lives; the operator implements it with its Kubernetes client."""

    async def read(self) -> tuple[dict[str, bytes], str] | None:
        """The Secret's data (decoded) and resourceVersion, or None when it does not exist."""

    async def write(self, data: dict[str, bytes], resource_version: str | None) -> bool:
        """Create (version None) or replace (at that version); False on conflict/exists."""


@dataclass(frozen=True, slots=True)
class CertBundle:
    """PEM material of the serving certificate and its CA chain."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes  # current CA first, then older CAs still valid: the caBundle
    ca_key_pem: bytes

    def to_secret_data(self) -> dict[str, bytes]:
        return {
            "tls.crt": self.cert_pem,
            "tls.key": self.key_pem,
            "ca.crt": self.ca_pem,
            "ca.key": self.ca_key_pem,
        }

    @classmethod
    def from_secret_data(cls, data: dict[str, bytes]) -> CertBundle | None:
        try:
            return cls(data["tls.crt"], data["tls.key"], data["ca.crt"], data["ca.key"])
        except KeyError:
            return None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def ca_certificates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.ca_pem)


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names the API server uses to reach a webhook Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # P-256: the cheapest TLS handshake


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_ca(now: dt.datetime) -> tuple[bytes, bytes]:
    key = _key()
    name = _name(f"modelprefetch-webhook-ca-{int(now.timestamp())}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem(key)


def issue(
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    *,
    now: dt.datetime,
    previous: CertBundle | None = None,
) -> CertBundle:
    """A new serving certificate, signed by the previous CA unless that one is due too."""
    cas = [c for c in (previous.ca_certificates if previous else []) if c.not_valid_after_utc > now]
    if previous and cas and cas[0].not_valid_after_utc - now > CA_RENEW_BEFORE:
        ca_pem, ca_key_pem = cas[0].public_bytes(serialization.Encoding.PEM), previous.ca_key_pem
        cas = cas[1:]
    else:
        ca_pem, ca_key_pem = _new_ca(now)
    bundle = ca_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cas)
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # someone edited the Secret
        return issue(dns_names, ip_addresses, now=now, previous=None)
    key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else str(ip_addresses[0])))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + CERT_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(cert.public_bytes(serialization.Encoding.PEM), _pem(key), bundle, ca_key_pem)


def renewal_reason(
    bundle: CertBundle,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    *,
    now: dt.datetime,
    renew_before: dt.timedelta = RENEW_BEFORE,
) -> str | None:
    """Why the stored certificate must be re-issued, or None when it is fine."""
    try:
        cert = bundle.certificate
        cas = bundle.ca_certificates
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return "the stored certificate does not parse"
    if not cas or cert.issuer != cas[0].subject:
        return "the certificate was not issued by the current CA"
    if cert.not_valid_after_utc - now < renew_before:
        return f"the certificate expires at {cert.not_valid_after_utc.isoformat()}"
    if cas[0].not_valid_after_utc - now < CA_RENEW_BEFORE:
        return f"the CA expires at {cas[0].not_valid_after_utc.isoformat()}"
    want_ips = {ipaddress.ip_address(ip) for ip in ip_addresses}
    if set(dns_names) != set(sans.get_values_for_type(x509.DNSName)) or want_ips != set(
        sans.get_values_for_type(x509.IPAddress)
    ):
        return "the wanted DNS names or IP addresses changed"
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def ensure_certificate(
    store: SecretStore,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    *,
    now: Callable[[], dt.datetime] = _now,
    renew_before: dt.timedelta = RENEW_BEFORE,
) -> CertBundle:
    """The valid certificate in the Secret, issuing and storing one when needed."""
    for _ in range(5):  # another replica may write between our read and write
        stored = await store.read()
        current, version = (None, None) if stored is None else stored
        bundle = CertBundle.from_secret_data(current) if current is not None else None
        reason = (
            "no certificate is stored"
            if bundle is None
            else renewal_reason(
                bundle, dns_names, ip_addresses, now=now(), renew_before=renew_before
            )
        )
        if reason is None and bundle is not None:
            return bundle
        fresh = issue(dns_names, ip_addresses, now=now(), previous=bundle)
        if await store.write(fresh.to_secret_data(), version):
            logger.info("Issued the webhook serving certificate: %s", reason)
            return fresh
    raise RuntimeError("the webhook certificate Secret keeps changing under us")


def load_into(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """(Re)load a certificate into a context: new connections use it, open ones keep theirs."""
    with tempfile.TemporaryDirectory(prefix="modelprefetch-tls-") as tmp:  # mode 0700
        cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert_file.write_bytes(cert_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)


def build_ssl_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving this certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_into(context, cert_pem, key_pem)
    return context


def load_cert_dir(cert_dir: str | Path) -> tuple[bytes, bytes]:
    """tls.crt and tls.key from a mounted Secret (cert-manager mode)."""
    return (Path(cert_dir) / "tls.crt").read_bytes(), (Path(cert_dir) / "tls.key").read_bytes()


async def rotate_forever(
    store: SecretStore,
    context: ssl.SSLContext,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    *,
    on_ca_bundle: Callable[[bytes], Awaitable[None]],
    interval: float = 3600.0,
    current: CertBundle | None = None,
) -> None:
    """Every `interval`: ensure the certificate, reload it and re-publish caBundle on change.

    `on_ca_bundle(pem)` patches the webhook configurations; it is called once at start
    too, so a configuration re-created by Helm gets its caBundle back.
    """
    published: bytes | None = None
    while True:
        delay = interval
        try:
            bundle = await ensure_certificate(store, dns_names, ip_addresses)
            if current is None or bundle.cert_pem != current.cert_pem:
                load_into(context, bundle.cert_pem, bundle.key_pem)
                current = bundle
            if bundle.ca_pem != published:
                await on_ca_bundle(bundle.ca_pem)
                published = bundle.ca_pem
        except asyncio.CancelledError:
            raise
        except Exception:
            # keep serving the loaded certificate; try again at the next tick
            logger.exception("Webhook certificate rotation failed")
            delay = min(interval, 30.0)
        await asyncio.sleep(delay)
