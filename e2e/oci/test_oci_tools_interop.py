"""What we push reads back with the reference tools: oras and crane."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.oci.modeldir import make_model_dir

from e2e.cluster.registries import LocalRegistry, Registries
from e2e.cluster.tools import tool_path
from e2e.oci.helpers import docker_config, files_under, modelprefetch, tool, unique_repo
from modelprefetch.oci import mediatypes as mt

REGISTRIES = ["distribution", "distribution_auth", "crane"]


def _registry(registries: Registries, name: str) -> LocalRegistry:
    return getattr(registries, name)  # type: ignore[no-any-return]


def _crane_export(registry: LocalRegistry, config_dir: Path, reference: str) -> dict[str, bytes]:
    """The merged file tree of an image, as `crane export` flattens it."""
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config(registry, config_dir).parent)}
    done = subprocess.run(
        [str(tool_path("crane")), "export", "--insecure", reference, "-"],
        capture_output=True,
        timeout=600,
        env=env,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


@pytest.mark.parametrize("name", REGISTRIES)
def test_oras_fetches_our_manifest(registries: Registries, tmp_path: Path, name: str) -> None:
    """oras reads the ModelPack manifest with its artifactType and config type."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    modelprefetch(registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference)
    manifest = json.loads(
        tool("oras", registry, tmp_path, "manifest", "fetch", "--plain-http", reference)
    )
    assert (manifest["artifactType"], manifest["config"]["mediaType"]) == (
        mt.MODELPACK_ARTIFACT,
        mt.MODELPACK_CONFIG,
    )


@pytest.mark.parametrize("name", REGISTRIES)
def test_oras_pull_of_raw_pack_gives_the_directory(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """oras pull writes each raw layer under its path: the original directory back."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = make_model_dir(tmp_path / "m")
    modelprefetch(registry, tmp_path, "pack", str(model), reference, "--raw", "--no-derive")
    out = tmp_path / "pulled"
    tool("oras", registry, tmp_path, "pull", "--plain-http", "-o", str(out), reference)
    assert files_under(out) == files_under(model)


@pytest.mark.parametrize("name", REGISTRIES)
def test_oras_discovers_the_derived_image(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """oras discover lists the derived image as a referrer (API or tag fallback)."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference
    )
    listing = json.loads(
        tool("oras", registry, tmp_path, "discover", "--plain-http", "--format", "json", reference)
    )
    digests = [m["digest"] for m in listing.get("referrers", listing.get("manifests", []))]
    assert str(packed["derivedImage"]).split("@")[1] in digests


@pytest.mark.parametrize("name", REGISTRIES)
@pytest.mark.parametrize("raw", [False, True], ids=["tar", "raw"])
def test_crane_exports_the_model_tree_from_the_derived_image(
    registries: Registries, tmp_path: Path, name: str, raw: bool
) -> None:
    """crane export of the derived image yields exactly the packed files."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = make_model_dir(tmp_path / "m")
    packed = modelprefetch(
        registry, tmp_path, "pack", str(model), reference, *(["--raw"] if raw else [])
    )
    assert _crane_export(registry, tmp_path, str(packed["derivedImage"])) == files_under(model)


@pytest.mark.parametrize("name", REGISTRIES)
def test_crane_validates_the_derived_image(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """crane validate --fast accepts the derived image (blobs present, digests right)."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference, "--raw"
    )
    out = tool(
        "crane",
        registry,
        tmp_path,
        "validate",
        "--fast",
        "--insecure",
        "--remote",
        str(packed["derivedImage"]),
    )
    assert out.startswith("PASS")


@pytest.mark.parametrize("name", REGISTRIES)
def test_crane_reads_the_derived_image_config(
    registries: Registries, tmp_path: Path, name: str
) -> None:
    """crane config shows linux/amd64 and one diff id per model file."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    packed = modelprefetch(
        registry, tmp_path, "pack", str(make_model_dir(tmp_path / "m")), reference
    )
    config = json.loads(
        tool("crane", registry, tmp_path, "config", "--insecure", str(packed["derivedImage"]))
    )
    assert (config["os"], config["architecture"], len(config["rootfs"]["diff_ids"])) == (
        "linux",
        "amd64",
        4,
    )
