"""Format inference: the weights format of an artifact whose config does not name it."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.oci.fakeregistry import FakeRegistry, digest_of

from modelprefetch.errors import ModelFormatError
from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.detect import FORMAT_PREFERENCE, WEIGHT_EXTENSIONS
from modelprefetch.oci.formatinfer import format_of_media_type, format_of_path, infer_format
from modelprefetch.oci.manifest import parse_manifest
from modelprefetch.oci.resolve import resolve


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (
            ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
            "safetensors",
        ),
        (["qwen2-0_5b-instruct-q4_k_m.gguf", "LICENSE"], "gguf"),
        (["onnx/model.onnx", "tokenizer.json"], "onnx"),
        (["pytorch_model.bin", "config.json", "vocab.txt"], "pt"),
        (["weights/Model.SAFETENSORS"], "safetensors"),
        (["pytorch_model.bin", "model.safetensors"], "safetensors"),  # HF repos ship both
        (["model.onnx", "model.gguf"], "gguf"),
        (["flax_model.msgpack", "tf_model.h5"], "h5"),
        (["training_args.bin", "model.safetensors"], "safetensors"),
        (["training_args.bin", "config.json"], None),  # trainer state, not weights
        (["README.md", "config.json", "tokenizer.model"], None),
        ([], None),
    ],
)
def test_format_from_file_names(paths: list[str], expected: str | None) -> None:
    assert infer_format(paths) == expected


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/vnd.docker.ai.gguf.v3", "gguf"),
        ("application/vnd.docker.ai.safetensors", "safetensors"),
        ("application/vnd.docker.ai.dduf", "dduf"),
        ("application/vnd.ollama.image.model", "gguf"),
        ("application/vnd.ollama.image.template", None),
        ("application/vnd.docker.ai.license", None),
        ("application/vnd.cncf.model.weight.v1.raw", None),  # says "weight", not which
    ],
)
def test_format_from_producer_media_types(media_type: str, expected: str | None) -> None:
    assert format_of_media_type(media_type) == expected
    assert infer_format([None], [media_type]) == expected


names = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), max_size=20)
extensions = st.sampled_from([*WEIGHT_EXTENSIONS, ".json", ".md", ".txt", ".py", ""])
paths = st.lists(st.tuples(names, extensions).map("".join), max_size=12)


@given(paths)
def test_inferred_format_is_one_that_a_file_has(files: list[str]) -> None:
    """Never invents a format: the answer is the format of one of the files (or None)."""
    found = infer_format(files)
    per_file = {format_of_path(p) for p in files} - {None}
    assert (found is None) == (not per_file)
    if found is not None:
        assert found in per_file
        assert all(FORMAT_PREFERENCE.index(found) <= FORMAT_PREFERENCE.index(f) for f in per_file)


@given(paths, st.randoms())
def test_inference_ignores_order_and_directories(files: list[str], rnd: object) -> None:
    shuffled = list(files)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    nested = [f"a/b/{p}" for p in shuffled]
    assert infer_format(files) == infer_format(shuffled) == infer_format(nested)


def _modelpack_without_format(registry: FakeRegistry, files: dict[str, bytes]) -> str:
    """A ModelPack like modctl v0.2.2 writes it: raw layers, config.format empty."""
    layers = []
    for path, data in files.items():
        layers.append(
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": registry.put_blob("m/x", data),
                "size": len(data),
                "annotations": {mt.ANNOTATION_FILEPATH: path},
            }
        )
    config = {
        "descriptor": {"name": "x"},
        "config": {"format": ""},
        "modelfs": {"type": "layers", "diffIds": [digest_of(d) for d in files.values()]},
    }
    raw = json.dumps(config).encode()
    registry.put_manifest(
        "m/x",
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.MODELPACK_ARTIFACT,
            "config": {
                "mediaType": mt.MODELPACK_CONFIG,
                "digest": registry.put_blob("m/x", raw),
                "size": len(raw),
            },
            "layers": layers,
        },
        tag="v1",
    )
    return f"{registry.host}/m/x:v1"


async def test_resolve_infers_the_format_a_config_leaves_empty(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    reference = _modelpack_without_format(
        registry, {"config.json": b"{}", "model.safetensors": b"\0" * 64}
    )
    artifact = await resolve(client, reference)
    assert (artifact.format, artifact.format_source) == ("safetensors", "files")


async def test_resolve_reports_unknown_format_as_none(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    reference = _modelpack_without_format(registry, {"weights.dat": b"\1" * 32})
    artifact = await resolve(client, reference)
    assert (artifact.format, artifact.format_source) == (None, None)


@pytest.mark.parametrize(
    ("config_type", "layer_type", "fragment"),
    [
        (mt.DOCKER_IMAGE_CONFIG, "application/vnd.ollama.image.model", "an Ollama model"),
        (
            "application/vnd.kitops.modelkit.config.v1+json",
            "application/vnd.kitops.modelkit.model.v1.tar+gzip",
            "push the model as a CNCF ModelPack",
        ),
    ],
)
def test_other_tools_model_formats_are_refused_by_name(
    config_type: str, layer_type: str, fragment: str
) -> None:
    """Ollama and KitOps-native artifacts: a clear UnsupportedArtifact, not a mount."""
    layer = {"mediaType": layer_type, "digest": "sha256:" + "a" * 64, "size": 1}
    document = {
        "schemaVersion": 2,
        "config": {"mediaType": config_type, "digest": "sha256:" + "b" * 64, "size": 10},
        "layers": [layer],
    }
    with pytest.raises(ModelFormatError, match=re.escape(fragment)) as raised:
        parse_manifest(document)
    assert raised.value.reason == "UnsupportedArtifact"
