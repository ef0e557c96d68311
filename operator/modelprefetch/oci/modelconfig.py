"""Model metadata from a config blob: ModelPack (three generations), Docker model, image.

Generations of the ModelPack config (docs/runtimes.md, "The artifacts"):
  legacy   <= v0.0.6: vnd.cnai media types, `modelfs.diff_ids`
  v0.0.7   vnd.cncf, `modelfs.diffIds`, may have `capabilities.embedding`
  main     adds `capabilities.languages` and `descriptor.datasetsURL`
We read the fields we use and ignore everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelprefetch.errors import InvalidReferenceError, ModelFormatError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import ArtifactKind
from modelprefetch.oci.reference import validate_digest

GENERATION_LEGACY = "v0.0.6-cnai"
GENERATION_V007 = "v0.0.7"
GENERATION_MAIN = "main"


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a config says about the model (all optional except the diff ids we need)."""

    name: str | None = None
    family: str | None = None
    format: str | None = None
    param_size: str | None = None
    precision: str | None = None
    quantization: str | None = None
    architecture: str | None = None
    diff_ids: tuple[str, ...] = ()
    generation: str | None = None  # ModelPack generation, "docker-v0.1", "image"
    os: str | None = None  # image configs only
    image_architecture: str | None = None  # image configs only


def load_config_json(data: bytes) -> dict[str, Any]:
    """Decode a config blob into a JSON object, or ModelFormatError."""
    try:
        document = json.loads(data)
    except RecursionError:
        raise ModelFormatError("config is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelFormatError("config is not valid JSON") from None
    if not isinstance(document, dict):
        raise ModelFormatError("config must be a JSON object")
    return document


def parse_model_config(
    kind: ArtifactKind, config_media_type: str, data: bytes, layer_count: int
) -> ModelMetadata:
    """Parse the config blob of an artifact of `kind`. For ModelPack the diff ids must
    be one per layer (derivation relies on it)."""
    document = load_config_json(data)
    if kind is ArtifactKind.MODELPACK:
        return _modelpack(document, config_media_type, layer_count)
    if kind is ArtifactKind.DOCKER_MODEL:
        return _docker_model(document)
    return _image(document)


def _modelpack(document: dict[str, Any], media_type: str, layer_count: int) -> ModelMetadata:
    descriptor = _object(document, "descriptor")
    config = _object(document, "config")
    modelfs = _object(document, "modelfs", required=True)
    fs_type = modelfs.get("type")
    if fs_type != "layers":
        raise ModelFormatError(f"modelfs.type must be 'layers', got {repr(fs_type)[:60]}")
    key = "diffIds" if "diffIds" in modelfs else "diff_ids"
    diff_ids = _digests(modelfs.get(key), f"modelfs.{key}")
    if len(diff_ids) != layer_count:
        raise ModelFormatError(
            f"modelfs.{key} has {len(diff_ids)} entries but the manifest has {layer_count} layers"
        )
    capabilities = _object(config, "capabilities", where="config.capabilities")
    legacy = key == "diff_ids" or media_type == mt.LEGACY_MODELPACK_CONFIG
    if legacy:
        generation = GENERATION_LEGACY
    elif "languages" in capabilities or "datasetsURL" in descriptor:
        generation = GENERATION_MAIN
    else:
        generation = GENERATION_V007
    return ModelMetadata(
        name=_string(descriptor, "name", "descriptor"),
        family=_string(descriptor, "family", "descriptor"),
        format=_string(config, "format", "config"),
        param_size=_string(config, "paramSize", "config"),
        precision=_string(config, "precision", "config"),
        quantization=_string(config, "quantization", "config"),
        architecture=_string(config, "architecture", "config"),
        diff_ids=diff_ids,
        generation=generation,
    )


def _docker_model(document: dict[str, Any]) -> ModelMetadata:
    config = _object(document, "config")
    rootfs = _object(document, "rootfs")
    diff_ids = _digests(rootfs["diff_ids"], "rootfs.diff_ids") if "diff_ids" in rootfs else ()
    gguf = _object(config, "gguf", where="config.gguf")
    return ModelMetadata(
        format=_string(config, "format", "config"),
        param_size=_string(config, "parameters", "config")
        or _string(gguf, "parameter_count", "config.gguf"),
        quantization=_string(config, "quantization", "config")
        or _string(gguf, "quantization", "config.gguf"),
        architecture=_string(config, "architecture", "config")
        or _string(gguf, "architecture", "config.gguf"),
        diff_ids=diff_ids,
        generation="docker",
    )


def _image(document: dict[str, Any]) -> ModelMetadata:
    rootfs = _object(document, "rootfs", required=True)
    diff_ids = _digests(rootfs.get("diff_ids"), "rootfs.diff_ids", allow_empty=True)
    return ModelMetadata(
        diff_ids=diff_ids,
        generation="image",
        os=_string(document, "os", ""),
        image_architecture=_string(document, "architecture", ""),
    )


def _object(
    parent: dict[str, Any], key: str, *, required: bool = False, where: str | None = None
) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise ModelFormatError(f"{where or key} is required")
        return {}
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where or key} must be an object")
    return value


def _string(parent: dict[str, Any], key: str, where: str) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ModelFormatError(f"{where + '.' if where else ''}{key} must be a string")
    return value


def _digests(value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ModelFormatError(f"{where} must be a non-empty array of digests")
    out: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ModelFormatError(f"{where}[{index}] must be a digest string")
        try:
            out.append(validate_digest(item))
        except InvalidReferenceError:
            raise ModelFormatError(f"{where}[{index}] {item[:80]!r} is not a digest") from None
    return tuple(out)
