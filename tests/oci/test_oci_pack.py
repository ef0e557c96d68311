"""Packing a model directory: layers, detection, reproducibility, resumable pushes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from tests.oci.fakeregistry import FakeRegistry
from tests.oci.modeldir import make_model_dir

from modelprefetch.errors import PackError
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed, scan
from modelprefetch.oci.reference import parse_reference

# The official ModelPack config schema, vendored with its license (spec/modelpack/README.md).
SCHEMA = Path(__file__).parents[2] / "spec" / "modelpack" / "config-schema.json"


def test_scan_sorts_and_skips_git(tmp_path: Path) -> None:
    """Files are sorted by path and .git is skipped."""
    make_model_dir(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    paths = [layer.path for layer in scan(tmp_path, PackOptions())]
    assert paths == ["README.md", "config.json", "model.safetensors", "tokenizer/tokenizer.json"]


def test_scan_follows_symlinks(tmp_path: Path) -> None:
    """A symlinked file (Hugging Face snapshot) is packed with its target's bytes."""
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshot"
    blobs.mkdir()
    snapshot.mkdir()
    (blobs / "abc").write_bytes(b"x" * 10)
    (snapshot / "model.bin").symlink_to(blobs / "abc")
    assert [(layer.path, layer.file_size) for layer in scan(snapshot, PackOptions())] == [
        ("model.bin", 10)
    ]


def test_empty_directory_is_a_pack_error(tmp_path: Path) -> None:
    """A directory without files cannot be packed."""
    with pytest.raises(PackError):
        scan(tmp_path, PackOptions())


async def test_config_is_detected_from_the_files(tmp_path: Path) -> None:
    """Format, architecture, family, precision and paramSize come from the files."""
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions(name="tiny"))
    config = json.loads(packed.config)
    assert (config["descriptor"], config["config"]) == (
        {"name": "tiny", "family": "llama"},
        {
            "architecture": "LlamaForCausalLM",
            "format": "safetensors",
            "paramSize": "10k",
            "precision": "bf16",
        },
    )


async def test_flags_override_detection(tmp_path: Path) -> None:
    """Values given as options win over detected ones."""
    packed = await pack_directory(
        make_model_dir(tmp_path), PackOptions(param_size="7b", family="mine")
    )
    config = json.loads(packed.config)
    assert (config["config"]["paramSize"], config["descriptor"]["family"]) == ("7b", "mine")


async def test_config_validates_against_the_official_schema(tmp_path: Path) -> None:
    """The config we write is valid per the ModelPack JSON schema."""
    packed = await pack_directory(
        make_model_dir(tmp_path), PackOptions(name="tiny", created="2025-01-01T00:00:00Z")
    )
    jsonschema.validate(json.loads(packed.config), json.loads(SCHEMA.read_text()))


async def test_same_input_same_digest(tmp_path: Path) -> None:
    """A copy of the directory (new mtimes, new path) packs to the same digest."""
    first = await pack_directory(make_model_dir(tmp_path / "a"), PackOptions(name="tiny"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = await pack_directory(tmp_path / "b", PackOptions(name="tiny"))
    assert first.digest == second.digest


async def test_layers_are_tar_by_default_and_raw_on_request(tmp_path: Path) -> None:
    """Weights are uncompressed tar layers unless raw is asked for."""
    make_model_dir(tmp_path)
    tar = json.loads((await pack_directory(tmp_path, PackOptions())).manifest)
    raw = json.loads((await pack_directory(tmp_path, PackOptions(raw=True))).manifest)
    assert (tar["layers"][2]["mediaType"], raw["layers"][2]["mediaType"]) == (
        "application/vnd.cncf.model.weight.v1.tar",
        "application/vnd.cncf.model.weight.v1.raw",
    )


async def test_layer_kinds_follow_file_names(tmp_path: Path) -> None:
    """README is doc, config.json and tokenizer are weight.config."""
    manifest = json.loads((await pack_directory(make_model_dir(tmp_path), PackOptions())).manifest)
    prefix, suffix = "application/vnd.cncf.model.", ".v1.tar"
    kinds = [
        layer["mediaType"].removeprefix(prefix).removesuffix(suffix) for layer in manifest["layers"]
    ]
    assert kinds == ["doc", "weight.config", "weight", "weight.config"]


async def test_second_push_uploads_nothing(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """Pushing the same model again skips every layer blob."""
    ref = parse_reference(f"{registry.host}/m/tiny:v1")
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions())
    await push_packed(client, ref, packed)
    again = await push_packed(client, ref, await pack_directory(tmp_path, PackOptions()))
    assert (again.uploaded, len(again.skipped)) == ([], 4)


async def test_interrupted_push_resumes_with_missing_blobs_only(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """After losing one blob (an interrupted run), only that blob is uploaded."""
    ref = parse_reference(f"{registry.host}/m/tiny:v1")
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions())
    await push_packed(client, ref, packed)
    weights = next(layer for layer in packed.layers if layer.path == "model.safetensors")
    del registry.blobs[weights.digest]
    again = await push_packed(client, ref, await pack_directory(tmp_path, PackOptions()))
    assert again.uploaded == ["model.safetensors"]


async def test_push_tags_the_manifest(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """The manifest is stored under the reference's tag with the packed digest."""
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions())
    await push_packed(
        client, parse_reference(f"{registry.host}/m/tiny:v1"), packed, chunk_bytes=10_000
    )
    assert registry.tags["m/tiny"]["v1"] == packed.digest
