"""Serving certificate: issue, store, renew, rotate, and a real TLS handshake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from typing import Any

import aiohttp
from cryptography import x509

from modelprefetch.webhook.certs import (
    CertBundle,
    build_ssl_context,
    ensure_certificate,
    issue,
    renewal_reason,
    rotate_forever,
    service_dns_names,
)
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app, start_webhook_server

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
DNS = service_dns_names("modelprefetch-webhook", "modelprefetch")


class FakeStore:
    """An in-memory Secret with resourceVersion conflicts, like the API server."""

    def __init__(self, conflicts: int = 0) -> None:
        self.data: dict[str, bytes] | None = None
        self.version = 0
        self.writes = 0
        self.conflicts = conflicts

    async def read(self) -> tuple[dict[str, bytes], str] | None:
        return None if self.data is None else (dict(self.data), str(self.version))

    async def write(self, data: dict[str, bytes], resource_version: str | None) -> bool:
        if self.conflicts:
            # another replica wins the race with its own certificate
            self.conflicts -= 1
            self.data = issue(DNS, ["127.0.0.1"], now=NOW).to_secret_data()
            self.version += 1
            return False
        expected = None if self.data is None else str(self.version)
        if resource_version != expected:
            return False
        self.data, self.version, self.writes = dict(data), self.version + 1, self.writes + 1
        return True


def sans(bundle: CertBundle) -> list[Any]:
    ext = bundle.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return [
        *ext.value.get_values_for_type(x509.DNSName),
        *map(str, ext.value.get_values_for_type(x509.IPAddress)),
    ]


async def test_creates_and_stores_when_missing() -> None:
    """An empty store gets a certificate with the Service names and 127.0.0.1."""
    store = FakeStore()
    bundle = await ensure_certificate(store, DNS, ["127.0.0.1"], now=lambda: NOW)
    assert store.writes == 1 and store.data == bundle.to_secret_data()
    assert sans(bundle) == [*DNS, "127.0.0.1"]


async def test_valid_stored_certificate_is_reused() -> None:
    """A valid stored certificate is returned without writing."""
    store = FakeStore()
    first = await ensure_certificate(store, DNS, now=lambda: NOW)
    again = await ensure_certificate(store, DNS, now=lambda: NOW + dt.timedelta(days=100))
    assert again == first and store.writes == 1


async def test_renews_before_expiry_with_same_ca() -> None:
    """Inside renew_before the leaf is re-issued by the same CA, caBundle unchanged."""
    store = FakeStore()
    first = await ensure_certificate(store, DNS, now=lambda: NOW)
    later = await ensure_certificate(store, DNS, now=lambda: NOW + dt.timedelta(days=340))
    assert later.cert_pem != first.cert_pem
    assert later.ca_pem == first.ca_pem


def test_new_ca_keeps_old_ca_in_bundle() -> None:
    """When the CA is renewed the previous CA stays in the bundle while it is valid."""
    first = issue(DNS, now=NOW)
    later = issue(DNS, now=NOW + dt.timedelta(days=3400), previous=first)
    cas = later.ca_certificates
    assert len(cas) == 2 and cas[1] == first.ca_certificates[0]
    assert later.certificate.issuer == cas[0].subject


def test_san_change_needs_renewal() -> None:
    """Asking for other names makes the stored certificate due."""
    bundle = issue(DNS, now=NOW)
    assert renewal_reason(bundle, DNS, [], now=NOW) is None
    assert renewal_reason(bundle, DNS, ["127.0.0.1"], now=NOW) is not None


async def test_conflict_adopts_the_other_replicas_certificate() -> None:
    """When another replica writes first, its certificate is adopted."""
    store = FakeStore(conflicts=1)
    bundle = await ensure_certificate(store, DNS, ["127.0.0.1"], now=lambda: NOW)
    assert store.writes == 0 and store.data == bundle.to_secret_data()


async def test_tls_handshake_with_ca_bundle() -> None:
    """A client trusting only ca.crt reaches the server on 127.0.0.1 through its IP SAN."""
    bundle = issue(["localhost"], ["127.0.0.1"], now=dt.datetime.now(dt.UTC))
    runner = await start_webhook_server(
        create_app(ModelIndex(), recorder=lambda *_: None),
        build_ssl_context(bundle.cert_pem, bundle.key_pem),
        host="127.0.0.1",
        port=0,
    )
    try:
        port = runner.addresses[0][1]
        client_ctx = ssl.create_default_context(cadata=bundle.ca_pem.decode())
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{port}/mutate-pods"
            resp = await session.post(url, data=b"not a review", ssl=client_ctx)
            assert resp.status == 400  # answered over TLS: the handshake succeeded
    finally:
        await runner.cleanup()


async def test_rotate_forever_publishes_ca_bundle() -> None:
    """The rotation loop stores a certificate, loads it and publishes caBundle."""
    store, published = FakeStore(), asyncio.Queue[bytes]()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    task = asyncio.create_task(
        rotate_forever(store, context, DNS, on_ca_bundle=published.put, interval=3600)
    )
    try:
        ca = await asyncio.wait_for(published.get(), timeout=30)
    finally:
        task.cancel()
    assert store.data is not None and ca == store.data["ca.crt"]
