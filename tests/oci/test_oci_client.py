"""The registry client: manifests, blobs, retries, limits and error mapping."""

from __future__ import annotations

import json
import socket

import pytest
from tests.oci.fakeregistry import FakeRegistry, SleepRecorder, digest_of

from modelprefetch.errors import (
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryUnavailableError,
)
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import MAX_MANIFEST_BYTES, RegistryClient
from modelprefetch.oci.descriptor import Platform
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.transport import RetryPolicy


def _image(registry: FakeRegistry, repo: str = "a/b", tag: str = "v1") -> str:
    config = registry.put_blob(repo, b'{"rootfs":{"type":"layers","diff_ids":[]}}')
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_IMAGE_CONFIG, "digest": config, "size": 42},
        "layers": [],
    }
    return registry.put_manifest(repo, manifest, tag)


async def test_get_manifest_by_tag_returns_its_digest(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A manifest fetched by tag carries the digest of its bytes."""
    digest = _image(registry)
    fetched = await client.get_manifest(parse_reference(f"{registry.host}/a/b:v1"))
    assert (fetched.digest, fetched.media_type) == (digest, mt.OCI_MANIFEST)


async def test_manifest_digest_mismatch_is_rejected(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """Bytes that do not hash to the digest asked for are a protocol error."""
    digest = _image(registry)
    other = "sha256:" + "0" * 64
    registry.manifests["a/b"][other] = registry.manifests["a/b"][digest]
    with pytest.raises(RegistryProtocolError):
        await client.get_manifest(parse_reference(f"{registry.host}/a/b@{other}"))


async def test_oversized_manifest_is_refused(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A manifest above the cap is refused before it is read whole."""
    huge = b'{"schemaVersion":2,"x":"' + b"a" * MAX_MANIFEST_BYTES + b'"}'
    registry.manifests["a/b"] = {digest_of(huge): (mt.OCI_MANIFEST, huge)}
    registry.tags["a/b"] = {"big": digest_of(huge)}
    with pytest.raises(RegistryProtocolError, match="more than"):
        await client.get_manifest(parse_reference(f"{registry.host}/a/b:big"))


async def test_oversized_config_is_refused(registry: FakeRegistry, client: RegistryClient) -> None:
    """get_blob refuses blobs above max_bytes."""
    digest = registry.put_blob("a/b", b"x" * 1000)
    with pytest.raises(RegistryProtocolError):
        await client.get_blob(parse_reference(f"{registry.host}/a/b"), digest, max_bytes=100)


async def test_missing_manifest_is_not_found(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A 404 maps to RegistryNotFoundError naming the URL and registry code."""
    with pytest.raises(RegistryNotFoundError, match="MANIFEST_UNKNOWN"):
        await client.get_manifest(parse_reference(f"{registry.host}/a/b:nope"))


async def test_retries_5xx_then_succeeds(
    registry: FakeRegistry, client: RegistryClient, sleeps: SleepRecorder
) -> None:
    """A 503 is retried after an exponential backoff delay."""
    _image(registry)
    registry.fail_next("/manifests/", 503)
    await client.get_manifest(parse_reference(f"{registry.host}/a/b:v1"))
    assert sleeps.delays == [0.5]


async def test_retry_after_is_honoured(
    registry: FakeRegistry, client: RegistryClient, sleeps: SleepRecorder
) -> None:
    """A 429 with Retry-After waits the number of seconds the registry asked for."""
    _image(registry)
    registry.fail_next("/manifests/", 429, **{"Retry-After": "7"})
    await client.get_manifest(parse_reference(f"{registry.host}/a/b:v1"))
    assert sleeps.delays == [7.0]


async def test_retry_after_is_capped() -> None:
    """A Retry-After beyond the policy's maximum is cut to that maximum."""
    assert RetryPolicy(max_retry_after=60).delay(1, "3600") == 60


async def test_persistent_429_becomes_unavailable(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """429s that outlive the retries raise RegistryUnavailableError."""
    for _ in range(3):
        registry.fail_next("/manifests/", 429)
    with pytest.raises(RegistryUnavailableError):
        await client.get_manifest(parse_reference(f"{registry.host}/a/b:v1"))


async def test_connection_refused_is_unavailable(sleeps: SleepRecorder) -> None:
    """A registry that does not answer raises RegistryUnavailableError after retries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RegistryClient(plain_http=True, sleep=sleeps, retry=RetryPolicy(attempts=2)) as c:
        with pytest.raises(RegistryUnavailableError):
            await c.ping(f"127.0.0.1:{port}")
    assert len(sleeps.delays) == 1


async def test_stream_blob_verifies_digest(registry: FakeRegistry, client: RegistryClient) -> None:
    """A streamed blob whose bytes do not match its digest raises at the end."""
    wrong = "sha256:" + "1" * 64
    registry.blobs[wrong] = b"payload"
    ref = parse_reference(f"{registry.host}/a/b")
    with pytest.raises(RegistryProtocolError):
        async for _ in client.stream_blob(ref, wrong):
            pass


async def test_stream_blob_yields_all_bytes(registry: FakeRegistry, client: RegistryClient) -> None:
    """Streaming in small chunks gives back the blob."""
    data = bytes(range(256)) * 100
    digest = registry.put_blob("a/b", data)
    chunks = [
        c
        async for c in client.stream_blob(
            parse_reference(f"{registry.host}/a/b"), digest, chunk_bytes=1000
        )
    ]
    assert b"".join(chunks) == data


def _index(registry: FakeRegistry, entries: list[tuple[str, str]]) -> None:
    manifests = []
    for arch, tag in entries:
        digest = _image(registry, tag=tag)
        manifests.append(
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": digest,
                "size": len(registry.manifests["a/b"][digest][1]),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    registry.put_manifest(
        "a/b", {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}, "multi"
    )


async def test_index_selects_requested_platform(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """An index is followed to the manifest of the requested platform."""
    _index(registry, [("amd64", "amd"), ("arm64", "arm")])
    ref = parse_reference(f"{registry.host}/a/b:multi")
    fetched = await client.get_image_manifest(ref, Platform("linux", "arm64"))
    assert fetched.digest == registry.tags["a/b"]["arm"]


async def test_index_without_platform_names_what_exists(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """Asking for a platform the index lacks lists the available ones."""
    _index(registry, [("amd64", "amd"), ("arm64", "arm")])
    with pytest.raises(RegistryNotFoundError, match="linux/amd64, linux/arm64"):
        await client.get_image_manifest(
            parse_reference(f"{registry.host}/a/b:multi"), Platform("linux", "s390x")
        )


async def test_manifest_accept_header_lists_all_types(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """Manifest requests accept OCI and Docker manifests and indexes."""
    _image(registry)
    await client.get_manifest(parse_reference(f"{registry.host}/a/b:v1"))
    accepted = {t.strip() for t in registry.accept_headers[-1].split(",")}
    assert accepted == {mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST}


async def test_put_manifest_returns_digest(registry: FakeRegistry, client: RegistryClient) -> None:
    """PUT stores the manifest under the tag and returns the digest of its bytes."""
    body = json.dumps({"schemaVersion": 2}).encode()
    digest = await client.put_manifest(
        parse_reference(f"{registry.host}/a/b"), body, mt.OCI_MANIFEST, "t"
    )
    assert registry.tags["a/b"]["t"] == digest == digest_of(body)
