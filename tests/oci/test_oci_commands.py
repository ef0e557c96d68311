"""The pack, inspect and convert commands end to end against the fake registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.oci.fakeregistry import FakeRegistry, ThreadedFakeRegistry
from tests.oci.modeldir import make_model_dir

from modelprefetch.cli import main


@pytest.fixture
def served() -> Iterator[FakeRegistry]:
    with ThreadedFakeRegistry(FakeRegistry()) as fake:
        yield fake


def _json_output(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)  # type: ignore[no-any-return]


def _ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def test_pack_prints_digest_and_derived_image(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """pack --json reports the pinned reference and the published derived image."""
    result = _json_output(
        capsys,
        [
            "pack",
            str(make_model_dir(tmp_path)),
            f"{served.host}/m/tiny:v1",
            "--plain-http",
            "--json",
        ],
    )
    assert str(result["derivedImage"]).startswith(f"{served.host}/m/tiny@sha256:")
    assert result["pinned"] == f"{served.host}/m/tiny@{served.tags['m/tiny']['v1']}"


def test_pack_without_derive_publishes_no_referrer(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-derive pushes only the ModelPack."""
    result = _json_output(
        capsys,
        [
            "pack",
            str(make_model_dir(tmp_path)),
            f"{served.host}/m/t:v1",
            "--plain-http",
            "--json",
            "--no-derive",
        ],
    )
    assert (result["derivedImage"], len(served.manifests["m/t"])) == (None, 1)


def test_inspect_json_has_metadata_and_mountability(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect --json shows model fields and one decision per asked runtime."""
    reference = f"{served.host}/m/tiny:v1"
    _ok(
        capsys,
        ["pack", str(make_model_dir(tmp_path)), reference, "--plain-http", "--raw", "--no-derive"],
    )
    result = _json_output(
        capsys, ["inspect", reference, "--plain-http", "--json", "--runtime", "containerd://2.2.1"]
    )
    assert (result["family"], result["layer_format"], result["mountability"][0]["reason"]) == (  # type: ignore[index]
        "llama",
        "raw",
        "NeedsDerivedImage",
    )


def test_inspect_table_names_the_model(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """The human output lists the layers' paths and the mountability table."""
    reference = f"{served.host}/m/tiny:v1"
    _ok(
        capsys, ["pack", str(make_model_dir(tmp_path)), reference, "--plain-http", "--name", "tiny"]
    )
    assert main(["inspect", reference, "--plain-http"]) == 0
    out = capsys.readouterr().out
    assert "model.safetensors" in out and "Mountability" in out and "cri-o://1.35.2" in out


def test_convert_publishes_then_reports_existing(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """convert derives once; a second run finds the same image."""
    reference = f"{served.host}/m/tiny:v1"
    _ok(
        capsys,
        ["pack", str(make_model_dir(tmp_path)), reference, "--plain-http", "--raw", "--no-derive"],
    )
    first = _json_output(capsys, ["convert", reference, "--plain-http", "--json"])
    second = _json_output(capsys, ["convert", reference, "--plain-http", "--json"])
    assert (first["alreadyPublished"], second["alreadyPublished"], second["derivedImage"]) == (
        False,
        True,
        first["derivedImage"],
    )


def test_missing_reference_exits_non_zero(
    served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown tag is reported as an error message, exit code 1."""
    assert main(["inspect", f"{served.host}/m/none:v1", "--plain-http"]) == 1
    assert "MANIFEST_UNKNOWN" in capsys.readouterr().err


def test_basic_auth_from_docker_config(
    tmp_path: Path, served: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials are read from a docker config file given with --docker-config."""
    served.auth = "basic"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"auths": {served.host: {"username": "alice", "password": "s3cret"}}})
    )
    model = make_model_dir(tmp_path / "model")
    argv = [
        "pack",
        str(model),
        f"{served.host}/m/tiny:v1",
        "--plain-http",
        "--docker-config",
        str(config),
    ]
    assert main(argv) == 0
