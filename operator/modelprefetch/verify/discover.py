"""Where a digest's cosign signatures are: OCI 1.1 referrers and the `.sig` tag.

Both places are read (a registry may have both: cosign's default tag and a referrer
pushed by a newer cosign or by `cosign copy`); a missing tag is no error. Referrers are
cosign's simple-signing manifests and sigstore bundles (cosign's new bundle format,
bundle.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelprefetch import errors
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.descriptor import FetchedManifest
from modelprefetch.oci.reference import Reference
from modelprefetch.oci.referrers import fallback_tag, list_referrers
from modelprefetch.verify.bundle import BUNDLE_MEDIA_TYPES, bundle_layers
from modelprefetch.verify.cosign import SIGNATURE_ARTIFACT_TYPE

MAX_SIGNATURE_MANIFESTS = 16  # referrers read per digest; a flood is cut, not followed
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
# cosign 2.x lists its bundle referrers in the tag-schema index under their config's
# media type (the empty one) instead of the manifest's artifactType: those are read too.
_SIGNATURE_TYPES = frozenset({SIGNATURE_ARTIFACT_TYPE, *BUNDLE_MEDIA_TYPES, EMPTY_TYPE})


@dataclass(frozen=True, slots=True)
class SignatureManifest:
    """A signature manifest and where it was found (for the status message)."""

    where: str  # "tag sha256-<hex>.sig" or "referrer sha256:..."
    manifest: FetchedManifest


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of `digest`: sha256:abc -> sha256-abc.sig"""
    return f"{fallback_tag(digest)}.sig"


async def find_signatures(
    client: RegistryClient, ref: Reference, digest: str
) -> list[SignatureManifest]:
    """Every cosign signature manifest of `digest` in `ref`'s repository."""
    found: list[SignatureManifest] = []
    referrers = [
        d for d in await list_referrers(client, ref, digest) if d.artifact_type in _SIGNATURE_TYPES
    ]
    for descriptor in referrers[:MAX_SIGNATURE_MANIFESTS]:
        manifest = await client.get_manifest(ref, descriptor.digest)
        if descriptor.artifact_type == EMPTY_TYPE and not bundle_layers(manifest.document):
            continue  # an unrelated artifact without an artifactType of its own
        found.append(SignatureManifest(f"referrer {descriptor.digest}", manifest))
    tag = signature_tag(digest)
    try:
        manifest = await client.get_manifest(ref, tag)
    except errors.RegistryNotFoundError:
        return found
    if all(s.manifest.digest != manifest.digest for s in found):
        found.append(SignatureManifest(f"tag {tag}", manifest))
    return found
