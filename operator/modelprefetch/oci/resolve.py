"""Resolve a reference to a `ResolvedArtifact`: the one call the operator makes.

Tag -> digest (following an image index to this platform's manifest), manifest and
config parsed, files listed, and an already published derived image looked up through
the referrers API (or the tag-schema fallback).
"""

from __future__ import annotations

from modelprefetch.errors import ModelFormatError, RegistryError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import ArtifactKind, ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.descriptor import Platform
from modelprefetch.oci.formatinfer import infer_format
from modelprefetch.oci.manifest import model_files, parse_manifest
from modelprefetch.oci.modelconfig import ModelMetadata, parse_model_config
from modelprefetch.oci.reference import Reference, parse_reference
from modelprefetch.oci.referrers import list_referrers

# The empty config `{}` of artifacts without a real config (OCI 1.1 guidance).
_EMPTY_CONFIG_SIZE = 2


async def resolve(
    client: RegistryClient, reference: str, *, platform: Platform | None = None
) -> ResolvedArtifact:
    """Resolve `reference` (tag or digest) into everything the operator decides on.

    Raises InvalidReferenceError, RegistryError subclasses (not found, unauthorized,
    unavailable, protocol) or ModelFormatError naming the offending field. When the
    reference is an index, the manifest for `platform` (default linux/<this machine>)
    is the one resolved and pinned.
    """
    ref = parse_reference(reference)
    fetched = await client.get_image_manifest(ref, platform)
    parsed = parse_manifest(fetched.document, fetched.media_type)
    metadata = ModelMetadata()
    if parsed.config.media_type != mt.OCI_EMPTY and parsed.config.size > _EMPTY_CONFIG_SIZE:
        config_data = await client.get_blob(ref, parsed.config.digest)
        metadata = parse_model_config(
            parsed.kind, parsed.config.media_type, config_data, len(parsed.layers)
        )
    elif parsed.kind is not ArtifactKind.DOCKER_MODEL:
        raise ModelFormatError(f"config of {ref} is empty; a {parsed.kind} needs one")
    model_format, format_source = metadata.format, "config" if metadata.format else None
    if model_format is None:  # modctl leaves config.format empty; the files still tell
        model_format = infer_format(
            (layer.path for layer in parsed.layers), (layer.media_type for layer in parsed.layers)
        )
        format_source = "files" if model_format else None
    derived = None
    if parsed.kind is not ArtifactKind.OCI_IMAGE:
        derived = await find_derived_image(client, ref, fetched.digest)
    return ResolvedArtifact(
        reference=str(ref),
        digest=fetched.digest,
        pinned_reference=f"{ref.name}@{fetched.digest}",
        kind=parsed.kind,
        layer_format=parsed.layer_format,
        media_type=parsed.media_type,
        artifact_type=parsed.artifact_type,
        name=metadata.name,
        family=metadata.family,
        format=model_format,
        format_source=format_source,
        param_size=metadata.param_size,
        precision=metadata.precision,
        architecture=metadata.architecture,
        size_bytes=sum(layer.size for layer in parsed.layers),
        files=model_files(parsed.layers, parsed.descriptors),
        layers=parsed.layers,
        derived_image=derived,
        annotations=parsed.annotations,
        quantization=metadata.quantization,
        config_digest=parsed.config.digest,
        config_media_type=parsed.config.media_type,
        diff_ids=metadata.diff_ids,
        generation=metadata.generation,
        manifest_size=len(fetched.data),
    )


async def find_derived_image(
    client: RegistryClient, ref: Reference, subject_digest: str
) -> str | None:
    """The digest-pinned reference of the OCI image we derived from `subject_digest`, if
    one was published. Candidates from the referrers list are checked by fetching them:
    only an image manifest annotated as derived from this subject counts."""
    referrers = await list_referrers(client, ref, subject_digest)
    for descriptor in referrers:
        if descriptor.media_type != mt.OCI_MANIFEST:
            continue
        if descriptor.artifact_type not in (None, mt.OCI_IMAGE_CONFIG):
            continue
        marker = descriptor.annotations.get(mt.ANNOTATION_DERIVED_FROM)
        if marker is not None and marker != subject_digest:
            continue
        if await _is_derived_image(client, ref, descriptor.digest, subject_digest):
            return f"{ref.name}@{descriptor.digest}"
    return None


async def _is_derived_image(
    client: RegistryClient, ref: Reference, digest: str, subject_digest: str
) -> bool:
    try:
        fetched = await client.get_manifest(ref, digest)
        parsed = parse_manifest(fetched.document, fetched.media_type)
    except (RegistryError, ModelFormatError):
        return False  # a broken or vanished referrer is not our derived image
    return (
        parsed.kind is ArtifactKind.OCI_IMAGE
        and parsed.subject is not None
        and parsed.subject.digest == subject_digest
        and parsed.annotations.get(mt.ANNOTATION_DERIVED_FROM) == subject_digest
    )
