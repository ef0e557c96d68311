"""Reading registry replies safely: capped bodies, lenient JSON, error mapping."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from modelprefetch.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryUnavailableError,
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ERROR_BODY_BYTES = 8192
READ_CHUNK_BYTES = 65536
# A manifest, config, token or error body is kilobytes: one that has not arrived whole in
# this time is a registry trickling bytes to hold us (every read resets a socket timeout).
SMALL_BODY_SECONDS = 30.0


async def read_capped(
    response: aiohttp.ClientResponse,
    limit: int,
    what: str,
    *,
    seconds: float = SMALL_BODY_SECONDS,
) -> bytes:
    """Read a whole body, refusing more than `limit` bytes (a hostile registry could
    otherwise exhaust memory with an endless manifest or token reply) or taking longer
    than `seconds` (it could otherwise hold us forever with a trickle).

    Never reads more than `limit + 1` bytes: one byte past the limit proves the body is
    too large, whatever the server keeps sending after it."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise RegistryProtocolError(f"{what} is {declared} bytes, more than the {limit} allowed")
    received: list[bytes] = []
    try:
        async with asyncio.timeout(seconds):
            return await _read_up_to(response, limit, what, received)
    except TimeoutError:
        size = sum(len(chunk) for chunk in received)
        raise RegistryUnavailableError(
            f"{what}: not received within {seconds:g}s ({size} bytes arrived); "
            "the registry is trickling or stalled"
        ) from None


async def _read_up_to(
    response: aiohttp.ClientResponse, limit: int, what: str, chunks: list[bytes]
) -> bytes:
    """The body, or RegistryProtocolError once it passes `limit`; `chunks` fills up as
    bytes arrive (the caller reports how many when time runs out)."""
    total = 0
    while total <= limit:
        chunk = await response.content.read(min(READ_CHUNK_BYTES, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        chunks.append(chunk)
    raise RegistryProtocolError(f"{what} is more than the {limit} bytes allowed")


def json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def safe_url(url: str) -> str:
    return url.split("?", 1)[0]


async def error_from(method: str, url: str, response: aiohttp.ClientResponse) -> RegistryError:
    status = response.status
    detail = ""
    try:
        raw = await read_capped(response, MAX_ERROR_BODY_BYTES, "error body")
        parsed = json_or_none(raw)
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        errors = errors if isinstance(errors, list) else []
        if errors and isinstance(errors[0], dict):
            detail = f" {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()[:300]
    except (RegistryError, aiohttp.ClientError, TimeoutError, AttributeError):
        pass
    message = f"{method} {safe_url(url)}: {status}{detail}"
    if status == 404:
        return RegistryNotFoundError(message)
    if status in (401, 403):
        return RegistryAuthError(message)
    if status in RETRY_STATUSES:
        return RegistryUnavailableError(message)
    return RegistryProtocolError(message)
