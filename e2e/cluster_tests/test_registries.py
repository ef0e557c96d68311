"""Both local registries store and serve OCI artifacts; only crane's has referrers."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e.cluster.registries import LocalRegistry, Registries
from e2e.cluster.tools import tool_path

ARTIFACT_TYPE = "application/vnd.modelprefetch.test.v1+json"


def _oras(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(
        [str(tool_path("oras")), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _auth_args(reg: LocalRegistry) -> list[str]:
    args = ["--plain-http"]
    if reg.username:
        args += ["--username", reg.username, "--password", reg.password or ""]
    return args


@pytest.fixture(params=["distribution", "distribution_auth", "crane"])
def registry(request: pytest.FixtureRequest, registries: Registries) -> LocalRegistry:
    return getattr(registries, request.param)  # type: ignore[no-any-return]


def test_artifact_round_trip_with_oras_and_crane(registry: LocalRegistry, tmp_path: Path) -> None:
    """An artifact with a custom artifactType pushed with oras reads back with oras and crane."""
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01" * 4096)
    ref = f"{registry.host}/test/artifact:v1"
    _oras(
        "push",
        *_auth_args(registry),
        "--artifact-type",
        ARTIFACT_TYPE,
        ref,
        "weights.bin:application/vnd.modelprefetch.test.layer",
        cwd=tmp_path,
    )
    manifest = json.loads(_oras("manifest", "fetch", *_auth_args(registry), ref))
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["layers"][0]["size"] == 8192
    crane = [str(tool_path("crane")), "manifest", "--insecure", ref]
    env = None
    if registry.username:
        # crane reads credentials from a docker config; give it one of its own.
        cfg = tmp_path / "docker"
        cfg.mkdir()
        subprocess.run(
            [
                str(tool_path("crane")),
                "auth",
                "login",
                registry.host,
                "-u",
                registry.username,
                "-p",
                registry.password or "",
                "--insecure",
            ],
            check=True,
            capture_output=True,
            env={"DOCKER_CONFIG": str(cfg)},
        )
        env = {"DOCKER_CONFIG": str(cfg)}
    out = subprocess.run(crane, capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == manifest
    pulled = tmp_path / "pulled"
    _oras("pull", *_auth_args(registry), "-o", str(pulled), ref)
    assert (pulled / "weights.bin").read_bytes() == b"\x00\x01" * 4096


def _referrers_status(registry: LocalRegistry, digest: str) -> int:
    url = f"{registry.url}/v2/test/artifact/referrers/{digest}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_referrers_api_only_on_crane(registries: Registries, tmp_path: Path) -> None:
    """GET /v2/<repo>/referrers/<digest> answers 200 on crane, 404 on distribution 2.8."""
    (tmp_path / "f").write_bytes(b"x")
    statuses = {}
    for reg in (registries.crane, registries.distribution):
        ref = f"{reg.host}/test/artifact:ref"
        _oras("push", "--plain-http", "--artifact-type", ARTIFACT_TYPE, ref, "f", cwd=tmp_path)
        digest = _oras("resolve", "--plain-http", ref).strip()
        statuses[reg.name] = _referrers_status(reg, digest)
    assert statuses == {"crane": 200, "distribution": 404}
