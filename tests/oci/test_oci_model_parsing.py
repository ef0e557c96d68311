"""Manifests and configs of every generation and producer parse into what we rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelprefetch.errors import ModelFormatError
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, ModelFile
from modelprefetch.oci.manifest import model_files, parse_manifest
from modelprefetch.oci.modelconfig import parse_model_config

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str) -> tuple[dict[str, Any], bytes]:
    manifest = json.loads((FIXTURES / f"{name}.manifest.json").read_text())
    return manifest, (FIXTURES / f"{name}.config.json").read_bytes()


def _parse(name: str):  # type: ignore[no-untyped-def]
    manifest, config = _load(name)
    parsed = parse_manifest(manifest)
    metadata = parse_model_config(parsed.kind, parsed.config.media_type, config, len(parsed.layers))
    return parsed, metadata


def test_legacy_modctl_raw_artifact() -> None:
    """A modctl v0.0.5 (vnd.cnai, diff_ids) raw artifact is a legacy ModelPack."""
    parsed, metadata = _parse("modctl-v0.0.5-raw")
    assert (
        parsed.kind,
        parsed.layer_format,
        metadata.generation,
        metadata.name,
        metadata.family,
    ) == (
        ArtifactKind.MODELPACK,
        LayerFormat.RAW,
        "v0.0.6-cnai",
        "tiny",
        "llama",
    )


def test_legacy_layers_name_files_from_org_cnai() -> None:
    """Legacy layers take their path from org.cnai.model.filepath."""
    parsed, _ = _parse("modctl-v0.0.5-raw")
    assert {(layer.path, layer.path_annotation) for layer in parsed.layers} >= {
        ("model.safetensors", "org.cnai.model.filepath")
    }


def test_layers_keep_every_name_annotation() -> None:
    """Each layer keeps the file-name annotations it carries (a runtime may read another)."""
    parsed, _ = _parse("modctl-v0.0.5-raw")
    assert {layer.name_annotations for layer in parsed.layers} >= {
        (("org.cnai.model.filepath", "model.safetensors"),)
    }


def test_legacy_tar_artifact_has_one_diff_id_per_layer() -> None:
    """A modctl v0.0.5 tar artifact gives one diff id per layer."""
    parsed, metadata = _parse("modctl-v0.0.5-tar")
    assert (parsed.layer_format, len(metadata.diff_ids)) == (LayerFormat.TAR, len(parsed.layers))


def test_v007_config_fields() -> None:
    """A v0.0.7 config yields name, family, format, paramSize and precision."""
    _, metadata = _parse("modelpack-v0.0.7-raw")
    assert (
        metadata.generation,
        metadata.name,
        metadata.family,
        metadata.format,
        metadata.param_size,
        metadata.precision,
    ) == (
        "v0.0.7",
        "qwen2-0.5b",
        "qwen2",
        "safetensors",
        "0.5b",
        "bf16",
    )


def test_main_generation_is_detected_and_unknown_fields_ignored() -> None:
    """A config with languages/datasetsURL is the main generation; unknown fields pass."""
    _, metadata = _parse("modelpack-main-tar")
    assert (metadata.generation, metadata.quantization, metadata.architecture) == (
        "main",
        "awq",
        "LlamaForCausalLM",
    )


def test_mixed_tar_and_gzip_layers_are_mixed() -> None:
    """Layers of different formats give LayerFormat.MIXED."""
    parsed, _ = _parse("modelpack-main-tar")
    assert parsed.layer_format is LayerFormat.MIXED


def test_tar_file_size_comes_from_metadata() -> None:
    """A tar layer's file size is the one in its file metadata annotation."""
    parsed, _ = _parse("modelpack-main-tar")
    files = model_files(parsed.layers, parsed.descriptors)
    assert files[0] == ModelFile("weights/model-00001-of-00004.safetensors", 16060520000, 0o644)


def test_docker_model_artifact() -> None:
    """A Docker model artifact parses with guessed file names and GGUF metadata."""
    parsed, metadata = _parse("docker-model-gguf")
    assert (
        parsed.kind,
        [layer.path for layer in parsed.layers],
        metadata.format,
        metadata.param_size,
        metadata.quantization,
    ) == (ArtifactKind.DOCKER_MODEL, ["model.gguf", "LICENSE"], "gguf", "1.24 B", "Q4_K_M")


def test_docker_image_is_an_oci_image() -> None:
    """A Docker schema 2 image with a gzip layer is an OCI image for mounting purposes."""
    parsed, metadata = _parse("docker-image")
    assert (parsed.kind, parsed.layer_format, metadata.image_architecture) == (
        ArtifactKind.OCI_IMAGE,
        LayerFormat.TAR_GZIP,
        "amd64",
    )


def _v007() -> dict[str, Any]:
    return _load("modelpack-v0.0.7-raw")[0]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m.update(schemaVersion=1), "schemaVersion"),
        (lambda m: m.update(layers={}), "layers must be an array"),
        (lambda m: m.update(layers=[]), "layers is empty"),
        (lambda m: m["layers"][1].update(size=-1), "layers[1].size"),
        (lambda m: m["layers"][0].update(digest="sha256:xyz"), "layers[0].digest"),
        (lambda m: m["layers"][0].pop("mediaType"), "layers[0].mediaType"),
        (lambda m: m["layers"][1]["annotations"].pop("org.cncf.model.filepath"), "layers[1]"),
        (
            lambda m: m["layers"][1]["annotations"].update(
                {"org.cncf.model.filepath": "../etc/passwd"}
            ),
            "leaves the model tree",
        ),
        (lambda m: m["config"].update(mediaType="application/x-unknown"), "config.mediaType"),
        (lambda m: m.update(annotations={"a": 1}), "annotations"),
    ],
)
def test_malformed_manifests_name_the_field(mutate: Any, fragment: str) -> None:
    """Manifest problems raise ModelFormatError naming the field."""
    manifest = _v007()
    if fragment == "config.mediaType":
        manifest.pop("artifactType")
        for layer in manifest["layers"]:
            layer["mediaType"] = "application/octet-stream"
    mutate(manifest)
    with pytest.raises(ModelFormatError) as info:
        parse_manifest(manifest)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"descriptor":{}}', "modelfs is required"),
        (b'{"modelfs":{"type":"other","diffIds":[]}}', "modelfs.type"),
        (b'{"modelfs":{"type":"layers","diffIds":["nope"]}}', "modelfs.diffIds[0]"),
        (b'{"modelfs":{"type":"layers","diffIds":["sha256:' + b"1" * 64 + b'"]}}', "2 layers"),
        (b'{"descriptor":{"name":5},"modelfs":{}}', "modelfs.type"),
        (b'{"config":"x","modelfs":{"type":"layers","diffIds":[]}}', "config must be an object"),
    ],
)
def test_malformed_configs_name_the_field(config: bytes, fragment: str) -> None:
    """Config problems raise ModelFormatError naming the field."""
    with pytest.raises(ModelFormatError) as info:
        parse_model_config(
            ArtifactKind.MODELPACK, "application/vnd.cncf.model.config.v1+json", config, 2
        )
    assert fragment in info.value.message


def test_string_field_of_wrong_type_is_named() -> None:
    """A non-string config.paramSize is reported by name."""
    config = json.dumps(
        {
            "config": {"paramSize": 8},
            "modelfs": {"type": "layers", "diffIds": ["sha256:" + "1" * 64]},
        }
    ).encode()
    with pytest.raises(ModelFormatError, match=r"config\.paramSize must be a string"):
        parse_model_config(
            ArtifactKind.MODELPACK, "application/vnd.cncf.model.config.v1+json", config, 1
        )


def test_index_is_not_a_manifest() -> None:
    """An index handed to parse_manifest is refused with a hint."""
    with pytest.raises(ModelFormatError, match="index"):
        parse_manifest(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [],
            }
        )
