"""Where the binaries built by build.sh live, and small process helpers."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "e2e" / "cluster" / "build.sh"


@functools.cache
def bin_dir() -> Path:
    """The versioned cache folder build.sh fills (it does not build anything here)."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-dir"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def tool_path(name: str) -> Path:
    """A binary from the build cache, else from PATH; raises if neither has it."""
    cached = bin_dir() / name
    if cached.is_file():
        return cached
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(f"{name} not found: run `make binaries` (e2e/cluster/build.sh) first")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
