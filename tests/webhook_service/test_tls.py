"""The serving certificate of a replica: cert-manager renewals reach the TLS server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.settings import Settings
from modelprefetch.webhook.certs import CertBundle, issue
from modelprefetch.webhook_service.runner import start_webhook
from modelprefetch.webhook_service.tls import reload_cert_dir


class QuietKube:
    """No ModelDeployments, no webhook configurations; the watch stays open."""

    async def list(self, res: Resource, namespace: str | None = None) -> dict[str, Any]:
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def watch(
        self, res: Resource, resource_version: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        await asyncio.Event().wait()
        yield "BOOKMARK", {}  # not reached: makes this an async generator

    async def get_or_none(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        return None


def write_pair(cert_dir: Path, bundle: CertBundle) -> None:
    """What the kubelet does when cert-manager renewed the Secret: new files, same names."""
    (cert_dir / "tls.crt").write_bytes(bundle.cert_pem)
    (cert_dir / "tls.key").write_bytes(bundle.key_pem)


def der(bundle: CertBundle) -> bytes:
    return x509.load_pem_x509_certificates(bundle.cert_pem)[0].public_bytes(Encoding.DER)


async def served_certificate(port: int) -> bytes:
    """The leaf certificate a new TLS connection to 127.0.0.1:port is served."""
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE  # we compare bytes
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    try:
        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
    return cast(bytes, peer)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_cert_manager_renewal_is_served_without_a_restart(tmp_path: Path) -> None:
    """In certmanager mode, rewritten tls.crt/tls.key are served to new connections."""
    first, renewed = issue(["localhost"], ["127.0.0.1"], now=now()), issue(["x"], now=now())
    write_pair(tmp_path, first)
    settings = Settings(
        cert_mode="certmanager",
        webhook_cert_dir=str(tmp_path),
        cert_reload_seconds=0.05,
        bind_address="127.0.0.1",
        webhook_port=0,
    )
    runners: list[web.AppRunner] = []
    running = await start_webhook(settings, cast(KubeClient, QuietKube()), runners)
    try:
        port = runners[0].addresses[0][1]
        assert await served_certificate(port) == der(first)
        write_pair(tmp_path, renewed)
        for _ in range(200):
            if await served_certificate(port) == der(renewed):
                break
            await asyncio.sleep(0.05)
        assert await served_certificate(port) == der(renewed)
    finally:
        for task in running.tasks:
            task.cancel()
        for runner in runners:
            await runner.cleanup()


async def test_unreadable_pair_keeps_the_loaded_certificate(tmp_path: Path) -> None:
    """A half-written pair is not loaded; the next complete pair is."""
    first, second = issue(["a"], now=now()), issue(["b"], now=now())
    write_pair(tmp_path, first)
    loaded = ((tmp_path / "tls.crt").read_bytes(), (tmp_path / "tls.key").read_bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    loads: list[bytes] = []
    original = context.load_cert_chain

    def recording(certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        original(certfile, keyfile, password)  # raises on a mismatched pair
        loads.append(Path(certfile).read_bytes())

    context.load_cert_chain = recording  # type: ignore[method-assign]
    task = asyncio.create_task(reload_cert_dir(context, tmp_path, loaded, interval=0.01))
    try:
        (tmp_path / "tls.crt").write_bytes(second.cert_pem)  # key still the first one's
        await asyncio.sleep(0.1)
        assert loads == []
        (tmp_path / "tls.key").write_bytes(second.key_pem)
        for _ in range(300):
            if loads:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert loads == [second.cert_pem]
