"""Blob uploads: monolithic, chunked, skipped, mounted and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.oci.fakeregistry import FakeRegistry, digest_of

from modelprefetch.errors import RegistryProtocolError
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.upload import BytesSource, upload_blob, upload_stream

DATA = bytes(range(256)) * 40  # 10240 bytes


async def test_monolithic_upload_stores_the_blob(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """Without chunking the blob goes in one PUT."""
    sent = await upload_blob(client, parse_reference(f"{registry.host}/a/b"), BytesSource(DATA))
    assert (sent, registry.blobs[digest_of(DATA)], registry.count("PATCH", "/uploads/")) == (
        True,
        DATA,
        0,
    )


async def test_chunked_upload_sends_patches(registry: FakeRegistry, client: RegistryClient) -> None:
    """With chunk_bytes the blob goes in PATCHes with Content-Range, then a PUT."""
    ref = parse_reference(f"{registry.host}/a/b")
    await upload_blob(client, ref, BytesSource(DATA), chunk_bytes=4096)
    assert (registry.blobs[digest_of(DATA)], registry.count("PATCH", "/uploads/")) == (DATA, 3)


async def test_existing_blob_is_skipped(registry: FakeRegistry, client: RegistryClient) -> None:
    """A blob the repository already has is not uploaded again."""
    registry.put_blob("a/b", DATA)
    sent = await upload_blob(client, parse_reference(f"{registry.host}/a/b"), BytesSource(DATA))
    assert (sent, registry.count("POST", "/uploads/")) == (False, 0)


async def test_cross_repository_mount(registry: FakeRegistry, client: RegistryClient) -> None:
    """A mount from another repository avoids sending the bytes."""
    registry.put_blob("other/repo", DATA)  # the fake's blob store is shared: mountable
    ref = parse_reference(f"{registry.host}/a/b")
    registry.fail_next(r"/a/b/blobs/sha256:", 404)  # but HEAD in a/b says it is missing
    sent = await upload_blob(client, ref, BytesSource(DATA), mount_from="other/repo")
    assert (sent, registry.count("PUT", "/uploads/")) == (False, 0)
    assert any("mount=" in path and "from=other" in path for _, path in registry.requests)


async def test_retried_chunk_is_resent_from_the_source(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A 503 on a PATCH re-reads the same range: the stored blob is intact."""
    registry.fail_next("/uploads/u0", 503)
    await upload_blob(
        client, parse_reference(f"{registry.host}/a/b"), BytesSource(DATA), chunk_bytes=4096
    )
    assert registry.blobs[digest_of(DATA)] == DATA


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_stream_upload_computes_the_digest(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """upload_stream hashes on the fly and returns the digest of what it sent."""
    digest = await upload_stream(
        client, parse_reference(f"{registry.host}/a/b"), _chunks(DATA, 1000), len(DATA)
    )
    assert (digest, registry.blobs[digest]) == (digest_of(DATA), DATA)


async def test_stream_shorter_than_declared_fails(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A stream giving fewer bytes than declared is refused, not stored."""
    with pytest.raises(RegistryProtocolError):
        await upload_stream(
            client, parse_reference(f"{registry.host}/a/b"), _chunks(DATA, 1000), len(DATA) + 1
        )
