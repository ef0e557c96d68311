"""A hostile registry cannot make us read unbounded bodies: token replies, manifests,
configs and referrers lists are all capped, oversized or endless."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from tests.oci.conftest import serve_on_loopback

from modelprefetch.errors import RegistryProtocolError
from modelprefetch.oci import replies, transport
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.referrers import list_referrers
from modelprefetch.oci.transport import RetryPolicy

DIGEST = "sha256:" + "ab" * 32
TOKEN_CAP = 4096  # lowered in the tests so an oversized reply stays small
DEADLINE = 20.0  # seconds: an uncapped endless read would never finish


class HostileRegistry:
    """Answers every /v2/ request with a bearer challenge until it gets a token, then
    sends `body_mode` bodies: "endless" streams forever, "oversized" declares its size."""

    def __init__(self) -> None:
        self.token_mode = "fine"
        self.body_mode = "endless"
        self.host = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/token", self._token)
        app.router.add_route("*", "/v2/{tail:.*}", self._registry)
        return app

    async def _token(self, request: web.Request) -> web.StreamResponse:
        if self.token_mode == "fine":
            return web.json_response({"token": "t0k3n"})
        return await self._hostile_body(request, self.token_mode, "application/json")

    async def _registry(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != "Bearer t0k3n":
            realm = f"http://{self.host}/token"
            challenge = f'Bearer realm="{realm}",service="hostile"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        content_type = "application/vnd.oci.image.index.v1+json"
        return await self._hostile_body(request, self.body_mode, content_type)

    async def _hostile_body(
        self, request: web.Request, mode: str, content_type: str
    ) -> web.StreamResponse:
        if mode == "oversized":
            # past the token cap, and past both the manifest (4 MiB) and config (8 MiB) caps
            size = TOKEN_CAP * 4 if request.path == "/token" else 9 * 1024 * 1024
            return web.Response(body=b" " * size, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b'{"padding": "' + b"x" * 65536
        try:
            while True:  # endless, until the client hangs up
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response


@pytest.fixture
async def hostile() -> AsyncIterator[HostileRegistry]:
    async for fake in serve_on_loopback(HostileRegistry()):
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        plain_http=True,
        retry=RetryPolicy(attempts=1),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as c:
        yield c


@pytest.fixture
def small_token_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_TOKEN_RESPONSE_BYTES", TOKEN_CAP)


@pytest.mark.parametrize("mode", ["oversized", "endless"])
async def test_token_reply_is_capped_and_names_the_realm(
    hostile: HostileRegistry, client: RegistryClient, small_token_cap: None, mode: str
) -> None:
    hostile.token_mode = mode
    with pytest.raises(RegistryProtocolError) as caught:
        await asyncio.wait_for(client.ping(hostile.host), DEADLINE)
    message = str(caught.value)
    assert f"token server http://{hostile.host}/token" in message
    assert f"more than the {TOKEN_CAP}" in message


@pytest.mark.parametrize("mode", ["oversized", "endless"])
async def test_manifest_config_and_referrers_are_capped(
    hostile: HostileRegistry, client: RegistryClient, mode: str
) -> None:
    hostile.body_mode = mode
    ref = parse_reference(f"{hostile.host}/a/b@{DIGEST}")
    reads = {
        "manifest": client.get_manifest(ref),
        "blob": client.get_blob(ref, DIGEST),
        "referrers": list_referrers(client, ref, DIGEST),
    }
    for read in reads.values():
        with pytest.raises(RegistryProtocolError, match="more than the"):
            await asyncio.wait_for(read, DEADLINE)


class _CountingContent:
    """A body that never ends and counts what the reader took from it."""

    def __init__(self) -> None:
        self.taken = 0

    async def read(self, n: int = -1) -> bytes:
        assert n > 0, "read_capped must never ask for the whole body"
        self.taken += n
        return b"x" * n


class _EndlessResponse:
    content_length = None

    def __init__(self) -> None:
        self.content = _CountingContent()


async def test_read_capped_takes_at_most_one_byte_past_the_limit() -> None:
    response = _EndlessResponse()
    with pytest.raises(RegistryProtocolError, match="more than the 100000 bytes"):
        await replies.read_capped(response, 100_000, "test body")  # type: ignore[arg-type]
    assert response.content.taken == 100_001


async def test_read_capped_returns_a_body_exactly_at_the_limit() -> None:
    class Exact(_CountingContent):
        async def read(self, n: int = -1) -> bytes:
            give = min(n, 10 - self.taken)
            self.taken += give
            return b"y" * give

    response = _EndlessResponse()
    response.content = Exact()
    assert await replies.read_capped(response, 10, "test body") == b"y" * 10  # type: ignore[arg-type]
