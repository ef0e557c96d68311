"""A sigstore trusted root (`trusted_root.json`): the CAs that may issue signing
certificates and the timestamp authorities whose timestamps count.

The format is sigstore's `application/vnd.dev.sigstore.trustedroot+json` (what
`cosign verify --trusted-root` reads): `certificateAuthorities[]` and
`timestampAuthorities[]`, each a `certChain.certificates[].rawBytes` list (base64 DER,
the issuing certificate first, the root last) and a `validFor` window. Transparency log
and CT log entries are ignored: nothing here asks a log (none is assumed reachable).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

MAX_AUTHORITIES = 16  # per kind; a real root lists a handful
MAX_CHAIN = 8  # certificates per authority


class TrustedRootError(ValueError):
    """A trusted root that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Authority:
    """One CA or TSA: its certificates (issuer first, root last) and when it was trusted."""

    name: str
    certificates: tuple[x509.Certificate, ...]
    start: datetime
    end: datetime | None

    def valid_at(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


@dataclass(frozen=True)
class TrustedRoot:
    source: str  # "ConfigMap sigstore-root[trusted_root.json]" - for messages
    certificate_authorities: tuple[Authority, ...]
    timestamp_authorities: tuple[Authority, ...]


def load_trusted_root(text: bytes, source: str) -> TrustedRoot:
    """Parse a trusted_root.json; TrustedRootError names `source` and the problem."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TrustedRootError(f"{source} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise TrustedRootError(f"{source} is not a JSON object (sigstore trusted_root.json)")
    cas = _authorities(document, "certificateAuthorities", source)
    if not cas:
        raise TrustedRootError(f"{source} lists no certificateAuthorities")
    tsas = _authorities(document, "timestampAuthorities", source)
    return TrustedRoot(source, cas, tsas)


def _authorities(document: dict[str, Any], field: str, source: str) -> tuple[Authority, ...]:
    entries = document.get(field) or []
    if not isinstance(entries, list):
        raise TrustedRootError(f"{source}: {field} is not a list")
    if len(entries) > MAX_AUTHORITIES:
        raise TrustedRootError(f"{source}: more than {MAX_AUTHORITIES} {field}")
    return tuple(_authority(entry, f"{source} {field}[{i}]") for i, entry in enumerate(entries))


def _authority(entry: object, where: str) -> Authority:
    if not isinstance(entry, dict):
        raise TrustedRootError(f"{where} is not an object")
    chain = (entry.get("certChain") or {}).get("certificates")
    if not isinstance(chain, list) or not chain or len(chain) > MAX_CHAIN:
        raise TrustedRootError(f"{where}: certChain.certificates must list 1-{MAX_CHAIN} certs")
    certificates = []
    for number, cert in enumerate(chain):
        raw = cert.get("rawBytes") if isinstance(cert, dict) else None
        try:
            der = base64.b64decode(raw or "", validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise TrustedRootError(
                f"{where}: certificates[{number}].rawBytes is no base64 DER certificate: {exc}"
            ) from None
    valid_for = entry.get("validFor") or {}
    start = _time(valid_for.get("start"), where) or datetime.min.replace(tzinfo=UTC)
    end = _time(valid_for.get("end"), where)
    subject = entry.get("subject") or {}
    name = subject.get("commonName") if isinstance(subject, dict) else None
    return Authority(
        str(name or certificates[-1].subject.rfc4514_string()), tuple(certificates), start, end
    )


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TrustedRootError(f"{where}: validFor time {value!r} is not RFC 3339") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
