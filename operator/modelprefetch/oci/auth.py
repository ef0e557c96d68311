"""Registry authentication: WWW-Authenticate challenges, basic auth and bearer tokens.

The distribution token flow: a 401 carries `WWW-Authenticate: Bearer realm=...,
service=...,scope=...`; we GET the realm with service and scope (basic credentials if
we have them, or POST an OAuth2 refresh token for identity tokens) and retry with the
token. Tokens are cached per (realm, service, scopes) until shortly before expiry.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modelprefetch.errors import RegistryAuthError, RegistryProtocolError
from modelprefetch.oci.credentials import Credentials

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, when the token server omits expires_in
EXPIRY_MARGIN = 10.0  # refresh this long before a token expires
MAX_TOKEN_RESPONSE_BYTES = 1 << 20  # a token reply is a few KiB; far more is hostile

_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed WWW-Authenticate challenge."""

    scheme: str  # lower-case: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())


def parse_challenge(header: str) -> Challenge:
    """Parse `Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`).

    Only the first challenge is used; registries send one. Raises
    `RegistryProtocolError` if the header has no scheme.
    """
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or "=" in scheme:
        raise RegistryProtocolError(f"WWW-Authenticate header has no scheme: {header[:200]!r}")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


def basic_header(credentials: Credentials) -> str:
    """The Authorization header value for HTTP basic auth."""
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def repository_scope(repository: str, *, push: bool = False) -> str:
    """The token scope for pulling (and pushing) one repository."""
    return f"repository:{repository}:{'pull,push' if push else 'pull'}"


# (method, url, params, form, basic-auth header) -> (status, JSON body or None)
TokenFetcher = Callable[
    [str, str, dict[str, str], dict[str, str] | None, str | None],
    Awaitable[tuple[int, Any]],
]


@dataclass(slots=True)
class _CachedToken:
    token: str
    expires_at: float


class TokenCache:
    """Bearer tokens per (realm, service, scopes), fetched through `fetch`."""

    def __init__(self, fetch: TokenFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _CachedToken] = {}

    async def token(
        self, challenge: Challenge, scopes: Iterable[str], credentials: Credentials | None
    ) -> str:
        """A valid bearer token for `scopes` (plus the challenge's own scope)."""
        realm = challenge.realm
        if not realm or not realm.startswith(("https://", "http://")):
            raise RegistryProtocolError("Bearer challenge has no usable realm URL")
        wanted = tuple(sorted(set(scopes) | set(challenge.scopes)))
        key = (realm, challenge.service or "", wanted)
        cached = self._tokens.get(key)
        now = self._clock()
        if cached is not None and cached.expires_at > now:
            return cached.token
        token, lifetime = await self._request_token(realm, challenge.service, wanted, credentials)
        self._tokens[key] = _CachedToken(token, now + max(lifetime - EXPIRY_MARGIN, 1.0))
        return token

    def forget(self) -> None:
        """Drop every cached token (after a 401 with a token we thought was valid)."""
        self._tokens.clear()

    async def _request_token(
        self,
        realm: str,
        service: str | None,
        scopes: tuple[str, ...],
        credentials: Credentials | None,
    ) -> tuple[str, float]:
        if credentials is not None and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": "modelprefetch",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            status, body = await self._fetch("POST", realm, {}, form, None)
        else:
            params = {"scope": " ".join(scopes)} if scopes else {}
            if service:
                params["service"] = service
            has_basic = credentials is not None and (credentials.username or credentials.password)
            auth = basic_header(credentials) if has_basic and credentials else None
            status, body = await self._fetch("GET", realm, params, None, auth)
        if status in (401, 403):
            raise RegistryAuthError(f"token server {realm} refused the credentials ({status})")
        if status != 200 or not isinstance(body, dict):
            raise RegistryProtocolError(f"token server {realm} answered {status} without a token")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryProtocolError(f"token server {realm} reply has no 'token' field")
        lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, float(lifetime)
