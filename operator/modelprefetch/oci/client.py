"""The async OCI distribution client: manifests, blobs, existence checks.

Uploads live in `upload.py` and referrers in `referrers.py`; both use this client.
Every manifest and config read is size-capped and digest-verified; blobs stream in
constant memory and are verified when the stream ends.
"""

from __future__ import annotations

import hashlib
import json
import platform as host_platform
from collections.abc import AsyncIterator
from typing import Any

from modelprefetch.errors import ModelFormatError, RegistryNotFoundError, RegistryProtocolError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.descriptor import (
    Descriptor,
    FetchedManifest,
    Platform,
    parse_descriptor,
    sha256_digest,
)
from modelprefetch.oci.reference import Reference
from modelprefetch.oci.replies import read_capped
from modelprefetch.oci.transport import RegistryTransport

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit distribution itself applies
MAX_CONFIG_BYTES = 8 * 1024 * 1024
BLOB_CHUNK_BYTES = 1024 * 1024

_MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def default_platform() -> Platform:
    """linux/<this machine's architecture>, the platform picked from an index."""
    machine = host_platform.machine().lower()
    return Platform("linux", _MACHINE_TO_ARCH.get(machine, machine or "amd64"))


class RegistryClient(RegistryTransport):
    """Async client for the OCI distribution API. Use as `async with RegistryClient():`.

    Constructor (all keyword-only, all optional): `credentials` maps registry hosts
    ("ghcr.io", "127.0.0.1:5000", "docker.io") to `Credentials`; `plain_http` is True
    or a set of hosts spoken to over http; `timeout` an aiohttp.ClientTimeout;
    `retry` a RetryPolicy; `session` an aiohttp session to reuse; `sleep` for tests.
    """

    async def ping(self, registry_host: str) -> None:
        """GET /v2/: checks that the registry answers and that our credentials work."""
        async with self.request("GET", registry_host, "/v2/", repository=None):
            return

    async def head_manifest(self, ref: Reference) -> Descriptor | None:
        """The descriptor of `ref`'s manifest, or None if it does not exist."""
        async with self.request(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{ref.manifest_selector}",
            repository=ref.repository,
            headers={"Accept": mt.MANIFEST_ACCEPT},
            ok=(200, 404),
        ) as response:
            if response.status == 404:
                return None
            digest = response.headers.get("Docker-Content-Digest") or ref.digest
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if not digest or response.content_length is None:
                return None  # some registries omit these on HEAD: caller falls back to GET
            return Descriptor(media_type=media_type, digest=digest, size=response.content_length)

    async def get_manifest(self, ref: Reference, selector: str | None = None) -> FetchedManifest:
        """Fetch the manifest or index at `selector` (default: the reference's digest or
        tag), verify its digest and parse it as JSON."""
        wanted = selector or ref.manifest_selector
        async with self.request(
            "GET",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{wanted}",
            repository=ref.repository,
            headers={"Accept": mt.MANIFEST_ACCEPT},
        ) as response:
            what = f"manifest {ref.name}@{wanted}"
            data = await read_capped(response, MAX_MANIFEST_BYTES, what)
            header_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            header_digest = response.headers.get("Docker-Content-Digest")
        digest = sha256_digest(data)
        if wanted.startswith("sha256:") and digest != wanted:
            raise RegistryProtocolError(f"{what} has digest {digest}, not the one asked for")
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise RegistryProtocolError(f"{what} body does not match Docker-Content-Digest")
        document = _parse_json_object(data, what)
        media_type = document.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = header_type or mt.OCI_MANIFEST
        return FetchedManifest(media_type=media_type, digest=digest, data=data, document=document)

    async def get_image_manifest(
        self, ref: Reference, platform: Platform | None = None
    ) -> FetchedManifest:
        """Fetch `ref`; if it is an index, follow the entry for `platform` (default
        linux/<this machine>), or the only entry of a single-entry index."""
        fetched = await self.get_manifest(ref)
        if fetched.media_type not in mt.INDEX_TYPES:
            return fetched
        entry = select_platform(fetched, platform or default_platform())
        return await self.get_manifest(ref, entry.digest)

    async def get_blob(
        self, ref: Reference, digest: str, *, max_bytes: int = MAX_CONFIG_BYTES
    ) -> bytes:
        """A small blob (a config) read whole, capped at `max_bytes`, digest-verified."""
        async with self.request(
            "GET", ref.api_host, f"/v2/{ref.repository}/blobs/{digest}", repository=ref.repository
        ) as response:
            data = await read_capped(response, max_bytes, f"blob {ref.name}@{digest}")
        if digest.startswith("sha256:") and sha256_digest(data) != digest:
            raise RegistryProtocolError(f"blob {ref.name}@{digest} does not match its digest")
        return data

    async def stream_blob(
        self, ref: Reference, digest: str, *, chunk_bytes: int = BLOB_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """Yield a blob's bytes in chunks; raise RegistryProtocolError at the end if the
        bytes do not hash to `digest` (consumers must not trust data before that)."""
        hasher = hashlib.sha256()
        async with self.request(
            "GET", ref.api_host, f"/v2/{ref.repository}/blobs/{digest}", repository=ref.repository
        ) as response:
            async for chunk in response.content.iter_chunked(chunk_bytes):
                hasher.update(chunk)
                yield chunk
        if digest.startswith("sha256:") and "sha256:" + hasher.hexdigest() != digest:
            raise RegistryProtocolError(f"blob {ref.name}@{digest} does not match its digest")

    async def blob_exists(self, ref: Reference, digest: str) -> bool:
        """Whether the repository already holds this blob (HEAD)."""
        async with self.request(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.repository}/blobs/{digest}",
            repository=ref.repository,
            push=True,
            ok=(200, 404),
        ) as response:
            return response.status == 200

    async def manifest_exists(self, ref: Reference, selector: str) -> bool:
        """Whether a manifest with this tag or digest exists (HEAD)."""
        async with self.request(
            "HEAD",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{selector}",
            repository=ref.repository,
            headers={"Accept": mt.MANIFEST_ACCEPT},
            ok=(200, 404),
        ) as response:
            return response.status == 200

    async def put_manifest(
        self, ref: Reference, data: bytes, media_type: str, selector: str | None = None
    ) -> str:
        """PUT a manifest under `selector` (a tag, or by default its own digest); returns
        its digest."""
        digest, _ = await self.put_manifest_with_subject(ref, data, media_type, selector)
        return digest

    async def put_manifest_with_subject(
        self, ref: Reference, data: bytes, media_type: str, selector: str | None = None
    ) -> tuple[str, bool]:
        """Like `put_manifest`, also saying whether the registry acknowledged the
        manifest's `subject` (OCI-Subject header: it indexes referrers itself)."""
        digest = sha256_digest(data)
        async with self.request(
            "PUT",
            ref.api_host,
            f"/v2/{ref.repository}/manifests/{selector or digest}",
            repository=ref.repository,
            push=True,
            headers={"Content-Type": media_type},
            body=data,
            ok=(200, 201, 202),
        ) as response:
            return digest, "OCI-Subject" in response.headers


def select_platform(index: FetchedManifest, wanted: Platform) -> Descriptor:
    """The index entry for `wanted` (variant ignored unless both set), or the single
    entry of a one-entry index. Raises ModelFormatError listing what is available."""
    manifests = index.document.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ModelFormatError(f"index {index.digest} field 'manifests' is missing or empty")
    entries = [parse_descriptor(m, f"manifests[{i}]") for i, m in enumerate(manifests)]
    for entry in entries:
        found = entry.platform
        if (
            found is not None
            and (found.os, found.architecture) == (wanted.os, wanted.architecture)
            and (not wanted.variant or not found.variant or wanted.variant == found.variant)
        ):
            return entry
    usable = [e for e in entries if e.media_type in mt.MANIFEST_TYPES or e.platform is None]
    if len(usable) == 1:
        return usable[0]
    available = ", ".join(str(e.platform) for e in entries if e.platform) or "none"
    raise RegistryNotFoundError(
        f"index {index.digest} has no manifest for {wanted} (platforms: {available})"
    )


def _parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RegistryProtocolError(f"{what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise RegistryProtocolError(f"{what} is not a JSON object")
    return document
