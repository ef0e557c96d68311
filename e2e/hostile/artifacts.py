"""The documents of the hostile registry's artifacts: one valid ModelPack to start from,
and the ways each case bends it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
RAW_WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
FILEPATH = "org.cncf.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def encode(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def layer(blob: bytes, path: str, typeflag: str | None = None) -> dict[str, Any]:
    """A raw weight layer whose file is `blob`, named `path` (as given: hostile or not)."""
    annotations = {FILEPATH: path}
    if typeflag is not None:
        metadata = {"name": path.rsplit("/", 1)[-1], "size": len(blob), "typeflag": typeflag}
        annotations[FILE_METADATA] = json.dumps(metadata)
    return {
        "mediaType": RAW_WEIGHT,
        "digest": digest_of(blob),
        "size": len(blob),
        "annotations": annotations,
    }


def config(layers: list[dict[str, Any]]) -> bytes:
    """A ModelPack config whose diff ids match `layers` (raw layers: diff id = digest)."""
    return encode(
        {
            "descriptor": {"name": "hostile", "family": "test"},
            "config": {"format": "safetensors"},
            "modelfs": {"type": "layers", "diffIds": [entry["digest"] for entry in layers]},
        }
    )


def manifest(config_blob: bytes, layers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": digest_of(config_blob),
            "size": len(config_blob),
        },
        "layers": layers,
        **extra,
    }


def many_layers(count: int) -> tuple[bytes, bytes]:
    """(manifest, config) of `count` layers with distinct digests and short names."""
    layers = [
        {
            "mediaType": RAW_WEIGHT,
            "digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            "size": 1,
            "annotations": {FILEPATH: f"f{i}"},
        }
        for i in range(count)
    ]
    cfg = config(layers)
    return encode(manifest(cfg, layers)), cfg
