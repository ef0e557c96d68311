"""Interop with modctl (built by e2e/oci/build_modctl.sh: CloudNativeAI/modctl v0.0.5,
the legacy vnd.cnai generation): it pulls what we pack, we convert what it builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.oci.modeldir import make_model_dir

from e2e.cluster.registries import LocalRegistry, Registries
from e2e.cluster.tools import tool_path
from e2e.oci.helpers import client_for, files_under, modelprefetch, unique_repo
from e2e.oci.test_oci_tools_interop import _crane_export
from modelprefetch.oci.artifact import LayerFormat
from modelprefetch.oci.resolve import resolve

REGISTRIES = ["distribution", "crane"]  # modctl v0.0.5 keeps credentials in its own store


def _modctl(tmp_path: Path, *args: str, cwd: Path | None = None) -> None:
    state = tmp_path / "modctl-state"
    argv = [str(tool_path("modctl")), "--storage-dir", str(state), "--log-dir", str(state / "logs")]
    done = subprocess.run(
        [*argv, "--no-progress", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )
    assert done.returncode == 0, done.stderr + done.stdout


def _modctl_build(tmp_path: Path, model: Path, reference: str, *, raw: bool) -> None:
    _modctl(tmp_path, "modelfile", "generate", "--name", "tiny", ".", cwd=model)
    build = ["build", "--output-remote", "--plain-http", "-t", reference, "."]
    _modctl(tmp_path, *build, *(["--raw"] if raw else []), cwd=model)
    (model / "Modelfile").unlink()


def _registry(registries: Registries, name: str) -> LocalRegistry:
    return getattr(registries, name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", REGISTRIES)
@pytest.mark.parametrize("raw", [False, True], ids=["tar", "raw"])
def test_modctl_pulls_what_we_pack(
    registries: Registries, tmp_path: Path, name: str, raw: bool
) -> None:
    """modctl pull --extract-dir of our ModelPack gives back the model directory."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = make_model_dir(tmp_path / "m")
    modelprefetch(registry, tmp_path, "pack", str(model), reference, *(["--raw"] if raw else []))
    out = tmp_path / "extracted"
    _modctl(tmp_path, "pull", "--plain-http", "--extract-dir", str(out), reference)
    assert files_under(out) == files_under(model)


@pytest.mark.parametrize("name", REGISTRIES)
@pytest.mark.parametrize("raw", [False, True], ids=["tar", "raw"])
async def test_we_convert_what_modctl_builds(
    registries: Registries, tmp_path: Path, name: str, raw: bool
) -> None:
    """convert publishes an image whose files are the model modctl packed."""
    registry = _registry(registries, name)
    reference = f"{registry.host}/{unique_repo()}:v1"
    model = make_model_dir(tmp_path / "m")
    _modctl_build(tmp_path, model, reference, raw=raw)
    async with client_for(registry) as client:
        artifact = await resolve(client, reference)
    converted = modelprefetch(registry, tmp_path, "convert", reference)
    assert (artifact.generation, artifact.layer_format) == (
        "v0.0.6-cnai",
        LayerFormat.RAW if raw else LayerFormat.TAR,
    )
    assert _crane_export(registry, tmp_path, str(converted["derivedImage"])) == files_under(model)
