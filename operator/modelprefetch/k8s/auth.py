"""Where the Authorization header comes from, and when to fetch it again.

One small class per kind of kubeconfig user, all behind `Authenticator`: a fixed token or
basic auth, a token file (re-read when it changes: projected ServiceAccount tokens
rotate), an exec credential plugin (run by kubernetes_asyncio's `ExecProvider`, again
when its `expirationTimestamp` passes), and an OIDC auth-provider (refreshed by
kubernetes_asyncio's `KubeConfigLoader`). After a 401 the client calls
`invalidate(header)` so the next request fetches a fresh credential, as client-go does.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.dateutil import parse_rfc3339
from kubernetes_asyncio.config.exec_provider import ExecProvider
from kubernetes_asyncio.config.kube_config import ConfigNode, KubeConfigLoader

from modelprefetch.errors import KubernetesError

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Authenticator(Protocol):
    async def authorization(self) -> str | None:
        """The Authorization header value to send now (None: send none)."""

    def invalidate(self, rejected: str | None = None) -> None:
        """The API server refused `rejected` (None: whatever is cached): fetch anew."""

    @property
    def expiry(self) -> dt.datetime | None:
        """When the current credential stops being valid, if it says."""


class StaticAuth:
    """A token or username/password from the kubeconfig: nothing to refresh."""

    def __init__(self, header: str | None) -> None:
        self._header = header

    @classmethod
    def basic(cls, username: str, password: str) -> StaticAuth:
        return cls("Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())

    async def authorization(self) -> str | None:
        return self._header

    def invalidate(self, rejected: str | None = None) -> None:
        """Nothing else to try."""

    @property
    def expiry(self) -> dt.datetime | None:
        return None

    def __repr__(self) -> str:
        return "StaticAuth(<redacted>)"


class TokenFileAuth:
    """A bearer token in a file, re-read when the file changes or after a 401."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._header: str | None = None

    async def authorization(self) -> str | None:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                token = self.path.read_text().strip()
                if not token:
                    raise KubernetesError(f"Token file {self.path} is empty")
                self._header, self._stamp = f"Bearer {token}", stamp
        except OSError as exc:
            raise KubernetesError(f"Cannot read token file {self.path}: {exc}") from exc
        return self._header

    def invalidate(self, rejected: str | None = None) -> None:
        if rejected is None or rejected == self._header:
            self._stamp = None

    @property
    def expiry(self) -> dt.datetime | None:
        return None


class ExecAuth:
    """A client-go exec credential plugin: run it, keep its token until it expires."""

    def __init__(self, exec_config: ConfigNode, *, now: Clock = utc_now) -> None:
        try:
            self._provider = ExecProvider(exec_config)
        except ConfigException as exc:
            raise KubernetesError(f"kubeconfig exec plugin: {exc}") from exc
        self.command = str(exec_config["command"])
        self._now = now
        self._lock = asyncio.Lock()
        self._header: str | None = None
        self._expiry: dt.datetime | None = None
        self.runs = 0  # how often the plugin ran (tests and logs)

    async def run(self) -> dict[str, Any]:
        """Run the plugin once; its ExecCredential `status`."""
        self.runs += 1
        try:
            status = await self._provider.run()
        except (ConfigException, OSError) as exc:
            raise KubernetesError(f"kubeconfig exec plugin {self.command}: {exc}") from exc
        if not isinstance(status, dict):
            raise KubernetesError(f"kubeconfig exec plugin {self.command}: status is not a map")
        return status

    async def authorization(self) -> str | None:
        async with self._lock:  # one plugin run for many concurrent requests
            if self._header is None or self._expired():
                self.accept(await self.run())
            return self._header

    def accept(self, status: dict[str, Any]) -> None:
        """Cache the token of one run until its expirationTimestamp (if any) passes."""
        token = status.get("token")
        if not token:
            raise KubernetesError(f"kubeconfig exec plugin {self.command} returned no token")
        self._header = f"Bearer {token}"
        stamp = status.get("expirationTimestamp")
        try:
            self._expiry = parse_rfc3339(stamp) if stamp else None
        except ValueError as exc:
            raise KubernetesError(
                f"kubeconfig exec plugin {self.command}: bad expirationTimestamp {stamp!r}"
            ) from exc

    def _expired(self) -> bool:
        return self._expiry is not None and self._now() >= self._expiry

    def invalidate(self, rejected: str | None = None) -> None:
        if rejected is None or rejected == self._header:
            self._header = None

    @property
    def expiry(self) -> dt.datetime | None:
        return self._expiry


class OidcAuth:
    """The `oidc` auth-provider: kubernetes_asyncio checks the id-token's expiry and
    redeems the refresh-token at the issuer; the refreshed tokens stay in memory (we never
    rewrite the user's kubeconfig)."""

    def __init__(self, provider: dict[str, Any]) -> None:
        self._provider = copy.deepcopy(provider)
        # A one-user kubeconfig with no TLS material, so the loader writes no files.
        self._loader = KubeConfigLoader(
            config_dict={
                "current-context": "oidc",
                "contexts": [{"name": "oidc", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://unused"}}],
                "users": [{"name": "u", "user": {"auth-provider": self._provider}}],
            },
            config_base_path=None,
        )
        self._header: str | None = None

    async def authorization(self) -> str | None:
        try:
            await self._loader.load_and_set(Configuration())
        except (ConfigException, ValueError, OSError) as exc:
            raise KubernetesError(f"kubeconfig oidc auth-provider: {exc}") from exc
        self._header = self._loader.token
        return self._header

    def invalidate(self, rejected: str | None = None) -> None:
        if rejected is None or rejected == self._header:
            # Without an id-token the loader redeems the refresh-token on the next call.
            self._provider.setdefault("config", {}).pop("id-token", None)

    @property
    def expiry(self) -> dt.datetime | None:
        return None
