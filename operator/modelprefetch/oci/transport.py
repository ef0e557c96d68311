"""HTTP to registries: URLs, authentication, retries with backoff, error mapping.

`RegistryTransport.request()` is the one place a request is sent. It answers a 401 by
reading the challenge and authenticating (anonymous token, basic, bearer), retries
429/5xx and connection errors with exponential backoff that honours Retry-After, and
turns every other failure into an error from `modelprefetch.errors`.
Error messages carry method and URL without query string (upload URLs hold state
tokens) and never a header value.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

import aiohttp

from modelprefetch import __version__
from modelprefetch.backoff import exponential_delay
from modelprefetch.errors import (
    ModelPrefetchError,
    RegistryAuthError,
    RegistryUnavailableError,
)
from modelprefetch.oci.auth import (
    MAX_TOKEN_RESPONSE_BYTES,
    Challenge,
    TokenCache,
    basic_header,
    parse_challenge,
    repository_scope,
)
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.replies import (
    RETRY_STATUSES,
    error_from,
    json_or_none,
    read_capped,
    safe_url,
)

# A body is bytes (resent as is on retry) or a factory giving a fresh stream per attempt.
Body = bytes | Callable[[], AsyncIterable[bytes]] | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry 429/5xx/connection failures."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # never wait longer than this, whatever the server says

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        hinted = _parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        return exponential_delay(attempt, self.base_delay, self.max_delay)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=300)


class RegistryTransport:
    """Authenticated, retrying HTTP to OCI registries. Use as `async with`."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, Credentials] | None = None,
        plain_http: bool | Iterable[str] = False,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._credentials = dict(credentials or {})
        self._plain_http_all = plain_http is True
        self._plain_http_hosts = frozenset() if isinstance(plain_http, bool) else set(plain_http)
        self._timeout = timeout
        self.retry = retry or RetryPolicy()
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._challenges: dict[str, Challenge] = {}
        self._tokens = TokenCache(self._fetch_token)

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if we created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": f"modelprefetch/{__version__}"},
                auto_decompress=False,  # blobs are hashed as stored
            )
        return self._session

    def base_url(self, registry_host: str) -> str:
        """`http(s)://host` for the distribution API of `registry_host`."""
        plain = self._plain_http_all or registry_host in self._plain_http_hosts
        return f"{'http' if plain else 'https'}://{registry_host}"

    @asynccontextmanager
    async def request(
        self,
        method: str,
        registry_host: str,
        path_or_url: str,
        *,
        repository: str | None,
        push: bool = False,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        extra_scopes: Iterable[str] = (),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request (with auth and retries) and yield a response whose status is
        in `ok`; any other status raises the matching `RegistryError`."""
        session = self._ensure_session()
        url = path_or_url if "://" in path_or_url else self.base_url(registry_host) + path_or_url
        accepted = frozenset(ok)
        attempt, reauthenticated = 0, False
        while True:
            attempt += 1
            send_headers = dict(headers or {})
            authorization = await self._authorization(
                registry_host, repository, push, tuple(extra_scopes)
            )
            if authorization is not None:
                send_headers["Authorization"] = authorization
            data = body() if callable(body) else body
            try:
                response = await session.request(
                    method, url, headers=send_headers, params=params, data=data
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                if isinstance(exc.__cause__, ModelPrefetchError):
                    raise exc.__cause__ from None  # our body generator refused: not retryable
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt))
                    continue
                raise RegistryUnavailableError(
                    f"{method} {safe_url(url)} failed: {type(exc).__name__}"
                ) from None
            if response.status == 401 and not reauthenticated:
                reauthenticated = True
                attempt -= 1
                await self._learn_challenge(registry_host, response, had_auth=bool(authorization))
                continue
            if response.status in RETRY_STATUSES and attempt < self.retry.attempts:
                delay = self.retry.delay(attempt, response.headers.get("Retry-After"))
                response.release()
                await self._sleep(delay)
                continue
            try:
                if response.status not in accepted:
                    raise await error_from(method, url, response)
                yield response
            finally:
                response.release()
            return

    async def _learn_challenge(
        self, registry_host: str, response: aiohttp.ClientResponse, *, had_auth: bool
    ) -> None:
        header = response.headers.get("WWW-Authenticate")
        response.release()
        if header is None:
            raise RegistryAuthError(f"{registry_host} answered 401 without a challenge")
        self._challenges[registry_host] = parse_challenge(header)
        if had_auth:
            self._tokens.forget()  # the token we sent was refused: fetch a fresh one

    async def _authorization(
        self, registry_host: str, repository: str | None, push: bool, extra_scopes: tuple[str, ...]
    ) -> str | None:
        challenge = self._challenges.get(registry_host)
        if challenge is None:
            return None
        credentials = self.credentials_for(registry_host)
        if challenge.scheme == "basic":
            if credentials is None:
                raise RegistryAuthError(f"{registry_host} requires credentials and we have none")
            return basic_header(credentials)
        if challenge.scheme != "bearer":
            raise RegistryAuthError(
                f"{registry_host} asks for unsupported auth scheme {challenge.scheme!r}"
            )
        scopes = [repository_scope(repository, push=push)] if repository else []
        scopes.extend(extra_scopes)
        return "Bearer " + await self._tokens.token(challenge, scopes, credentials)

    def credentials_for(self, registry_host: str) -> Credentials | None:
        """Credentials configured for this registry (docker.io aliases included)."""
        found = self._credentials.get(registry_host)
        if found is None and registry_host == "registry-1.docker.io":
            found = self._credentials.get("docker.io")
        return found

    async def _fetch_token(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        form: dict[str, str] | None,
        authorization: str | None,
    ) -> tuple[int, Any]:
        session = self._ensure_session()
        headers = {"Authorization": authorization} if authorization else {}
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with session.request(
                    method, url, params=params, data=form, headers=headers
                ) as response:
                    if response.status in RETRY_STATUSES and attempt < self.retry.attempts:
                        await self._sleep(
                            self.retry.delay(attempt, response.headers.get("Retry-After"))
                        )
                        continue
                    what = f"token server {safe_url(url)} reply"
                    raw = await read_capped(response, MAX_TOKEN_RESPONSE_BYTES, what)
                    return response.status, json_or_none(raw)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt >= self.retry.attempts:
                    raise RegistryUnavailableError(
                        f"token server {safe_url(url)} failed: {type(exc).__name__}"
                    ) from None
                await self._sleep(self.retry.delay(attempt))
        raise RegistryUnavailableError(f"token server {safe_url(url)} kept failing")
