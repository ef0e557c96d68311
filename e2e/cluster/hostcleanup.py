"""Undo what a real node leaves on the host: mounts under its folder, its cgroups."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")


def mounts_under(folder: Path) -> list[str]:
    prefix = str(folder.resolve())
    mounts = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    return [m for m in mounts if m == prefix or m.startswith(prefix + "/")]


def unmount_under(folder: Path) -> None:
    """Lazily unmount everything mounted at or below `folder`, deepest first."""
    for _ in range(3):
        ours = mounts_under(folder)
        if not ours:
            return
        for mount in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)


def make_cgroup_root(root: str) -> None:
    """The kubelet wants --cgroup-root to exist in every hierarchy; cpuset needs values."""
    for controller in CGROUP_FS.iterdir():
        if not (controller / "cgroup.procs").exists():
            continue
        path = controller / root.lstrip("/")
        path.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (path / name).exists() and not (path / name).read_text().strip():
                (path / name).write_text((controller / name).read_text())


def kill_cgroup_tree(root: str) -> None:
    """SIGKILL every process in the cgroups under `root` (ours: a unique name)."""
    for controller in CGROUP_FS.iterdir():
        top = controller / root.lstrip("/")
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)


def remove_cgroup_tree(root: str) -> None:
    for controller in CGROUP_FS.iterdir():
        top = controller / root.lstrip("/")
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def remove_unless_mounted(folder: Path) -> None:
    if not mounts_under(folder):
        shutil.rmtree(folder, ignore_errors=True)
