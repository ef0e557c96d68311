"""OCI 1.1 referrers: list them, and attach a manifest to a subject.

Registries with the referrers API answer GET /v2/<repo>/referrers/<digest> with an
image index (200, possibly empty). Registries without it (distribution 2.8) answer 404;
then the referrers live in an index tagged `sha256-<hex>` (the tag schema), which the
pushing client maintains: when a manifest with a `subject` is PUT, the registry does not
answer with an `OCI-Subject` header and its referrers API is missing, we add it to that
index ourselves.
"""

from __future__ import annotations

import json

from modelprefetch.errors import RegistryNotFoundError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import MAX_MANIFEST_BYTES, RegistryClient
from modelprefetch.oci.descriptor import Descriptor, parse_descriptor
from modelprefetch.oci.reference import Reference
from modelprefetch.oci.replies import json_or_none, read_capped

# A 404 means "no referrers API"; some registries say the same with 400 or 405.
_UNSUPPORTED = frozenset({400, 404, 405})


def fallback_tag(digest: str) -> str:
    """The tag-schema tag of a subject: sha256:abc... -> sha256-abc..."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


async def list_referrers(
    client: RegistryClient, ref: Reference, subject_digest: str, artifact_type: str | None = None
) -> list[Descriptor]:
    """Referrers of `subject_digest` in `ref`'s repository, through the referrers API or
    else the tag schema, optionally filtered by artifact type."""
    found = await _referrers_api(client, ref, subject_digest)
    if found is None:
        found = await _fallback_index(client, ref, subject_digest)
    if artifact_type is not None:
        found = [d for d in found if d.artifact_type == artifact_type]
    return found


async def push_referrer(
    client: RegistryClient,
    ref: Reference,
    data: bytes,
    media_type: str,
    artifact_type: str | None,
    annotations: dict[str, str],
    subject_digest: str,
) -> str:
    """PUT a manifest whose `subject` is `subject_digest`; keep the tag-schema index up
    to date when the registry does not index referrers itself. Returns its digest."""
    digest, acknowledged = await client.put_manifest_with_subject(ref, data, media_type)
    if acknowledged:
        return digest
    # Some registries index referrers without saying so (go-containerregistry sends no
    # OCI-Subject header): ask the API before falling back to the tag schema.
    if await _referrers_api(client, ref, subject_digest) is not None:
        return digest
    entry = Descriptor(
        media_type=media_type,
        digest=digest,
        size=len(data),
        artifact_type=artifact_type,
        annotations=annotations,
    )
    existing = await _fallback_index(client, ref, subject_digest)
    if any(d.digest == digest for d in existing):
        return digest
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [d.to_json() for d in [*existing, entry]],
    }
    body = json.dumps(index, separators=(",", ":"), sort_keys=True).encode()
    await client.put_manifest(ref, body, mt.OCI_INDEX, fallback_tag(subject_digest))
    return digest


async def _referrers_api(
    client: RegistryClient, ref: Reference, subject_digest: str
) -> list[Descriptor] | None:
    async with client.request(
        "GET",
        ref.api_host,
        f"/v2/{ref.repository}/referrers/{subject_digest}",
        repository=ref.repository,
        headers={"Accept": mt.OCI_INDEX},
        ok=(200, *_UNSUPPORTED),
    ) as response:
        if response.status in _UNSUPPORTED:
            return None
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await read_capped(response, MAX_MANIFEST_BYTES, f"referrers of {subject_digest}")
    if content_type and content_type != mt.OCI_INDEX:
        return None  # not a referrers reply (a catch-all route answering 200)
    return _index_entries(json_or_none(raw), f"referrers of {subject_digest}")


async def _fallback_index(
    client: RegistryClient, ref: Reference, subject_digest: str
) -> list[Descriptor]:
    tag = fallback_tag(subject_digest)
    try:
        fetched = await client.get_manifest(ref, tag)
    except RegistryNotFoundError:
        return []
    if fetched.media_type != mt.OCI_INDEX:
        return []  # the tag is taken by something else: not a referrers index
    return _index_entries(fetched.document, f"referrers index {ref.name}:{tag}")


def _index_entries(document: object, where: str) -> list[Descriptor]:
    if not isinstance(document, dict):
        return []
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        return []
    return [parse_descriptor(m, f"{where} manifests[{i}]") for i, m in enumerate(manifests)]
