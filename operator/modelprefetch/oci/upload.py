"""Blob uploads: skip what exists, cross-repository mount, monolithic or chunked PUTs.

`upload_blob` is for content whose digest we know (files hashed beforehand, small
JSON): it is idempotent and resumable at blob granularity, and each request body is
re-opened from the source on retry. `upload_stream` is for content produced on the fly
(a raw layer wrapped into tar while it streams from the registry): one streaming PATCH
with the hash computed as bytes go out, then the closing PUT names the digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

from modelprefetch.errors import RegistryProtocolError
from modelprefetch.oci.auth import repository_scope
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.descriptor import sha256_digest
from modelprefetch.oci.reference import Reference

Progress = Callable[[int], None]
OCTET_STREAM = "application/octet-stream"


class BlobSource(Protocol):
    """Bytes whose size and digest are known, readable from any offset (for retries)."""

    @property
    def size(self) -> int: ...

    @property
    def digest(self) -> str: ...

    def read(self, offset: int, length: int) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class BytesSource:
    """A small in-memory blob (configs, JSON)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    async def read(self, offset: int, length: int) -> AsyncIterator[bytes]:
        yield self.data[offset : offset + length]


async def upload_blob(
    client: RegistryClient,
    ref: Reference,
    source: BlobSource,
    *,
    mount_from: str | None = None,
    chunk_bytes: int | None = None,
    progress: Progress | None = None,
) -> bool:
    """Make `source` exist in `ref`'s repository. Returns False when nothing was sent
    (the blob was there or could be mounted from repository `mount_from` of the same
    registry). `chunk_bytes` switches from one PUT to PATCH chunks of that size."""
    if await client.blob_exists(ref, source.digest):
        return False
    location = await _start_upload(client, ref, source.digest, mount_from)
    if location is None:
        return False
    if chunk_bytes is None or source.size <= chunk_bytes:
        body = _body(source, 0, source.size, progress)
        await _finish(client, ref, location, source.digest, body, source.size)
        return True
    offset = 0
    while offset < source.size:
        length = min(chunk_bytes, source.size - offset)
        location = await _patch(
            client, ref, location, offset, length, _body(source, offset, length, progress)
        )
        offset += length
    await _finish(client, ref, location, source.digest, None, 0)
    return True


async def upload_stream(
    client: RegistryClient,
    ref: Reference,
    stream: AsyncIterable[bytes],
    size: int,
    *,
    progress: Progress | None = None,
) -> str:
    """Upload `size` bytes produced by `stream`, hashing them on the way; returns the
    digest. Not retried mid-stream (the source cannot rewind): callers retry whole."""
    hasher = hashlib.sha256()
    sent = 0

    async def hashing() -> AsyncIterator[bytes]:
        # Checked here, while the request is open: a body shorter than its
        # Content-Length would leave the registry waiting for the rest.
        nonlocal sent
        async for chunk in stream:
            sent += len(chunk)
            if sent > size:
                raise RegistryProtocolError(f"stream for {ref.name} gave more than {size} bytes")
            hasher.update(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk
        if sent != size:
            raise RegistryProtocolError(f"stream for {ref.name} gave {sent} bytes, expected {size}")

    location = await _start_upload(client, ref, None, None)
    assert location is not None  # no mount asked, so the registry must open a session
    consumed = False

    def once() -> AsyncIterable[bytes]:
        nonlocal consumed
        if consumed:
            raise RegistryProtocolError(f"upload to {ref.name} needs a retry of a one-shot stream")
        consumed = True
        return hashing()

    location = await _patch(client, ref, location, 0, size, once)
    digest = "sha256:" + hasher.hexdigest()
    await _finish(client, ref, location, digest, None, 0)
    return digest


async def _start_upload(
    client: RegistryClient, ref: Reference, digest: str | None, mount_from: str | None
) -> str | None:
    """POST a new upload session; None when the registry mounted the blob instead."""
    params, scopes = {}, []
    if mount_from is not None and digest is not None and mount_from != ref.repository:
        params = {"mount": digest, "from": mount_from}
        scopes = [repository_scope(mount_from)]
    async with client.request(
        "POST",
        ref.api_host,
        f"/v2/{ref.repository}/blobs/uploads/",
        repository=ref.repository,
        push=True,
        params=params,
        ok=(201, 202),
        extra_scopes=scopes,
        headers={"Content-Length": "0"},
    ) as response:
        if response.status == 201:
            return None
        return _location(client, ref, response.headers.get("Location"))


async def _patch(
    client: RegistryClient,
    ref: Reference,
    location: str,
    offset: int,
    length: int,
    body: Callable[[], AsyncIterable[bytes]],
) -> str:
    async with client.request(
        "PATCH",
        ref.api_host,
        location,
        repository=ref.repository,
        push=True,
        headers={
            "Content-Type": OCTET_STREAM,
            "Content-Length": str(length),
            "Content-Range": f"{offset}-{offset + length - 1}",
        },
        body=body,
        ok=(202,),
    ) as response:
        return _location(client, ref, response.headers.get("Location") or location)


async def _finish(
    client: RegistryClient,
    ref: Reference,
    location: str,
    digest: str,
    body: Callable[[], AsyncIterable[bytes]] | None,
    length: int,
) -> None:
    separator = "&" if "?" in location else "?"
    headers = {"Content-Type": OCTET_STREAM, "Content-Length": str(length)}
    async with client.request(
        "PUT",
        ref.api_host,
        f"{location}{separator}digest={digest}",
        repository=ref.repository,
        push=True,
        headers=headers,
        body=body,
        ok=(201, 204),
    ) as response:
        echoed = response.headers.get("Docker-Content-Digest")
        if echoed and echoed != digest:
            raise RegistryProtocolError(f"{ref.name} stored blob {digest} as {echoed}")


def _body(
    source: BlobSource, offset: int, length: int, progress: Progress | None
) -> Callable[[], AsyncIterable[bytes]]:
    """A factory so that each retry re-reads the same range from the source."""

    async def stream() -> AsyncIterator[bytes]:
        async for chunk in source.read(offset, length):
            if progress is not None:
                progress(len(chunk))
            yield chunk

    return stream


def _location(client: RegistryClient, ref: Reference, location: str | None) -> str:
    if not location:
        raise RegistryProtocolError(f"upload to {ref.name} got no Location header")
    return urljoin(client.base_url(ref.api_host) + "/", location)
