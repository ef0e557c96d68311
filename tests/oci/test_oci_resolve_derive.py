"""resolve() and ensure_derived_image() against the fake registry, with and without
the referrers API."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from tests.oci.fakeregistry import FakeRegistry
from tests.oci.modeldir import make_model_dir

from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.mount import decide_mount, parse_runtime
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.referrers import fallback_tag
from modelprefetch.oci.resolve import resolve


async def _push(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, *, raw: bool
) -> str:
    reference = f"{registry.host}/m/tiny:v1"
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions(name="tiny", raw=raw))
    await push_packed(client, parse_reference(reference), packed)
    return reference


async def test_resolve_reports_model_metadata(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """A packed model resolves with its metadata, files and pinned reference."""
    reference = await _push(tmp_path, registry, client, raw=False)
    artifact = await resolve(client, reference)
    assert (
        artifact.kind,
        artifact.layer_format,
        artifact.name,
        artifact.family,
        artifact.format,
        artifact.pinned_reference,
        [f.path for f in artifact.files],
    ) == (
        ArtifactKind.MODELPACK,
        LayerFormat.TAR,
        "tiny",
        "llama",
        "safetensors",
        f"{registry.host}/m/tiny@{registry.tags['m/tiny']['v1']}",
        ["README.md", "config.json", "model.safetensors", "tokenizer/tokenizer.json"],
    )


async def test_resolve_sums_layer_sizes(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """size_bytes is what a node downloads: the sum of the layer sizes."""
    reference = await _push(tmp_path, registry, client, raw=True)
    artifact = await resolve(client, reference)
    assert artifact.size_bytes == sum(f.size for f in artifact.files)


@pytest.mark.parametrize("referrers_api", [True, False])
async def test_tar_derivation_uploads_only_two_small_blobs(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, referrers_api: bool
) -> None:
    """Deriving from tar layers uploads the image config only and reuses layer blobs."""
    registry.referrers_api = referrers_api
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    uploads_before = registry.count("PUT", "/blobs/uploads/")
    derived = await ensure_derived_image(client, artifact)
    manifest = json.loads(registry.manifests["m/tiny"][derived.split("@")[1]][1])
    assert registry.count("PUT", "/blobs/uploads/") - uploads_before == 1
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer.digest for layer in artifact.layers
    ]


@pytest.mark.parametrize("referrers_api", [True, False])
async def test_derived_image_is_found_by_resolve(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, referrers_api: bool
) -> None:
    """After publishing, resolve() reports the derived image (API or tag fallback)."""
    registry.referrers_api = referrers_api
    reference = await _push(tmp_path, registry, client, raw=False)
    derived = await ensure_derived_image(client, await resolve(client, reference))
    assert (await resolve(client, reference)).derived_image == derived


async def test_fallback_index_is_written_without_referrers_api(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """Without the referrers API the derived image is listed under the sha256-<hex> tag."""
    registry.referrers_api = False
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    derived = await ensure_derived_image(client, artifact)
    index_digest = registry.tags["m/tiny"][fallback_tag(artifact.digest)]
    index = json.loads(registry.manifests["m/tiny"][index_digest][1])
    assert [m["digest"] for m in index["manifests"]] == [derived.split("@")[1]]


async def test_derivation_is_idempotent(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """A second ensure_derived_image returns the same reference and uploads nothing."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=True))
    first = await ensure_derived_image(client, artifact)
    posts = registry.count("POST", "/blobs/uploads/")
    second = await ensure_derived_image(client, artifact)
    assert (second, registry.count("POST", "/blobs/uploads/")) == (first, posts)


async def test_raw_layers_are_wrapped_into_tar_layers(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """Each raw layer becomes a tar layer holding the file at its path."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=True))
    derived = await ensure_derived_image(client, artifact)
    manifest = json.loads(registry.manifests["m/tiny"][derived.split("@")[1]][1])
    config = json.loads(registry.blobs[manifest["config"]["digest"]])
    weights = manifest["layers"][2]
    with tarfile.open(fileobj=io.BytesIO(registry.blobs[weights["digest"]])) as archive:
        content = archive.extractfile("model.safetensors").read()  # type: ignore[union-attr]
    assert content == (tmp_path / "model.safetensors").read_bytes()
    assert (weights["mediaType"], config["rootfs"]["diff_ids"][2]) == (
        mt.OCI_LAYER_TAR,
        weights["digest"],
    )


async def test_derived_image_resolves_as_oci_image(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """The derived image is an OCI image with the platform in its config."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    image = await resolve(client, await ensure_derived_image(client, artifact))
    assert (image.kind, image.derived_image) == (ArtifactKind.OCI_IMAGE, None)


async def test_oci_image_is_its_own_mountable_image(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """ensure_derived_image of an OCI image returns the image itself."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    image = await resolve(client, await ensure_derived_image(client, artifact))
    assert await ensure_derived_image(client, image) == image.pinned_reference


async def test_foreign_referrers_are_ignored(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """A signature-like referrer of the model is not mistaken for the derived image."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    empty = registry.put_blob("m/tiny", b"{}")
    registry.put_manifest(
        "m/tiny",
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": mt.OCI_EMPTY, "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": mt.OCI_MANIFEST, "digest": artifact.digest, "size": 1},
        },
    )
    assert (await resolve(client, artifact.reference)).derived_image is None


async def test_silent_referrers_api_gets_no_fallback_tag(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """A registry with the referrers API but no OCI-Subject header gets no sha256-<hex> tag."""
    registry.subject_header = False
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=False))
    await ensure_derived_image(client, artifact)
    assert fallback_tag(artifact.digest) not in registry.tags["m/tiny"]


async def test_our_raw_pack_is_mounted_natively_only_where_its_naming_was_observed(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    """Our raw layers carry three naming annotations. CRI-O 1.35.2 under a kubelet was
    seen to mount every file under its path (docs/compatibility.md): the ModelPack itself.
    Nothing at or below CRI-O 1.33 was observed: the derived image, not a guess."""
    artifact = await resolve(client, await _push(tmp_path, registry, client, raw=True))
    native = decide_mount(artifact, parse_runtime("cri-o://1.35.2"))
    assert (native.needs_derivation, native.reference) == (False, artifact.pinned_reference)
    older = decide_mount(artifact, parse_runtime("cri-o://1.33.2"))
    assert (older.needs_derivation, older.reference) == (True, None)


async def test_docker_model_raw_gguf_is_derived(
    registry: FakeRegistry, client: RegistryClient
) -> None:
    """A Docker model's unannotated GGUF layer becomes model.gguf in the derived image."""
    gguf = b"GGUF" + bytes(1000)
    layer = registry.put_blob("ai/smollm", gguf)
    config = json.dumps(
        {"config": {"format": "gguf"}, "rootfs": {"type": "layers", "diff_ids": [layer]}}
    ).encode()
    config_digest = registry.put_blob("ai/smollm", config)
    registry.put_manifest(
        "ai/smollm",
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.DOCKER_AI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.ai.gguf.v3",
                    "digest": layer,
                    "size": len(gguf),
                }
            ],
        },
        "latest",
    )
    artifact = await resolve(client, f"{registry.host}/ai/smollm")
    derived = await ensure_derived_image(client, artifact)
    manifest = json.loads(registry.manifests["ai/smollm"][derived.split("@")[1]][1])
    with tarfile.open(
        fileobj=io.BytesIO(registry.blobs[manifest["layers"][0]["digest"]])
    ) as archive:
        assert archive.extractfile("model.gguf").read() == gguf  # type: ignore[union-attr]
    assert artifact.kind is ArtifactKind.DOCKER_MODEL
