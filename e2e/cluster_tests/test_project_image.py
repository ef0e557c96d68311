"""The image `make image` builds from the Dockerfile, as the registry serves it to nodes.

The session's `project_image` fixture ran hack/image.sh (which also ran the image under
runc as 65532 with a read-only root before pushing it); these tests read back what was
pushed: the config a kubelet would run, every layer's files, and the cache behaviour.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from e2e.cluster.project_image import IMAGE_SCRIPT, ProjectImage
from e2e.cluster.registries import Registries

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


def _get(url: str, accept: str = "*/*") -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return response.read(), dict(response.headers)


def _manifest(registries: Registries, ref: str) -> tuple[dict[str, Any], str]:
    body, headers = _get(f"{registries.crane.url}/v2/modelprefetch/manifests/{ref}", MANIFEST_TYPES)
    return json.loads(body), headers["Docker-Content-Digest"]


def _blob(registries: Registries, digest: str) -> bytes:
    return _get(f"{registries.crane.url}/v2/modelprefetch/blobs/{digest}")[0]


def _pem_bodies(text: str) -> set[str]:
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    return {"".join(b.split(begin, 1)[1].split()) for b in text.split(end) if begin in b}


def test_pushed_image_runs_as_65532_from_the_venv(
    project_image: ProjectImage, registries: Registries
) -> None:
    """The tag and the pinned reference name the same manifest; its config is the
    Dockerfile's runtime stage: user 65532:65532, HOME and workdir /tmp, the venv on PATH."""
    manifest, digest = _manifest(registries, "e2e")
    assert digest == project_image.digest
    assert project_image.reference == f"{registries.crane.host}/modelprefetch@{digest}"
    config = json.loads(_blob(registries, manifest["config"]["digest"]))
    runtime = config["config"]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert runtime["User"] == "65532:65532"
    assert runtime["WorkingDir"] == "/tmp"
    assert runtime["Entrypoint"] == ["modelprefetch"] and runtime["Cmd"] == ["run"]
    env = dict(e.split("=", 1) for e in runtime["Env"])
    assert env["HOME"] == "/tmp" and env["PATH"].startswith("/opt/venv/bin:")
    assert runtime["Labels"]["org.opencontainers.image.title"] == "modelprefetch"
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) >= 2


def test_layers_hold_the_venv_and_no_host_ca(
    project_image: ProjectImage, registries: Registries
) -> None:
    """Every layer, unpacked: the venv with modelprefetch and byte-compiled sources is
    there, /etc/passwd maps 65532 to group 65532, and none of this host's local CA
    certificates (the bundle pip used through a read-only bind mount during the build)
    was baked into any file."""
    manifest, _ = _manifest(registries, project_image.digest)
    local = set().union(*(_pem_bodies(p.read_text()) for p in LOCAL_CA_DIR.glob("*.crt")))
    names: set[str] = set()
    leaked: list[str] = []
    passwd = ""
    for layer in manifest["layers"]:
        data = _blob(registries, layer["digest"])
        if layer["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                names.add(member.name.removeprefix("./"))
                if member.name.removeprefix("./") == "etc/passwd":  # the top layer's wins
                    passwd = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                if member.isfile() and member.name.endswith((".crt", ".pem")):
                    text = tar.extractfile(member).read().decode(errors="replace")  # type: ignore[union-attr]
                    if _pem_bodies(text) & local:
                        leaked.append(member.name)
    assert not leaked, f"local CA certificates of the build host in the image: {leaked}"
    assert "etc/ssl/certs/ca-certificates.crt" in names  # Debian's bundle, for registries
    assert "opt/venv/bin/modelprefetch" in names
    # pods without runAsGroup get their primary group from here (else gid 0)
    assert "nonroot:x:65532:65532:" in passwd
    cli = "opt/venv/lib/python3.11/site-packages/modelprefetch/cli.py"
    assert cli in names
    assert any(n.startswith(cli.rsplit("/", 1)[0] + "/__pycache__/cli.") for n in names)


def test_unchanged_inputs_only_push(project_image: ProjectImage, registries: Registries) -> None:
    """A second build with no input changed reuses the cached image: same digest, no build."""
    log = subprocess.run(
        ["bash", str(IMAGE_SCRIPT), f"{registries.crane.host}/modelprefetch:again"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "cached (no input changed)" in log.stderr
    assert log.stdout.strip() == f"{registries.crane.host}/modelprefetch@{project_image.digest}"
