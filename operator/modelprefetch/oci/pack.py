"""Pack a model directory into a ModelPack artifact and push it.

One layer per file (`org.cncf.model.filepath` + file metadata annotations), uncompressed
tar by default so the mountable image can be derived for free, raw on request. The
output is reproducible: files sorted, tar headers with owner 0:0 and mtime 0, modes
normalised to 0644/0755, JSON with sorted keys and no timestamps unless asked for.
Pushing is resumable at blob granularity: blobs already in the registry are skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from modelprefetch.concurrency import run_bounded
from modelprefetch.errors import PackError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.derive import canonical_json
from modelprefetch.oci.detect import Detected, detect, layer_kind
from modelprefetch.oci.filelayer import FileLayer
from modelprefetch.oci.reference import Reference
from modelprefetch.oci.tarstream import normalise_mode
from modelprefetch.oci.upload import BytesSource, upload_blob

SKIPPED_DIRECTORIES = {".git", ".cache", ".huggingface", "__pycache__"}
SKIPPED_FILES = {".DS_Store"}
TAR_TYPEFLAG = ord("0")  # regular file, as in the file metadata annotation


@dataclass(frozen=True, slots=True)
class PackOptions:
    """Config fields given on the command line; None means "detect" or "omit"."""

    name: str | None = None
    family: str | None = None
    version: str | None = None
    format: str | None = None
    param_size: str | None = None
    precision: str | None = None
    quantization: str | None = None
    architecture: str | None = None
    created: str | None = None  # RFC 3339; omitted by default for reproducibility
    raw: bool = False  # raw layers instead of tar
    concurrency: int = 4


@dataclass(slots=True)
class PackResult:
    """What a pack run did."""

    digest: str = ""
    manifest: bytes = b""
    config: bytes = b""
    layers: list[FileLayer] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # paths whose blob was sent
    skipped: list[str] = field(default_factory=list)  # paths already in the registry


Progress = Callable[[str, str, int], None]  # (phase "hash"|"upload", path, bytes)


def scan(root: Path, options: PackOptions) -> list[FileLayer]:
    """The layers of a model directory, sorted by path. Symlinks are followed (a
    Hugging Face snapshot is symlinks into its blob store)."""
    if not root.is_dir():
        raise PackError(f"{root} is not a directory")
    layers: list[FileLayer] = []
    visited: dict[tuple[int, int], str] = {}  # real directory -> where the walk first saw it
    for directory, subdirs, files in os.walk(root, followlinks=True):
        _refuse_loop(root, Path(directory), visited)
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRECTORIES)
        for name in sorted(files):
            if name in SKIPPED_FILES:
                continue
            source = Path(directory) / name
            relative = source.relative_to(root).as_posix()
            try:
                stat = source.stat()
            except OSError as exc:
                raise PackError(f"cannot read {source}: {exc.strerror}") from None
            layers.append(
                FileLayer(
                    path=relative,
                    source=source,
                    file_size=stat.st_size,
                    mode=normalise_mode(stat.st_mode),
                    as_tar=not options.raw,
                )
            )
    if not layers:
        raise PackError(f"{root} holds no files to pack")
    layers.sort(key=lambda layer: layer.path)
    return layers


def _refuse_loop(root: Path, directory: Path, visited: dict[tuple[int, int], str]) -> None:
    """A directory symlink back to an ancestor would be walked until the OS gives up
    (40 levels), packing every file 40 times: name the loop instead."""
    try:
        stat = directory.stat()
    except OSError as exc:
        raise PackError(f"cannot read {directory}: {exc.strerror}") from None
    relative = directory.relative_to(root).as_posix()
    first = visited.setdefault((stat.st_dev, stat.st_ino), relative)
    if first != relative:
        raise PackError(
            f"{relative} leads back to {first!r} of {root}: a symlink loop; remove the link"
        )


def layer_media_type(layer: FileLayer) -> str:
    return (
        f"application/vnd.cncf.model.{layer_kind(layer.path)}.v1.{'tar' if layer.as_tar else 'raw'}"
    )


def layer_descriptor(layer: FileLayer) -> dict[str, Any]:
    metadata = {
        "name": layer.path.rsplit("/", 1)[-1],
        "mode": layer.mode,
        "uid": 0,
        "gid": 0,
        "size": layer.file_size,
        "mtime": "1970-01-01T00:00:00Z",
        "typeflag": TAR_TYPEFLAG,
    }
    annotations = {
        mt.ANNOTATION_FILEPATH: layer.path,
        mt.ANNOTATION_FILE_METADATA: json.dumps(metadata, sort_keys=True, separators=(",", ":")),
    }
    if not layer.as_tar:
        # A raw layer is the file itself. Older readers name it from other keys: oras pull
        # and CRI-O 1.33 from the image title, modctl <= v0.0.6 from org.cnai.
        annotations[mt.ANNOTATION_TITLE] = layer.path
        annotations[mt.LEGACY_ANNOTATION_FILEPATH] = layer.path
    return {
        "mediaType": layer_media_type(layer),
        "digest": layer.digest,
        "size": layer.size,
        "annotations": annotations,
    }


def build_config(options: PackOptions, detected: Detected, layers: list[FileLayer]) -> bytes:
    """The ModelPack config (vnd.cncf, diffIds); only fields with a value are written."""
    descriptor = _present(
        name=options.name,
        family=options.family or detected.family,
        version=options.version,
        createdAt=options.created,
    )
    config = _present(
        architecture=options.architecture or detected.architecture,
        format=options.format or detected.format,
        paramSize=options.param_size or detected.param_size,
        precision=options.precision or detected.precision,
        quantization=options.quantization,
    )
    # A raw layer's diff id is the digest of the file itself, which is the blob.
    modelfs = {"type": "layers", "diffIds": [layer.digest for layer in layers]}
    return canonical_json({"descriptor": descriptor, "config": config, "modelfs": modelfs})


def build_manifest(config: bytes, layers: list[FileLayer], annotations: dict[str, str]) -> bytes:
    config_source = BytesSource(config)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": mt.MODELPACK_ARTIFACT,
        "config": {
            "mediaType": mt.MODELPACK_CONFIG,
            "digest": config_source.digest,
            "size": config_source.size,
        },
        "layers": [layer_descriptor(layer) for layer in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return canonical_json(manifest)


async def pack_directory(
    root: Path,
    options: PackOptions,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> PackResult:
    """Scan and hash a model directory; build config and manifest (no network).
    `on_total` learns the bytes to hash once the directory is scanned."""
    layers = await asyncio.to_thread(scan, root, options)
    if on_total is not None:
        on_total(sum(layer.file_size for layer in layers))
    await run_bounded(
        [partial(layer.compute_digest, _bind(progress, "hash", layer.path)) for layer in layers],
        options.concurrency,
    )
    return await _describe(root, options, layers)


async def pack_and_push(
    client: RegistryClient,
    ref: Reference,
    root: Path,
    options: PackOptions,
    *,
    progress: Progress | None = None,
    chunk_bytes: int | None = None,
    on_scanned: Callable[[list[FileLayer]], None] | None = None,
) -> PackResult:
    """`pack_directory` then `push_packed`, with each file uploaded as soon as it is
    hashed, so that hashing one file overlaps uploading another. Same digest."""
    layers = await asyncio.to_thread(scan, root, options)
    if on_scanned is not None:
        on_scanned(layers)
    result = PackResult(layers=layers)

    async def hash_and_push(layer: FileLayer) -> None:
        await layer.compute_digest(_bind(progress, "hash", layer.path))
        await _push_layer(client, ref, layer, result, progress, chunk_bytes)

    await run_bounded([partial(hash_and_push, layer) for layer in layers], options.concurrency)
    described = await _describe(root, options, layers)
    result.digest, result.manifest, result.config = (
        described.digest,
        described.manifest,
        described.config,
    )
    await _push_config_and_manifest(client, ref, result)
    return result


async def push_packed(
    client: RegistryClient,
    ref: Reference,
    packed: PackResult,
    *,
    progress: Progress | None = None,
    chunk_bytes: int | None = None,
    concurrency: int = 4,
) -> PackResult:
    """Upload missing blobs, then the config and the manifest (tagged if `ref` has a tag)."""
    await run_bounded(
        [
            partial(_push_layer, client, ref, layer, packed, progress, chunk_bytes)
            for layer in packed.layers
        ],
        concurrency,
    )
    await _push_config_and_manifest(client, ref, packed)
    return packed


async def _describe(root: Path, options: PackOptions, layers: list[FileLayer]) -> PackResult:
    detected = await asyncio.to_thread(detect, root, [layer.path for layer in layers])
    config = build_config(options, detected, layers)
    annotations = {"org.opencontainers.image.title": options.name} if options.name else {}
    manifest = build_manifest(config, layers, annotations)
    return PackResult(
        digest=BytesSource(manifest).digest, manifest=manifest, config=config, layers=layers
    )


async def _push_layer(
    client: RegistryClient,
    ref: Reference,
    layer: FileLayer,
    result: PackResult,
    progress: Progress | None,
    chunk_bytes: int | None,
) -> None:
    upload_progress = _bind(progress, "upload", layer.path)
    sent = await upload_blob(client, ref, layer, chunk_bytes=chunk_bytes, progress=upload_progress)
    (result.uploaded if sent else result.skipped).append(layer.path)
    if not sent and progress is not None:
        progress("skip", layer.path, layer.size)


async def _push_config_and_manifest(
    client: RegistryClient, ref: Reference, packed: PackResult
) -> None:
    await upload_blob(client, ref, BytesSource(packed.config))
    await client.put_manifest(ref, packed.manifest, mt.OCI_MANIFEST, ref.tag or packed.digest)


def _present(**fields: str | None) -> dict[str, str]:
    return {key: value for key, value in fields.items() if value}


def _bind(progress: Progress | None, phase: str, path: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda n: progress(phase, path, n)
