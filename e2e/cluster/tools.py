"""Where the binaries built by build.sh live, and small process helpers."""

from __future__ import annotations

import functools
import os
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


# Another Kubernetes release for the control plane, the real nodes' kubelet and kube-proxy,
# and kubectl: "" is bin_dir()'s (build.sh's default); else "v1.X.Y", built by
# `build.sh --kubernetes v1.X.Y` into its own cache folder (etcd, kwok & co stay the default's).
KUBERNETES_VERSION_ENV = "MODELPREFETCH_KUBERNETES_VERSION"
KUBERNETES_BINARIES = frozenset(
    {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "kubelet",
        "kube-proxy",
    }
)


def kubernetes_version() -> str:
    """The Kubernetes release asked for by MODELPREFETCH_KUBERNETES_VERSION ("" = default)."""
    version = os.environ.get(KUBERNETES_VERSION_ENV, "").strip()
    if version and not version.startswith("v"):
        version = f"v{version}"
    return version


@functools.cache
def kubernetes_bin_dir(version: str) -> Path:
    """The cache folder holding Kubernetes `version`'s binaries (build.sh validates it)."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--kubernetes", version, "--print-dir"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise ValueError(f"{KUBERNETES_VERSION_ENV}={version}: {out.stderr.strip()}")
    return Path(out.stdout.strip())


def tool_path(name: str) -> Path:
    """A binary from the build cache, else from PATH; raises if neither has it. The
    Kubernetes binaries come from MODELPREFETCH_KUBERNETES_VERSION's build when it is set."""
    version = kubernetes_version()
    if version and name in KUBERNETES_BINARIES:
        built = kubernetes_bin_dir(version) / name
        if built.is_file():
            return built
        raise FileNotFoundError(
            f"{name} of Kubernetes {version} not built:"
            f" run `bash e2e/cluster/build.sh --kubernetes {version}`"
        )
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


# A real node's container runtime: "" is the default containerd of bin_dir(); else
# "containerd-vX.Y.Z", built by `build.sh --runtime NAME` into its own cache folder.
NODE_RUNTIME_ENV = "MODELPREFETCH_NODE_RUNTIME"


NODE_IMAGE_FS_ENV = "MODELPREFETCH_NODE_IMAGE_FS_GIB"
DEFAULT_NODE_IMAGE_FS_GIB = 10.0


def default_image_fs_bytes() -> int:
    """The size of the image filesystem each real node gets unless told otherwise (env
    MODELPREFETCH_NODE_IMAGE_FS_GIB; 0 = the host's own filesystem).

    A node of its own filesystem is a machine of its own: the operator's capacity check
    reads the kubelet's imagefs figures, and on the host's filesystem those are the
    build machine's (a CI disk 80% full made every in-cluster prefetch wait with
    InsufficientStorage). A sparse file: the host pays only for what nodes pull."""
    raw = os.environ.get(NODE_IMAGE_FS_ENV, "")
    try:
        gib = float(raw) if raw else DEFAULT_NODE_IMAGE_FS_GIB
    except ValueError:
        raise ValueError(f"{NODE_IMAGE_FS_ENV}={raw!r}: expected a size in GiB, e.g. 10") from None
    if gib < 0:
        raise ValueError(f"{NODE_IMAGE_FS_ENV}={raw!r}: must be >= 0")
    return int(gib * 1024**3)


def default_node_runtime() -> str:
    """The runtime new real nodes get unless told otherwise (env MODELPREFETCH_NODE_RUNTIME)."""
    return os.environ.get(NODE_RUNTIME_ENV, "")


@functools.cache
def runtime_bin_dir(runtime: str) -> Path:
    """The cache folder holding `runtime`'s binaries ("" -> bin_dir())."""
    if not runtime:
        return bin_dir()
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--runtime", runtime, "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def runtime_tool_path(runtime: str, name: str) -> Path:
    """A runtime binary (containerd, its shim, ctr) of `runtime`; raises if not built."""
    if not runtime:
        return tool_path(name)
    cached = runtime_bin_dir(runtime) / name
    if cached.is_file():
        return cached
    raise FileNotFoundError(
        f"{name} of {runtime} not built: run `bash e2e/cluster/build.sh --runtime {runtime}`"
    )
