"""Fixtures for oci unit tests: an in-memory registry on 127.0.0.1 and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.oci.fakeregistry import FakeRegistry, SleepRecorder

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.transport import RetryPolicy


class ServedOnLoopback(Protocol):
    host: str

    def app(self) -> web.Application: ...


Served = TypeVar("Served", bound=ServedOnLoopback)


async def serve_on_loopback(fake: Served) -> AsyncIterator[Served]:
    """Serve a fake registry's app on 127.0.0.1 for one test; `fake.host` says where."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.host = f"127.0.0.1:{server.port}"
    yield fake
    await server.close()


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    async for fake in serve_on_loopback(FakeRegistry()):
        yield fake


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def client(registry: FakeRegistry, sleeps: SleepRecorder) -> AsyncIterator[RegistryClient]:
    credentials = {
        registry.host: Credentials(username=registry.username, password=registry.password)
    }
    async with RegistryClient(
        credentials=credentials,
        plain_http=True,
        retry=RetryPolicy(attempts=3),
        sleep=sleeps,
        timeout=aiohttp.ClientTimeout(total=60),
    ) as c:
        yield c
