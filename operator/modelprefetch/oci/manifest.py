"""Understand a manifest: which kind of artifact it is, and what each layer holds.

Lenient on unknown fields, strict on what we rely on (media types, digests, sizes,
file paths): every problem is a `ModelFormatError` naming the field, e.g.
"layers[3].annotations[org.cncf.model.filepath]: path '../x' leaves the model tree".
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from modelprefetch.errors import ModelFormatError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, LayerInfo, ModelFile
from modelprefetch.oci.descriptor import Descriptor, parse_annotations, parse_descriptor
from modelprefetch.oci.foreign import refuse_foreign_model_formats

_MODEL_LAYER = re.compile(
    r"^application/vnd\.(?:cncf|cnai)\.model\.([a-z0-9.]+)\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$"
)
_IMAGE_LAYER_FORMATS = {
    mt.OCI_LAYER_TAR: LayerFormat.TAR,
    mt.DOCKER_LAYER_TAR: LayerFormat.TAR,
    mt.OCI_LAYER_GZIP: LayerFormat.TAR_GZIP,
    mt.DOCKER_LAYER_GZIP: LayerFormat.TAR_GZIP,
    mt.OCI_LAYER_ZSTD: LayerFormat.TAR_ZSTD,
}
# Names Docker Model Runner gives files of layers that carry no path annotation.
_DOCKER_AI_NAMES = {"gguf": "model.gguf", "license": "LICENSE", "mmproj": "model.mmproj"}
_DIRECTORY_TYPEFLAGS = {5, "5", 53}
# Regular files (tar '0', the old NUL form, contiguous '7'); the pulled tree holds nothing
# else. A link or device in a model layer is refused: it could point out of the tree.
_REGULAR_TYPEFLAGS = {0, "0", 48, "", "\0", 7, "7", 55}
_TYPEFLAG_NAMES = {
    "1": "hard link",
    "2": "symlink",
    "3": "character device",
    "4": "block device",
    "6": "FIFO",
}
# One layer per file; real models have at most a few hundred. The operator hands the
# file list to every holder pod in an annotation (at most 256 KiB with all others), so
# both the count and the list's size are bounded well below what breaks the DaemonSet.
MAX_LAYERS = 1000
MAX_FILE_LIST_BYTES = 128 * 1024


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """A single-platform manifest, classified, with one LayerInfo per layer."""

    kind: ArtifactKind
    media_type: str
    artifact_type: str | None
    config: Descriptor
    layers: tuple[LayerInfo, ...]
    descriptors: tuple[Descriptor, ...]  # the raw layer descriptors, same order
    layer_format: LayerFormat
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None


def parse_manifest(document: Any, media_type: str | None = None) -> ParsedManifest:
    """Parse an OCI or Docker schema 2 image manifest (not an index)."""
    if not isinstance(document, dict):
        raise ModelFormatError("manifest must be a JSON object")
    schema = document.get("schemaVersion")
    if schema != 2:
        raise ModelFormatError(f"manifest schemaVersion must be 2, got {_short(schema)}")
    declared = document.get("mediaType")
    kind_of_document = declared if isinstance(declared, str) else media_type or mt.OCI_MANIFEST
    if kind_of_document in mt.INDEX_TYPES or "manifests" in document:
        raise ModelFormatError("manifest is an index; select a platform manifest first")
    config = parse_descriptor(document.get("config"), "config")
    raw_layers = document.get("layers")
    if not isinstance(raw_layers, list):
        raise ModelFormatError("layers must be an array")
    if len(raw_layers) > MAX_LAYERS:
        raise ModelFormatError(
            f"layers: {len(raw_layers)} layers, more than the {MAX_LAYERS} allowed"
            " (one layer per model file)"
        )
    descriptors = tuple(
        parse_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(raw_layers)
    )
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ModelFormatError("artifactType must be a string")
    kind = classify(config.media_type, artifact_type, descriptors)
    if not descriptors:
        raise ModelFormatError(f"layers is empty: a {kind} without layers holds no model")
    layers = tuple(_layer_info(kind, d, i) for i, d in enumerate(descriptors))
    _refuse_duplicate_paths(layers)
    subject = document.get("subject")
    return ParsedManifest(
        kind=kind,
        media_type=kind_of_document,
        artifact_type=artifact_type,
        config=config,
        layers=layers,
        descriptors=descriptors,
        layer_format=overall_format(layers),
        annotations=parse_annotations(document.get("annotations"), "annotations"),
        subject=parse_descriptor(subject, "subject") if subject is not None else None,
    )


def classify(
    config_media_type: str, artifact_type: str | None, layers: tuple[Descriptor, ...]
) -> ArtifactKind:
    """ModelPack, Docker model or OCI image; anything else is a ModelFormatError."""
    layer_types = [d.media_type for d in layers]
    if (
        config_media_type in mt.MODELPACK_CONFIG_TYPES
        or artifact_type in mt.MODELPACK_ARTIFACT_TYPES
        or any(t.startswith(mt.MODELPACK_LAYER_PREFIXES) for t in layer_types)
    ):
        return ArtifactKind.MODELPACK
    if config_media_type.startswith(mt.DOCKER_AI_PREFIX) or any(
        t.startswith(mt.DOCKER_AI_PREFIX) for t in layer_types
    ):
        return ArtifactKind.DOCKER_MODEL
    refuse_foreign_model_formats(config_media_type, layer_types)
    if config_media_type in mt.IMAGE_CONFIG_TYPES:
        unknown = [t for t in layer_types if t not in _IMAGE_LAYER_FORMATS]
        if unknown:
            raise ModelFormatError(
                f"image manifest has layers of unsupported media type {unknown[0]!r}"
            )
        return ArtifactKind.OCI_IMAGE
    raise ModelFormatError(
        f"config.mediaType {config_media_type!r} is neither a ModelPack, a Docker model nor"
        " an OCI image config"
    )


def overall_format(layers: tuple[LayerInfo, ...]) -> LayerFormat:
    formats = {layer.layer_format for layer in layers}
    return formats.pop() if len(formats) == 1 else LayerFormat.MIXED


def _refuse_duplicate_paths(layers: tuple[LayerInfo, ...]) -> None:
    """Two layers naming the same file: which one the node ends up with depends on the
    runtime's unpack order, and the expected sizes cannot both hold."""
    first: dict[str, int] = {}
    for index, layer in enumerate(layers):
        if layer.path is None or layer.path_annotation is None:
            continue  # guessed names (Docker model layers) are not the artifact's claim
        if layer.path in first:
            raise ModelFormatError(
                f"layers[{index}].annotations[{layer.path_annotation}]: path {layer.path!r}"
                f" is also the path of layers[{first[layer.path]}]"
            )
        first[layer.path] = index


def model_files(
    layers: tuple[LayerInfo, ...], descriptors: tuple[Descriptor, ...]
) -> tuple[ModelFile, ...]:
    """The files the mounted tree will hold, as far as the manifest tells.

    Raw layers are the file. For a tar layer the size comes from the file metadata
    annotation; without one, the layer size stands in (an upper bound). Directory
    layers and image layers without a path are not listed (we would have to read them).
    """
    files: list[ModelFile] = []
    for index, (layer, descriptor) in enumerate(zip(layers, descriptors, strict=True)):
        if layer.path is None:
            continue
        metadata = _file_metadata(descriptor, index)
        if metadata.get("typeflag") in _DIRECTORY_TYPEFLAGS:
            continue
        mode = metadata.get("mode", 0o644)
        if layer.layer_format is LayerFormat.RAW:
            size = layer.size
        else:
            size = metadata.get("size", layer.size)
        files.append(ModelFile(path=layer.path, size=size, mode=mode & 0o7777))
    listed = sum(len(file.path.encode()) + 24 for file in files)  # path, size, JSON syntax
    if listed > MAX_FILE_LIST_BYTES:
        raise ModelFormatError(
            f"layers: the file list of {len(files)} paths needs about {listed} bytes, more"
            f" than the {MAX_FILE_LIST_BYTES} a holder pod annotation may carry"
        )
    return tuple(files)


def _layer_info(kind: ArtifactKind, descriptor: Descriptor, index: int) -> LayerInfo:
    media_type = descriptor.media_type
    path, annotation = _layer_path(descriptor, index)
    match = _MODEL_LAYER.match(media_type)
    if match is not None:
        layer_kind, layer_format = match.group(1), LayerFormat(match.group(2))
    elif media_type in _IMAGE_LAYER_FORMATS:
        layer_kind, layer_format = "image", _IMAGE_LAYER_FORMATS[media_type]
    elif media_type.startswith(mt.DOCKER_AI_PREFIX):
        layer_kind, layer_format, guessed = _docker_ai_layer(media_type)
        path = path or guessed
    else:
        layer_kind, layer_format = "unknown", LayerFormat.RAW
    if kind is ArtifactKind.MODELPACK and layer_format is LayerFormat.RAW and path is None:
        raise ModelFormatError(
            f"layers[{index}] is a raw model layer without an {mt.ANNOTATION_FILEPATH} annotation"
        )
    return LayerInfo(
        digest=descriptor.digest,
        size=descriptor.size,
        media_type=media_type,
        kind=layer_kind,
        layer_format=layer_format,
        path=path,
        path_annotation=annotation,
        has_legacy_path_annotation=any(
            key in descriptor.annotations for key in mt.LEGACY_FILEPATH_ANNOTATIONS
        ),
        name_annotations=tuple(
            (key, descriptor.annotations[key])
            for key in mt.FILEPATH_ANNOTATIONS
            if key in descriptor.annotations
        ),
    )


def _docker_ai_layer(media_type: str) -> tuple[str, LayerFormat, str | None]:
    suffix = media_type[len(mt.DOCKER_AI_PREFIX) :]
    layer_format = LayerFormat.TAR if "tar" in suffix.split(".") else LayerFormat.RAW
    head = suffix.split(".", 1)[0]
    kind = "doc" if head == "license" else "weight.config" if "template" in suffix else "weight"
    return kind, layer_format, _DOCKER_AI_NAMES.get(head)


def _layer_path(descriptor: Descriptor, index: int) -> tuple[str | None, str | None]:
    for key in mt.FILEPATH_ANNOTATIONS:
        value = descriptor.annotations.get(key)
        if value is not None:
            return safe_relative_path(value, f"layers[{index}].annotations[{key}]"), key
    return None, None


def safe_relative_path(value: str, where: str) -> str:
    """A clean relative "/"-separated path inside the model tree, or ModelFormatError."""
    if not value or "\x00" in value:
        raise ModelFormatError(f"{where}: path is empty or contains NUL")
    if value.startswith(("/", "\\")):
        raise ModelFormatError(
            f"{where}: path {value[:200]!r} is absolute; file paths are relative to the model tree"
        )
    cleaned = posixpath.normpath(value.replace("\\", "/")).lstrip("/")
    if cleaned in ("", ".") or cleaned == ".." or cleaned.startswith("../"):
        raise ModelFormatError(f"{where}: path {value[:200]!r} leaves the model tree")
    return cleaned


def _file_metadata(descriptor: Descriptor, index: int) -> dict[str, Any]:
    for key in mt.FILE_METADATA_ANNOTATIONS:
        raw = descriptor.annotations.get(key)
        if raw is None:
            continue
        where = f"layers[{index}].annotations[{key}]"
        try:
            metadata = json.loads(raw)
        except (ValueError, RecursionError):
            raise ModelFormatError(f"{where} is not valid JSON") from None
        if not isinstance(metadata, dict):
            raise ModelFormatError(f"{where} must be a JSON object")
        for name in ("mode", "size"):
            value = metadata.get(name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ModelFormatError(f"{where}.{name} must be a non-negative integer")
        typeflag = metadata.get("typeflag")
        if typeflag is not None and not isinstance(typeflag, int | str):
            raise ModelFormatError(f"{where}.typeflag must be a number or a string")
        if typeflag is not None and typeflag not in _REGULAR_TYPEFLAGS | _DIRECTORY_TYPEFLAGS:
            flag = chr(typeflag) if isinstance(typeflag, int) and 0 < typeflag < 128 else typeflag
            kind = _TYPEFLAG_NAMES.get(str(flag), "not a regular file")
            raise ModelFormatError(
                f"{where}.typeflag {typeflag!r} ({kind}): model layers may hold only regular"
                " files and directories"
            )
        return {k: v for k, v in metadata.items() if v is not None}
    return {}


def _short(value: Any) -> str:
    return repr(value)[:80]
