"""Derive the mountable OCI image of a model artifact and publish it as a referrer.

containerd mounts only image layers described by an image config's `rootfs.diff_ids`
(docs/runtimes.md). For a ModelPack with tar layers the derived image costs two
small blobs: an image config whose diff_ids are the ModelPack's, and a manifest that
points at the SAME layer blobs with image layer media types. Raw layers are wrapped in
a one-file tar while they stream from the registry back into it (constant memory, the
digest computed on the way). The manifest's `subject` is the model manifest, so the
image is found again through the referrers API; it is fully deterministic, so two
publishers racing produce the same digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelprefetch.errors import ModelFormatError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, LayerInfo, ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.descriptor import Descriptor, Platform
from modelprefetch.oci.reference import Reference, parse_reference
from modelprefetch.oci.referrers import push_referrer
from modelprefetch.oci.resolve import find_derived_image
from modelprefetch.oci.tarstream import normalise_mode, tar_size, wrap_file
from modelprefetch.oci.upload import BytesSource, upload_blob, upload_stream

DEFAULT_PLATFORM = Platform("linux", "amd64")
_TAR_LAYER_TYPES = {
    LayerFormat.TAR: mt.OCI_LAYER_TAR,
    LayerFormat.TAR_GZIP: mt.OCI_LAYER_GZIP,
    LayerFormat.TAR_ZSTD: mt.OCI_LAYER_ZSTD,
}


@dataclass(frozen=True, slots=True)
class _DerivedLayer:
    descriptor: Descriptor
    diff_id: str


async def ensure_derived_image(
    client: RegistryClient,
    artifact: ResolvedArtifact,
    *,
    platform: Platform = DEFAULT_PLATFORM,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Return the digest-pinned reference of `artifact`'s derived OCI image, publishing
    it in the artifact's repository if it is not there yet. Idempotent: a second call
    finds the first one's image. An OCI image is its own mountable image.

    The image config says `platform` (containerd checks os/architecture of a single
    manifest against the node's, so publish for the nodes' architecture).
    `progress` receives byte counts while raw layers are re-streamed.
    """
    if artifact.kind is ArtifactKind.OCI_IMAGE:
        return artifact.pinned_reference
    if artifact.derived_image is not None:
        return artifact.derived_image
    ref = parse_reference(artifact.pinned_reference)
    existing = await find_derived_image(client, ref, artifact.digest)
    if existing is not None:
        return existing
    layers = [
        await _derive_layer(client, ref, artifact, index, layer, progress)
        for index, layer in enumerate(artifact.layers)
    ]
    config = image_config(platform, [layer.diff_id for layer in layers])
    config_source = BytesSource(config)
    await upload_blob(client, ref, config_source)
    manifest = image_manifest(artifact, config_source, [layer.descriptor for layer in layers])
    annotations = {mt.ANNOTATION_DERIVED_FROM: artifact.digest}
    digest = await push_referrer(
        client, ref, manifest, mt.OCI_MANIFEST, mt.OCI_IMAGE_CONFIG, annotations, artifact.digest
    )
    return f"{ref.name}@{digest}"


def image_config(platform: Platform, diff_ids: list[str]) -> bytes:
    """The image config blob: platform and rootfs, no timestamps (reproducible)."""
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if platform.variant:
        config["variant"] = platform.variant
    return canonical_json(config)


def image_manifest(
    artifact: ResolvedArtifact, config: BytesSource, layers: list[Descriptor]
) -> bytes:
    """The derived image manifest, with the model manifest as its subject."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_IMAGE_CONFIG,
            "digest": config.digest,
            "size": config.size,
        },
        "layers": [layer.to_json() for layer in layers],
        "subject": {
            "mediaType": artifact.media_type,
            "digest": artifact.digest,
            "size": artifact.manifest_size,
        },
        "annotations": {mt.ANNOTATION_DERIVED_FROM: artifact.digest},
    }
    return canonical_json(manifest)


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: same value, same bytes, same digest."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


async def _derive_layer(
    client: RegistryClient,
    ref: Reference,
    artifact: ResolvedArtifact,
    index: int,
    layer: LayerInfo,
    progress: Callable[[int], None] | None,
) -> _DerivedLayer:
    tar_type = _TAR_LAYER_TYPES.get(layer.layer_format)
    if tar_type is not None:
        diff_id = artifact.diff_ids[index] if index < len(artifact.diff_ids) else None
        if diff_id is None:
            if layer.layer_format is not LayerFormat.TAR:
                raise ModelFormatError(
                    f"layers[{index}] is compressed and the config lists no diff id for it"
                )
            diff_id = layer.digest  # an uncompressed tar's diff id is its digest
        descriptor = Descriptor(tar_type, layer.digest, layer.size)
        return _DerivedLayer(descriptor, diff_id)
    if layer.path is None:
        raise ModelFormatError(f"layers[{index}] ({layer.media_type}) has no file path to tar")
    mode = normalise_mode(_file_mode(artifact, layer.path))
    size = tar_size(layer.path, layer.size, mode)
    stream = wrap_file(layer.path, layer.size, client.stream_blob(ref, layer.digest), mode)
    digest = await upload_stream(client, ref, stream, size, progress=progress)
    return _DerivedLayer(Descriptor(mt.OCI_LAYER_TAR, digest, size), digest)


def _file_mode(artifact: ResolvedArtifact, path: str) -> int:
    for file in artifact.files:
        if file.path == path:
            return file.mode
    return 0o644
