"""What a real node holds on disk, read from the host: the runtime's store, pod logs.

containerd by default; CRI-O where `runtime` is `crio-vX.Y.Z` (e2e/cluster/crionode.py)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from e2e.cluster import crionode
from e2e.cluster.tools import runtime_tool_path, tool_path

K8S_NAMESPACE = "k8s.io"  # containerd namespace the CRI plugin uses


class NodeDisk:
    """Paths under the node's `workdir` and the views tests take of them."""

    workdir: Path
    runtime: str  # "" / "containerd-vX.Y.Z" / "crio-vX.Y.Z" (RealNode.runtime)

    @property
    def is_crio(self) -> bool:
        return crionode.is_crio(self.runtime)

    @property
    def socket(self) -> Path:
        """The CRI socket the kubelet talks to."""
        if self.is_crio:
            return crionode.crio_socket(self.workdir)
        return self.workdir / "containerd" / "containerd.sock"

    def crictl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """crictl against this node's CRI-O (crio-* runtimes only)."""
        binary = runtime_tool_path(self.runtime, "crictl")
        return crionode.crictl(binary, self.socket, *args, check=check)

    @property
    def pod_logs(self) -> Path:
        return self.workdir / "pod-logs"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(tool_path("ctr")),
                "--address",
                str(self.socket),
                "--namespace",
                K8S_NAMESPACE,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr}")
        return result

    def image_refs(self) -> set[str]:
        """Image names the runtime's CRI store holds (tags and digests)."""
        if self.is_crio:
            return crionode.image_refs(runtime_tool_path(self.runtime, "crictl"), self.socket)
        out = self.ctr("images", "ls", "-q").stdout
        return {line.strip() for line in out.splitlines() if line.strip()}

    @property
    def containerd_root(self) -> Path:
        """The runtime's root, its image filesystem (CRI-O: containers/storage's root)."""
        if self.is_crio:
            return crionode.storage_root(self.workdir)
        return self.workdir / "containerd" / "root"

    def mount_image_fs(self, size: int) -> None:
        """containerd's root (its image filesystem) on an ext4 filesystem of `size` bytes
        of its own, a loop-mounted file in `workdir` (no reserved blocks, so capacity and
        available read plainly). `stop` unmounts it (umount -l), which frees the loop
        device; `wipe` removes the file."""
        image, root = self.workdir / "imagefs.ext4", self.containerd_root
        root.mkdir(parents=True, exist_ok=True)
        with image.open("wb") as out:
            out.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, timeout=60)
        subprocess.run(["mount", "-o", "loop", str(image), str(root)], check=True, timeout=60)

    def image_fs_used(self) -> int:
        """Bytes used on the filesystem holding containerd's root (what the kubelet sees)."""
        stat = os.statvfs(self.containerd_root)
        return (stat.f_blocks - stat.f_bavail) * stat.f_frsize

    def content_bytes(self) -> int:
        """Bytes in containerd's content store (what pulls downloaded); on CRI-O the
        artifact store plus the unpacked image layers (it keeps no compressed blobs)."""
        if self.is_crio:
            root = crionode.storage_root(self.workdir)
            roots = [root / "artifacts", *(root / "overlay").glob("*/diff")]
        else:
            roots = [self.workdir / "containerd" / "root" / "io.containerd.content.v1.content"]
        return sum(p.stat().st_size for r in roots for p in r.rglob("*") if p.is_file())

    def pulled_blobs(self) -> set[str]:
        """Digests of the blobs pulls stored: containerd's content store; on CRI-O its
        artifact store (native artifacts; image layers are unpacked, not kept)."""
        if self.is_crio:
            return crionode.artifact_blobs(self.workdir)
        return set(self.ctr("content", "ls", "-q").stdout.split())

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """The container's log lines (CRI format stripped), read from the node's disk."""
        texts: list[str] = []
        for path in sorted(self.pod_logs.glob(f"{namespace}_{pod}_*/{container}/*.log")):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split(" ", 3)
                texts.append(parts[3] if len(parts) == 4 else line)
        return "\n".join(texts)

    def trust_plain_http(self, hosts: list[str]) -> None:
        """Pull from these registries over plain HTTP (a hosts.toml each, read per pull),
        for hosts the node already reaches (no relay: see RealNode.trust_registries)."""
        self._write_hosts(hosts)

    def _write_hosts(self, hosts: list[str]) -> None:
        if self.is_crio:
            crionode.trust_plain_http(crionode.crio_base(self.workdir), hosts)
            return
        for host in hosts:
            hostdir = self.workdir / "containerd" / "certs.d" / host
            hostdir.mkdir(parents=True, exist_ok=True)
            (hostdir / "hosts.toml").write_text(
                f'server = "http://{host}"\n\n[host."http://{host}"]\n'
                '  capabilities = ["pull", "resolve"]\n'
            )

    def kill_all_tasks(self) -> None:
        """SIGKILL every container task of this containerd and delete the tasks (CRI-O:
        stop and remove every pod sandbox)."""
        if self.is_crio:
            crionode.remove_all_pods(runtime_tool_path(self.runtime, "crictl"), self.socket)
            return
        tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            self.ctr("tasks", "kill", "-s", "SIGKILL", "--all", task, check=False)
        deadline = time.monotonic() + 20
        while tasks and time.monotonic() < deadline:
            out = self.ctr("tasks", "ls", check=False).stdout
            if "RUNNING" not in out and "PAUSED" not in out:
                break
            time.sleep(0.3)
        for task in tasks:
            self.ctr("tasks", "delete", "--force", task, check=False)
