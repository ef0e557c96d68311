"""`python -m e2e.cluster up --real-nodes 2` then `down` (what `make cluster-up
REAL_NODES=2` / `make cluster-down` run), in a folder of its own: after `down` no
namespace, link, route, iptables rule, mount, cgroup or process of that cluster is left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from e2e.cluster import netns
from e2e.cluster.tools import REPO_ROOT

pytestmark = pytest.mark.realnode


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELPREFETCH_CLUSTER_DIR": str(root)}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "e2e.cluster", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cluster_up_two_real_nodes_then_down_leaves_nothing() -> None:
    root = Path(tempfile.mkdtemp(prefix="mpf-up-", dir="/tmp"))
    host_links_before = _link_names()
    host_rules_before = _host_rules()
    runtime_paths_before = _runtime_default_paths()
    started = time.monotonic()
    up = _cli(root, "up", "--nodes", "0", "--real-nodes", "2")
    up_seconds = time.monotonic() - started
    state = json.loads((root / "state.json").read_text()) if up.returncode == 0 else {}
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        nodes = state["realNodes"]
        assert [n["name"] for n in nodes] == ["realnode-1", "realnode-2"]
        kubeconfig = state["kubeconfig"]
        out = subprocess.run(
            [_kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        ready = {
            n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}
            for n in json.loads(out.stdout)["items"]
        }
        assert {k: v["Ready"] for k, v in ready.items()} == {
            "realnode-1": "True",
            "realnode-2": "True",
        }
        suffix = state["network"]["suffix"]
        assert sorted(p.name for p in Path("/run/netns").glob(f"mpf{suffix}-*")) == [
            f"mpf{suffix}-lan",
            f"mpf{suffix}-n1",
            f"mpf{suffix}-n2",
        ]
        status = _cli(root, "status")
        assert status.returncode == 0, status.stdout
        assert "kube-proxy" in status.stdout and "relay-lan" in status.stdout
    finally:
        down_started = time.monotonic()
        down = _cli(root, "down")
        down_seconds = time.monotonic() - down_started
    print(f"\ncluster up (2 real nodes) {up_seconds:.1f}s, down {down_seconds:.1f}s")
    assert down.returncode == 0, down.stderr[-3000:]
    suffix = state["network"]["suffix"]
    resolved = str(root.resolve())
    assert not list(Path("/run/netns").glob(f"mpf{suffix}-*"))
    assert resolved not in Path("/proc/self/mountinfo").read_text()
    assert netns.tagged_pids(resolved) == []
    for node in state["realNodes"]:
        cgroup = f"mpfe2e-{node['suffix']}"
        assert not list(Path("/sys/fs/cgroup").glob(f"*/{cgroup}"))
    assert _link_names() - host_links_before == set()
    # kube-proxy and the kubelets programmed only their own namespaces' tables.
    assert _host_rules() - host_rules_before == set()
    assert netns.CONTROL_PLANE_IP not in netns.run("iptables-save").stdout
    assert "10.244." not in netns.run("ip", "route").stdout
    assert sorted(p.name for p in root.iterdir()) == ["logs"]
    assert _runtime_default_paths() == runtime_paths_before
    shutil.rmtree(root)


# Where CRI-O writes by default; a CRI-O node (MODELPREFETCH_NODE_RUNTIME=crio-...) keeps
# all of it under its folder. (/run/containerd, /run/runc and containers/storage's default
# roots are shared with other tools on the machine: not compared.)
RUNTIME_DEFAULT_PATHS = ("/var/lib/crio", "/var/run/crio", "/etc/crio", "/var/log/crio")


def _runtime_default_paths() -> dict[str, list[str]]:
    return {
        path: sorted(p.name for p in Path(path).iterdir())
        for path in RUNTIME_DEFAULT_PATHS
        if Path(path).is_dir()
    }


def _link_names() -> set[str]:
    out = netns.run("ip", "-o", "link", "show").stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}


def _host_rules() -> set[str]:
    """The host namespace's iptables rules and chains, without counters and comments."""
    out = netns.run("iptables-save").stdout
    return {line.split(" [")[0] for line in out.splitlines() if not line.startswith("#")}


def _kubectl() -> str:
    from e2e.cluster.tools import tool_path

    return str(tool_path("kubectl"))
