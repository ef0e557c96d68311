"""A real node's container runtime, containerd or CRI-O: what it needs on the host and
the files it reads (nodeconfig.containerd_toml, crionode.write_config)."""

from __future__ import annotations

from pathlib import Path

from e2e.cluster import crionode
from e2e.cluster.nodeconfig import CNI_DIR, RUNC, cni_conflist, containerd_toml
from e2e.cluster.tools import runtime_tool_path, tool_path


def require_binaries(runtime: str) -> None:
    """Raise, naming what to build or install, unless a node of `runtime` can start."""
    crio = crionode.is_crio(runtime)
    for binary in crionode.BINARIES if crio else ("containerd", "containerd-shim-runc-v2"):
        runtime_tool_path(runtime, binary)
    for binary in ("ctr", "kubelet", "kube-proxy"):
        tool_path(binary)
    needs = [RUNC, CNI_DIR / "bridge", CNI_DIR / "host-local", CNI_DIR / "loopback"]
    for needed in [*needs, *([crionode.CONMON] if crio else [])]:
        if not needed.exists():
            raise FileNotFoundError(
                f"{needed} missing: install Debian runc, conmon and containernetworking-plugins"
            )


def write_runtime_config(
    runtime: str, workdir: Path, index: int, socket: Path, pause_reference: str
) -> None:
    """The runtime's configuration (containerd's config.toml, or CRI-O's files) and the
    node's CNI network, under `workdir`."""
    crio = crionode.is_crio(runtime)
    base = crionode.crio_base(workdir) if crio else workdir / "containerd"
    cni_conf = base / "net.d"
    cni_conf.mkdir(parents=True, exist_ok=True)
    (cni_conf / "10-mpfe2e.conflist").write_text(cni_conflist(index, base / "cni-ipam"))
    if crio:
        pinns = runtime_tool_path(runtime, "pinns")
        crionode.write_config(base, socket, pause_reference, cni_conf, pinns)
    else:
        (base / "config.toml").write_text(containerd_toml(base, socket, pause_reference, cni_conf))
