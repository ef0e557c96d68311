"""Fixtures for oci unit tests: an in-memory registry on 127.0.0.1 and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from tests.oci.fakeregistry import FakeRegistry, SleepRecorder

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.transport import RetryPolicy


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    fake = FakeRegistry()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.host = f"127.0.0.1:{server.port}"
    yield fake
    await server.close()


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
