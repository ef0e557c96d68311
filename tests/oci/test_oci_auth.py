"""Authentication against the fake registry: anonymous tokens, basic, bearer."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.oci.fakeregistry import FakeRegistry, SleepRecorder

from modelprefetch.errors import RegistryAuthError, RegistryProtocolError
from modelprefetch.oci.auth import parse_challenge
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.reference import parse_reference


def test_parse_bearer_challenge() -> None:
    """Realm, service and scope are read from a bearer challenge."""
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    )
    assert (challenge.scheme, challenge.realm, challenge.service, challenge.scopes) == (
        "bearer",
        "https://auth.example/token",
        "reg",
        ("repository:a/b:pull",),
    )


def test_parse_challenge_with_escaped_quote() -> None:
    """Backslash escapes inside quoted values are undone."""
    assert parse_challenge(r'Basic realm="a \"b\""').realm == 'a "b"'


def test_parse_challenge_without_scheme_fails() -> None:
    """A header without a scheme is a protocol error."""
    with pytest.raises(RegistryProtocolError):
        parse_challenge('realm="x"')


async def test_bearer_token_is_fetched_with_basic_credentials(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A bearer challenge makes the client fetch a token with its credentials and scope."""
    registry.auth = "bearer"
    await client.head_manifest(parse_reference(f"{registry.host}/a/b:v1"))
    assert registry.token_requests == [{"scope": "repository:a/b:pull", "service": "fake-registry"}]


async def test_token_is_cached_per_scope(registry: FakeRegistry, client: RegistryClient) -> None:
    """Repeated requests for the same repository reuse one token."""
    registry.auth = "bearer"
    ref = parse_reference(f"{registry.host}/a/b:v1")
    for _ in range(3):
        await client.head_manifest(ref)
    assert len(registry.token_requests) == 1


async def test_anonymous_bearer_token(registry: FakeRegistry, sleeps: SleepRecorder) -> None:
    """Without credentials the token is requested anonymously."""
    registry.auth = "bearer"
    async with RegistryClient(plain_http=True, sleep=sleeps) as anonymous:
        await anonymous.ping(registry.host)
    assert registry.token_requests == [{"service": "fake-registry"}]


async def test_basic_auth(registry: FakeRegistry, client: RegistryClient) -> None:
    """A basic challenge is answered with the configured credentials."""
    registry.auth = "basic"
    assert await client.head_manifest(parse_reference(f"{registry.host}/a/b:v1")) is None


async def test_wrong_basic_credentials_are_an_auth_error(
    registry: FakeRegistry, sleeps: SleepRecorder
) -> None:
    """A 401 after authenticating raises RegistryAuthError without the password."""
    registry.auth = "basic"
    wrong = {registry.host: Credentials(username="alice", password="wrong-pass")}
    async with RegistryClient(credentials=wrong, plain_http=True, sleep=sleeps) as c:
        with pytest.raises(RegistryAuthError) as info:
            await c.ping(registry.host)
    assert "wrong-pass" not in str(info.value)


async def test_basic_without_credentials_is_an_auth_error(
    registry: FakeRegistry, sleeps: SleepRecorder
) -> None:
    """A basic challenge with no credentials configured raises RegistryAuthError."""
    registry.auth = "basic"
    async with RegistryClient(plain_http=True, sleep=sleeps) as c:
        with pytest.raises(RegistryAuthError):
            await c.ping(registry.host)


async def test_token_server_refusal_is_an_auth_error(
    registry: FakeRegistry, sleeps: SleepRecorder
) -> None:
    """The token endpoint refusing our credentials raises RegistryAuthError."""
    registry.auth = "bearer"
    wrong = {registry.host: Credentials(username="alice", password="nope")}
    async with RegistryClient(credentials=wrong, plain_http=True, sleep=sleeps) as c:
        with pytest.raises(RegistryAuthError):
            await c.ping(registry.host)


async def test_credentials_are_not_sent_to_a_redirect_target(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A blob redirected to another host (object storage) gets no Authorization header."""
    seen: list[str | None] = []

    async def storage(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"payload")

    app = web.Application()
    app.router.add_get("/blob", storage)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        registry.auth = "basic"
        await client.ping(registry.host)  # from now on every request carries credentials
        digest = "sha256:239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"
        registry.fail_next("/blobs/", 307, Location=f"http://localhost:{server.port}/blob")
        data = await client.get_blob(parse_reference(f"{registry.host}/a/b"), digest)
    finally:
        await server.close()
    assert (data, seen) == (b"payload", [None])
