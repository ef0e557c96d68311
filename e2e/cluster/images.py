"""Test images for the real node, built in Python without Docker and pushed with crane.

* pause: a 10-line C program compiled with `gcc -static` (PID 1 of every pod sandbox:
  sleeps until SIGTERM/SIGINT and reaps children on SIGCHLD). busybox `sleep` would do
  neither: as PID 1 it ignores SIGTERM (every sandbox stop would wait for SIGKILL) and
  never reaps, so a static C binary it is; it is 700 KiB and compiles in a second.
* busybox: Debian's busybox-static plus one symlink per applet (sh, ls, find,
  sha256sum, ...): the workload that lists and checksums the mounted model.

The project's own image (operator and holder pods) is not assembled here: it is built
from the Dockerfile by hack/image.sh (`make image`), see e2e/cluster/project_image.py.

Every image is an OCI layout cached under ~/.cache/modelprefetch/images/<name>-<key>,
where key hashes the inputs (paths, sizes, mtimes), so reruns only push.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from e2e.cluster.tools import tool_path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "modelprefetch" / "images"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
PAUSE_SOURCE = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
static void quit(int sig) { (void)sig; _exit(0); }
int main(void) {
    signal(SIGINT, quit); signal(SIGTERM, quit); signal(SIGCHLD, reap);
    for (;;) pause();
}
"""
BUSYBOX = Path("/usr/bin/busybox")


@dataclass(frozen=True)
class Entry:
    """One thing in a layer: a file copied from `source`, a symlink, a dir or inline data."""

    path: str  # inside the image, no leading slash
    source: Path | None = None
    link: str | None = None
    data: bytes | None = None
    mode: int | None = None

    def key(self) -> str:
        if self.source is not None:
            st = self.source.stat()
            return f"{self.path}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode:o}"
        if self.data is not None:
            return f"{self.path}:{hashlib.sha256(self.data).hexdigest()}"
        return f"{self.path}:{self.link}:{self.mode}"


@dataclass(frozen=True)
class BuiltImage:
    name: str
    layout: Path
    seconds: float  # build time (0 when it came from the cache)
    cached: bool


def _dirs_of(paths: Iterable[str]) -> list[str]:
    dirs: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def _write_layer(entries: list[Entry], out: Path) -> tuple[str, int]:
    """A deterministic uncompressed tar of `entries` (parents added); returns sha256, size."""
    explicit = {e.path for e in entries}
    ordered = [Entry(d, mode=0o755) for d in _dirs_of(explicit) if d not in explicit]
    ordered += sorted(entries, key=lambda e: e.path)
    hasher = hashlib.sha256()
    with out.open("wb") as raw:

        class Tee(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                hasher.update(b)
                raw.write(b)
                return len(b)

        with tarfile.open(fileobj=Tee(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for e in ordered:
                info = tarfile.TarInfo(e.path)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if e.link is not None:
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.link, 0o777
                    tar.addfile(info)
                elif e.source is not None:
                    st = e.source.stat()
                    info.size, info.mtime = st.st_size, int(st.st_mtime)
                    info.mode = (
                        e.mode if e.mode is not None else (0o755 if st.st_mode & 0o111 else 0o644)
                    )
                    with e.source.open("rb") as fh:
                        tar.addfile(info, fh)
                elif e.data is not None:
                    info.size, info.mode = len(e.data), e.mode or 0o644
                    tar.addfile(info, io.BytesIO(e.data))
                else:
                    info.type, info.mode = tarfile.DIRTYPE, e.mode or 0o755
                    tar.addfile(info)
    return hasher.hexdigest(), out.stat().st_size


def build(
    name: str,
    entries: list[Entry],
    *,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    env: list[str] | None = None,
    user: str = "",
    workdir: str = "/",
) -> BuiltImage:
    """Build (or reuse) a one-layer linux/amd64 image as an OCI layout."""
    started = time.monotonic()
    inputs = json.dumps(
        [sorted(e.key() for e in entries), entrypoint, cmd, env, user, workdir]
    ).encode()
    key = hashlib.sha256(inputs).hexdigest()[:16]
    layout = CACHE / f"{name}-{key}"
    if (layout / "index.json").exists():
        return BuiltImage(name, layout, 0.0, True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer_tmp = tmp / "layer.tar"
    layer_digest, layer_size = _write_layer(entries, layer_tmp)
    layer_tmp.rename(blobs / layer_digest)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            k: v
            for k, v in {
                "Entrypoint": entrypoint,
                "Cmd": cmd,
                "Env": env or ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "User": user or None,
                "WorkingDir": workdir,
            }.items()
            if v
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _blob(
            blobs, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"
        ),
        "layers": [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": f"sha256:{layer_digest}", "size": layer_size}
        ],
    }
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            _blob(
                blobs, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json"
            )
        ],
    }
    (tmp / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp / "index.json").write_text(json.dumps(index))
    if layout.exists():
        shutil.rmtree(layout)
    tmp.rename(layout)
    for old in CACHE.glob(f"{name}-*"):  # older builds of this image: sources changed since
        if old != layout and len(old.name) == len(layout.name):
            shutil.rmtree(old, ignore_errors=True)
    return BuiltImage(name, layout, time.monotonic() - started, False)


def _blob(blobs: Path, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def push(image: BuiltImage, reference: str) -> str:
    """Push the layout to `reference` over plain HTTP; returns the manifest digest."""
    subprocess.run(
        [str(tool_path("crane")), "push", "--insecure", str(image.layout), reference],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    index = json.loads((image.layout / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


# The two images --------------------------------------------------------------------------


def pause_image() -> BuiltImage:
    """A static pause binary as /pause."""
    binary = CACHE / "pause-bin" / hashlib.sha256(PAUSE_SOURCE.encode()).hexdigest()[:16]
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        src = binary.with_suffix(".c")
        src.write_text(PAUSE_SOURCE)
        subprocess.run(
            ["gcc", "-static", "-Os", "-s", "-o", str(binary), str(src)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return build(
        "pause",
        [Entry("pause", source=binary, mode=0o755)],
        entrypoint=["/pause"],
        user="65535:65535",
    )


def busybox_image() -> BuiltImage:
    """busybox-static with its applets linked under /bin."""
    if not BUSYBOX.exists():
        raise FileNotFoundError("busybox-static is not installed (Debian package busybox-static)")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    entries = [Entry("bin/busybox", source=BUSYBOX, mode=0o755)]
    entries += [Entry(f"bin/{a}", link="busybox") for a in applets if a != "busybox"]
    entries += [Entry("tmp", mode=0o1777)]
    return build("busybox", entries, cmd=["sh"], env=["PATH=/bin"])


def main() -> int:
    """`python -m e2e.cluster.images [REGISTRY_HOST]`: build both, print timings."""
    for fn in (pause_image, busybox_image):
        image = fn()
        blobs = image.layout / "blobs" / "sha256"
        size = sum(p.stat().st_size for p in blobs.iterdir())
        state = "cached" if image.cached else f"built in {image.seconds:.1f}s"
        print(f"{image.name:8} {size / 2**20:7.1f} MiB  {state}  {image.layout}")
        if len(sys.argv) > 1:
            digest = push(image, f"{sys.argv[1]}/e2e/{image.name}:latest")
            print(f"         pushed {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
