"""The kubelet Summary client: TLS verified against a CA, bearer token, errors that say why."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from modelprefetch.k8s.auth import StaticAuth
from modelprefetch.k8s.kubelet_stats import (
    MAX_SUMMARY_BYTES,
    KubeletStatsClient,
    KubeletStatsError,
    kubelet_ssl_context,
)
from modelprefetch.webhook.certs import issue

NOW = dt.datetime.now(dt.UTC)
BUNDLE = issue([], ["127.0.0.1"], now=NOW)
OTHER_CA = issue([], ["127.0.0.1"], now=NOW).ca_pem
SUMMARY = {"node": {"runtime": {"imageFs": {"capacityBytes": 1000, "availableBytes": 400}}}}


class Kubelet:
    def __init__(self) -> None:
        self.seen_auth: list[str | None] = []
        self.body: bytes = json.dumps(SUMMARY).encode()
        self.status = 200
        self.delay = 0.0

    async def summary(self, request: web.Request) -> web.Response:
        self.seen_auth.append(request.headers.get("Authorization"))
        await asyncio.sleep(self.delay)
        return web.Response(body=self.body, status=self.status, content_type="application/json")


def server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        crt, key = Path(folder, "tls.crt"), Path(folder, "tls.key")
        crt.write_bytes(BUNDLE.cert_pem)
        key.write_bytes(BUNDLE.key_pem)
        context.load_cert_chain(crt, key)
    return context


@pytest.fixture
async def kubelet() -> AsyncIterator[tuple[Kubelet, int]]:
    fake = Kubelet()
    app = web.Application()
    app.router.add_get("/stats/summary", fake.summary)
    context = server_context()
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    assert server.port is not None
    yield fake, server.port
    await server.close()


def client(ca_pem: bytes | None = BUNDLE.ca_pem, timeout: float = 5.0) -> KubeletStatsClient:
    context = kubelet_ssl_context(cluster_ca_pem=ca_pem, ca_file=None, insecure=False)
    return KubeletStatsClient(StaticAuth("Bearer op-token"), context, timeout=timeout)


async def test_reads_image_fs_with_the_operator_token(kubelet: tuple[Kubelet, int]) -> None:
    """Verified against the cluster CA, the token is sent, imageFs comes back."""
    fake, port = kubelet
    async with client() as stats:
        found = await stats.image_fs("127.0.0.1", port)
    assert (found.capacity_bytes, found.available_bytes) == (1000, 400)
    assert fake.seen_auth == ["Bearer op-token"]


async def test_wrong_ca_is_refused_before_the_token_is_sent(
    kubelet: tuple[Kubelet, int],
) -> None:
    """A serving cert from another CA fails TLS: the kubelet never sees the token."""
    fake, port = kubelet
    async with client(OTHER_CA) as stats:
        with pytest.raises(KubeletStatsError, match=r"kubelet https://127\.0\.0\.1"):
            await stats.image_fs("127.0.0.1", port)
    assert fake.seen_auth == []


async def test_forbidden_says_so(kubelet: tuple[Kubelet, int]) -> None:
    """A 403 (no nodes/stats) is an error naming the status and the kubelet's words."""
    fake, port = kubelet
    fake.status, fake.body = (
        403,
        b"Forbidden (user=op, verb=get, resource=nodes, subresource=stats)",
    )
    async with client() as stats:
        with pytest.raises(KubeletStatsError, match="answered 403: Forbidden"):
            await stats.image_fs("127.0.0.1", port)


async def test_oversized_summary_is_refused(kubelet: tuple[Kubelet, int]) -> None:
    """A Summary over the cap is not parsed."""
    fake, port = kubelet
    fake.body = b" " * (MAX_SUMMARY_BYTES + 10)
    async with client() as stats:
        with pytest.raises(KubeletStatsError, match="Summary over"):
            await stats.image_fs("127.0.0.1", port)


async def test_slow_kubelet_times_out(kubelet: tuple[Kubelet, int]) -> None:
    """The total timeout bounds a kubelet that does not answer."""
    fake, port = kubelet
    fake.delay = 2.0
    async with client(timeout=0.3) as stats:
        with pytest.raises(KubeletStatsError, match="TimeoutError"):
            await stats.image_fs("127.0.0.1", port)


async def test_node_without_address_or_port() -> None:
    """No InternalIP or no kubelet port: nothing is dialled."""
    async with client() as stats:
        with pytest.raises(KubeletStatsError, match="no InternalIP or kubelet port"):
            await stats.image_fs("", 10250)
        with pytest.raises(KubeletStatsError, match="no InternalIP or kubelet port"):
            await stats.image_fs("127.0.0.1", 0)
