from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from modelprefetch.k8s.auth import StaticAuth
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.config import ClusterConfig
from tests.k8s.fakeapi import FakeApi


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def kube(fake_api: FakeApi) -> AsyncIterator[KubeClient]:
    server = TestServer(fake_api.app(), host="127.0.0.1")
    await server.start_server()
    config = ClusterConfig(
        server=str(server.make_url("")).rstrip("/"), auth=StaticAuth("Bearer t0ken")
    )
    async with KubeClient(config) as client:
        yield client
    fake_api.unhang.set()
    await server.close()
