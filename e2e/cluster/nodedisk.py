"""What a real node holds on disk, read from the host: containerd's store, pod logs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e.cluster.tools import tool_path

K8S_NAMESPACE = "k8s.io"  # containerd namespace the CRI plugin uses


class NodeDisk:
    """Paths under the node's `workdir` and the views tests take of them."""

    workdir: Path

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

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
        """Image names containerd's CRI store holds (tags and digests)."""
        out = self.ctr("images", "ls", "-q").stdout
        return {line.strip() for line in out.splitlines() if line.strip()}

    def content_bytes(self) -> int:
        """Bytes in containerd's content store (what pulls downloaded)."""
        root = self.workdir / "containerd" / "root" / "io.containerd.content.v1.content"
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """The container's log lines (CRI format stripped), read from the node's disk."""
        texts: list[str] = []
        for path in sorted(self.pod_logs.glob(f"{namespace}_{pod}_*/{container}/*.log")):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split(" ", 3)
                texts.append(parts[3] if len(parts) == 4 else line)
        return "\n".join(texts)
