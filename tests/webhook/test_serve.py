"""serve_webhooks: certificate from the Secret store or a cert-manager folder, then HTTPS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest

from modelprefetch.webhook.certs import issue
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.serve import serve_webhooks, watch_cert_dir

from .test_certs import FakeStore


async def healthz(port: int, ca_pem: bytes) -> int:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"https://127.0.0.1:{port}/healthz", ssl=ctx)
        return resp.status


async def test_self_signed_mode_serves_and_publishes_ca() -> None:
    """With a store, the server uses the stored certificate and publishes its CA."""
    store, published = FakeStore(), asyncio.Queue[bytes]()
    served = await serve_webhooks(
        ModelIndex(),
        host="127.0.0.1",
        port=0,
        store=store,
        ip_addresses=["127.0.0.1"],
        dns_names=["localhost"],
        on_ca_bundle=published.put,
        recorder=lambda *_: None,
    )
    try:
        ca = await asyncio.wait_for(published.get(), timeout=30)
        assert await healthz(served.runner.addresses[0][1], ca) == 200
    finally:
        await served.stop()


async def test_cert_manager_mode_serves_mounted_files(tmp_path: Path) -> None:
    """With a cert_dir, the server uses tls.crt/tls.key from it."""
    bundle = issue(["localhost"], ["127.0.0.1"], now=dt.datetime.now(dt.UTC))
    (tmp_path / "tls.crt").write_bytes(bundle.cert_pem)
    (tmp_path / "tls.key").write_bytes(bundle.key_pem)
    served = await serve_webhooks(
        ModelIndex(), host="127.0.0.1", port=0, cert_dir=tmp_path, recorder=lambda *_: None
    )
    try:
        assert await healthz(served.runner.addresses[0][1], bundle.ca_pem) == 200
    finally:
        await served.stop()


async def test_cert_dir_change_is_reloaded(tmp_path: Path) -> None:
    """A renewed certificate in the folder is loaded into the context."""
    first = issue(["localhost"], now=dt.datetime.now(dt.UTC))
    second = issue(["localhost"], now=dt.datetime.now(dt.UTC))
    (tmp_path / "tls.crt").write_bytes(first.cert_pem)
    (tmp_path / "tls.key").write_bytes(first.key_pem)
    loads: list[bytes] = []
    reloaded = asyncio.Event()

    class Recording(ssl.SSLContext):
        def load_cert_chain(self, certfile, keyfile=None, password=None):  # type: ignore[no-untyped-def]
            loads.append(Path(certfile).read_bytes())
            super().load_cert_chain(certfile, keyfile, password)
            reloaded.set()

    task = asyncio.create_task(watch_cert_dir(Recording(ssl.PROTOCOL_TLS_SERVER), tmp_path, 0.01))
    await asyncio.sleep(0)  # the watcher reads the first pair before we renew it
    (tmp_path / "tls.crt").write_bytes(second.cert_pem)
    (tmp_path / "tls.key").write_bytes(second.key_pem)
    try:
        await asyncio.wait_for(reloaded.wait(), timeout=30)
    finally:
        task.cancel()
    assert loads == [second.cert_pem]


async def test_needs_store_or_cert_dir() -> None:
    """Without a way to get a certificate, serve_webhooks refuses to start."""
    with pytest.raises(ValueError, match="SecretStore or a cert_dir"):
        await serve_webhooks(ModelIndex(), host="127.0.0.1", port=0)
