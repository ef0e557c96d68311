"""pack -> inspect -> resolve -> derive round trips on real registries: distribution 2.8
(no referrers API, with and without basic auth) and go-containerregistry (referrers API)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from tests.oci.modeldir import make_model_dir

from e2e.cluster.registries import LocalRegistry, Registries
from e2e.oci.helpers import client_for, modelprefetch, unique_repo
from modelprefetch.errors import RegistryAuthError
from modelprefetch.oci.artifact import ArtifactKind
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.referrers import fallback_tag
from modelprefetch.oci.resolve import resolve
from modelprefetch.oci.upload import BytesSource, upload_blob

# The official ModelPack config schema, vendored with its license (spec/modelpack/README.md).
SCHEMA = Path(__file__).resolve().parents[2] / "spec" / "modelpack" / "config-schema.json"
REGISTRIES = ["distribution", "distribution_auth", "crane"]


def _registry(registries: Registries, name: str) -> LocalRegistry:
    return getattr(registries, name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", REGISTRIES)
@pytest.mark.parametrize("raw", [False, True], ids=["tar", "raw"])
async def test_pack_inspect_resolve_derive(
    registries: Registries, tmp_path: Path, name: str, raw: bool
) -> None:
    """What pack pushes, inspect and resolve read back with the derived image attached."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    args = ["pack", str(make_model_dir(tmp_path / "model")), reference, "--name", "tiny"]
    packed = modelprefetch(registry, tmp_path, *args, *(["--raw"] if raw else []))
    inspected = modelprefetch(registry, tmp_path, "inspect", reference)
    async with client_for(registry) as client:
        artifact = await resolve(client, reference)
    assert (artifact.pinned_reference, artifact.derived_image) == (
        packed["pinned"],
        packed["derivedImage"],
    )
    assert (inspected["name"], inspected["family"], inspected["derived_image"]) == (
        "tiny",
        "llama",
        packed["derivedImage"],
    )


@pytest.mark.parametrize("name", REGISTRIES)
async def test_derived_image_is_an_oci_image_of_the_same_layers(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """For tar layers the derived image reuses the model's layer blobs."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference
    )
    async with client_for(registry) as client:
        model = await resolve(client, reference)
        image = await resolve(client, str(packed["derivedImage"]))
    assert (image.kind, [layer.digest for layer in image.layers]) == (
        ArtifactKind.OCI_IMAGE,
        [layer.digest for layer in model.layers],
    )


async def test_fallback_tag_is_used_without_referrers_api(
    registries: Registries, tmp_path: Path
) -> None:
    """On distribution 2.8 the derived image is listed in the sha256-<hex> index."""
    registry = registries.distribution
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference
    )
    ref = parse_reference(reference)
    async with client_for(registry) as client:
        index = await client.get_manifest(ref, fallback_tag(str(packed["digest"])))
    assert [m["digest"] for m in index.document["manifests"]] == [
        str(packed["derivedImage"]).split("@")[1]
    ]


async def test_referrers_api_is_used_when_available(registries: Registries, tmp_path: Path) -> None:
    """On the referrers-enabled registry no fallback tag is written."""
    registry = registries.crane
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference
    )
    async with client_for(registry) as client:
        exists = await client.manifest_exists(
            parse_reference(reference), fallback_tag(str(packed["digest"]))
        )
    assert exists is False


@pytest.mark.parametrize("name", REGISTRIES)
async def test_second_pack_uploads_nothing(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """Packing the same directory again is a no-op upload with the same digest."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = str(make_model_dir(tmp_path / "m"))
    first = modelprefetch(registry, tmp_path, "pack", model, reference)
    second = modelprefetch(registry, tmp_path, "pack", model, reference)
    assert (second["digest"], second["uploaded"], second["derivedImage"]) == (
        first["digest"],
        [],
        first["derivedImage"],
    )


@pytest.mark.parametrize("name", REGISTRIES)
async def test_chunked_pack(registries: Registries, tmp_path: Path, name: str) -> None:
    """Chunked uploads (PATCH with Content-Range) are accepted by every registry."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = str(make_model_dir(tmp_path / "m"))
    packed = modelprefetch(
        registry, tmp_path, "pack", model, reference, "--chunk-size", "4096", "--no-derive"
    )
    async with client_for(registry) as client:
        assert (await resolve(client, reference)).digest == packed["digest"]


async def test_config_on_the_registry_validates_against_schema(
    registries: Registries, tmp_path: Path
) -> None:
    """The config blob as stored validates against the official ModelPack schema."""
    registry = registries.crane
    reference = f"{registry.host}/{unique_repo()}:v1"
    modelprefetch(
        registry,
        tmp_path,
        "pack",
        str(make_model_dir(tmp_path / "m")),
        reference,
        "--created",
        "2025-01-01T00:00:00Z",
        "--version",
        "1.0",
    )
    async with client_for(registry) as client:
        artifact = await resolve(client, reference)
        config = await client.get_blob(parse_reference(reference), str(artifact.config_digest))
    jsonschema.validate(json.loads(config), json.loads(SCHEMA.read_text()))


async def test_wrong_password_is_an_auth_error(registries: Registries) -> None:
    """distribution with htpasswd refuses a wrong password with RegistryAuthError."""
    registry = registries.distribution_auth
    wrong = {registry.host: Credentials(username=str(registry.username), password="wrong")}
    async with RegistryClient(credentials=wrong, plain_http=True) as client:
        with pytest.raises(RegistryAuthError):
            await client.ping(registry.host)


async def test_cross_repository_mount_on_distribution(registries: Registries) -> None:
    """distribution mounts a blob from another repository instead of receiving it."""
    registry = registries.distribution
    source = BytesSource(b"mount me " * 100)
    first, second = unique_repo(), unique_repo()
    async with client_for(registry) as client:
        await upload_blob(client, parse_reference(f"{registry.host}/{first}"), source)
        sent = await upload_blob(
            client, parse_reference(f"{registry.host}/{second}"), source, mount_from=first
        )
        exists = await client.blob_exists(
            parse_reference(f"{registry.host}/{second}"), source.digest
        )
    assert (sent, exists) == (False, True)


@pytest.mark.parametrize("name", REGISTRIES)
async def test_ensure_derived_image_is_idempotent(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """Calling ensure_derived_image twice returns the same digest-pinned reference."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    modelprefetch(
        registry,
        tmp_path,
        "pack",
        str(make_model_dir(tmp_path / "m")),
        reference,
        "--raw",
        "--no-derive",
    )
    async with client_for(registry) as client:
        artifact = await resolve(client, reference)
        first = await ensure_derived_image(client, artifact)
        second = await ensure_derived_image(client, await resolve(client, reference))
    assert first == second


async def test_pack_after_losing_a_blob_uploads_only_that_blob(
    registries: Registries, tmp_path: Path
) -> None:
    """A blob missing after an interrupted run is the only one the next run sends."""
    registry = registries.distribution  # configured with storage.delete.enabled
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = str(make_model_dir(tmp_path / "m"))
    modelprefetch(registry, tmp_path, "pack", model, reference, "--no-derive")
    ref = parse_reference(reference)
    async with client_for(registry) as client:
        artifact = await resolve(client, reference)
        weights = next(layer for layer in artifact.layers if layer.path == "model.safetensors")
        path = f"/v2/{ref.repository}/blobs/{weights.digest}"
        async with client.request(
            "DELETE", ref.api_host, path, repository=ref.repository, push=True, ok=(202,)
        ):
            pass
    again = modelprefetch(registry, tmp_path, "pack", model, reference, "--no-derive")
    assert again["uploaded"] == ["model.safetensors"]
