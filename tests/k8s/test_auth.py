"""Credentials that change: exec plugins, OIDC refresh, and the client's retry after a 401."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.config.kube_config import ConfigNode

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.auth import ExecAuth, StaticAuth
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.config import ClusterConfig, load_config
from modelprefetch.k8s.resources import NODES
from tests.k8s.fakeapi import FakeApi

EXPIRES = "2030-01-01T00:00:00Z"

# Prints ExecCredential tok-<run number>; the run count lives in the file named by $COUNTER.
PLUGIN = """#!{python}
import json, os, pathlib, sys
counter = pathlib.Path(os.environ["COUNTER"])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
if os.environ.get("FAIL"):
    sys.exit("no credentials for you")
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
status = {{"token": f"tok-{{runs}}", "expirationTimestamp": os.environ["EXPIRES"]}}
if os.environ.get("CERT"):
    status = {{"clientCertificateData": "CERT-PEM", "clientKeyData": "KEY-PEM"}}
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}}))
"""


def _exec_config(tmp_path: Path, **env: str) -> dict[str, Any]:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN.format(python=sys.executable))
    script.chmod(0o755)
    variables = {"COUNTER": str(tmp_path / "runs"), "EXPIRES": EXPIRES, **env}
    return {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": str(script),
        "env": [{"name": k, "value": v} for k, v in variables.items()],
        "interactiveMode": "Never",
    }


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_exec_token_is_cached_until_it_expires(tmp_path: Path) -> None:
    """The plugin runs once; again only when expirationTimestamp has passed."""
    clock = Clock(dt.datetime(2029, 12, 31, 23, 59, tzinfo=dt.UTC))
    auth = ExecAuth(ConfigNode("exec", _exec_config(tmp_path)), now=clock)
    assert await auth.authorization() == "Bearer tok-1"
    assert await auth.authorization() == "Bearer tok-1"
    assert auth.expiry == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    clock.now = dt.datetime(2030, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    assert await auth.authorization() == "Bearer tok-2"
    assert auth.runs == 2


async def test_exec_reruns_after_a_rejection_of_the_current_token_only(tmp_path: Path) -> None:
    """invalidate(header) re-runs the plugin only if that header is still the current one
    (many requests failing with the same token cause one run)."""
    auth = ExecAuth(ConfigNode("exec", _exec_config(tmp_path)))
    first = await auth.authorization()
    auth.invalidate(first)
    assert await auth.authorization() == "Bearer tok-2"
    auth.invalidate(first)  # a late 401 for the old token
    assert await auth.authorization() == "Bearer tok-2"


async def test_failing_plugin_is_a_clear_error(tmp_path: Path) -> None:
    """The error names the command and carries the plugin's stderr."""
    auth = ExecAuth(ConfigNode("exec", _exec_config(tmp_path, FAIL="1")))
    with pytest.raises(KubernetesError, match=r"plugin\.py.*no credentials for you"):
        await auth.authorization()


def _kubeconfig(tmp_path: Path, user: dict[str, Any], server: str) -> str:
    doc = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
async def api_server(fake_api: FakeApi) -> AsyncIterator[str]:
    server = TestServer(fake_api.app(), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_client_reexecs_the_plugin_after_a_401(
    tmp_path: Path, fake_api: FakeApi, api_server: str
) -> None:
    """An exec kubeconfig: the plugin runs at load; when the API server refuses that token
    the client runs the plugin again and repeats the request once with the new token."""
    kubeconfig = _kubeconfig(tmp_path, {"exec": _exec_config(tmp_path)}, api_server)
    config = await load_config(kubeconfig)
    fake_api.accepted_tokens = {"Bearer tok-2"}
    async with KubeClient(config) as kube:
        await kube.list(NODES)
    assert fake_api.authorization == ["Bearer tok-1", "Bearer tok-2"]


async def test_plugin_client_certificate_becomes_the_tls_identity(tmp_path: Path) -> None:
    """A plugin that answers with a client certificate instead of a token."""
    kubeconfig = _kubeconfig(tmp_path, {"exec": _exec_config(tmp_path, CERT="1")}, "https://h:1")
    config = await load_config(kubeconfig)
    assert (config.cert_pem, config.key_pem) == (b"CERT-PEM", b"KEY-PEM")
    assert await config.auth.authorization() is None


async def test_a_second_401_is_an_error_not_a_loop(fake_api: FakeApi, api_server: str) -> None:
    """A token refused twice fails with 401 after exactly two requests."""
    fake_api.accepted_tokens = set()
    config = ClusterConfig(server=api_server, auth=StaticAuth("Bearer nope"))
    async with KubeClient(config) as kube:
        with pytest.raises(KubernetesError) as failure:
            await kube.list(NODES)
    assert failure.value.status == 401
    assert len(fake_api.requests) == 2


def _read(path: str) -> str:
    return Path(path).read_text()


def _jwt(expires: dt.datetime, subject: str) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    claims = {"sub": subject, "exp": int(expires.timestamp())}
    return ".".join([part({"alg": "none"}), part(claims), "sig"])


async def test_oidc_refreshes_an_expired_id_token(tmp_path: Path) -> None:
    """An expired id-token is exchanged at the issuer's token endpoint for a new one, with
    the refresh-token; the new one is used, and the kubeconfig file is left untouched."""
    fresh = _jwt(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), "fresh")
    grants: list[dict[str, str]] = []

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"token_endpoint": str(request.url.with_path("/token"))})

    async def token(request: web.Request) -> web.Response:
        grants.append(dict(await request.post()))  # type: ignore[arg-type]
        return web.json_response({"id_token": fresh, "refresh_token": "r2"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_post("/token", token)
    issuer = TestServer(app, host="127.0.0.1")
    await issuer.start_server()
    try:
        stale = _jwt(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), "stale")
        provider = {
            "name": "oidc",
            "config": {
                "client-id": "modelprefetch",
                "client-secret": "s3cret",
                "idp-issuer-url": str(issuer.make_url("")).rstrip("/"),
                "id-token": stale,
                "refresh-token": "r1",
            },
        }
        kubeconfig = _kubeconfig(tmp_path, {"auth-provider": provider}, "https://h:1")
        before = _read(kubeconfig)
        config = await load_config(kubeconfig)
        assert await config.auth.authorization() == f"Bearer {fresh}"
        assert await config.auth.authorization() == f"Bearer {fresh}"
    finally:
        await issuer.close()
    assert grants == [{"grant_type": "refresh_token", "refresh_token": "r1"}]
    assert _read(kubeconfig) == before


class RecordingAuth(StaticAuth):
    def __init__(self) -> None:
        super().__init__("Bearer old")
        self.rejected: list[str | None] = []

    def invalidate(self, rejected: str | None = None) -> None:
        self.rejected.append(rejected)


async def test_a_refused_watch_drops_the_credential(fake_api: FakeApi, api_server: str) -> None:
    """A watch answered 401 fails, and the token it sent is invalidated for the next one."""
    fake_api.fail_next = [401]
    auth = RecordingAuth()
    async with KubeClient(ClusterConfig(server=api_server, auth=auth)) as kube:
        with pytest.raises(KubernetesError) as failure:
            async for _ in kube.watch(NODES):
                pass
    assert failure.value.status == 401
    assert auth.rejected == ["Bearer old"]
