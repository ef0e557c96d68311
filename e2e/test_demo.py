"""`make demo` keeps working: the script runs as a user would, in its own folders.

The real mode (hack/demo.sh: image built, 2 real nodes, the chart installed with the
operator in the cluster, pods reading the model) and the fast mode (`FAKE=1`,
hack/demo_fake.sh: kwok nodes, the operator as a local process)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.tools import REPO_ROOT, free_port, tool_path
from e2e.realnode.helpers import checksums, parse_checksums


def _demo(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "hack/demo.sh"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _down(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / ".venv/bin/python"), "-m", "e2e.cluster", "down"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_demo_fake_nodes_reaches_ready_and_mounts_the_model(tmp_path: Path) -> None:
    """FAKE=1: helm install, pack, ModelDeployment Ready 3/3, a pod gets the model."""
    env = {
        **os.environ,
        "FAKE": "1",
        "MODELPREFETCH_CLUSTER_DIR": str(tmp_path / "cluster"),
        "MODELPREFETCH_DEMO_DIR": str(tmp_path / "demo"),
        "DEMO_HEALTH_PORT": str(free_port()),
        "DEMO_METRICS_PORT": str(free_port()),
    }
    env.pop("KUBECONFIG", None)
    try:
        run = _demo(env, 600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "3 fake GPU nodes" in run.stdout
        assert "3/3     Ready" in run.stdout
        assert '"reference":"' in run.stdout and "@sha256:" in run.stdout
        assert 'imagePullSecrets: [{"name":"registry-credentials"}]' in run.stdout
    finally:
        pid_file = tmp_path / "demo" / "operator.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        _down(env)


@pytest.mark.realnode
@pytest.mark.timeout(1200)
def test_demo_real_nodes_operator_in_cluster_and_pods_read_the_model() -> None:
    """The default mode, checked in the cluster it leaves up: both operator replicas of
    the image `make image` printed Ready on the two real nodes, the ModelDeployment Ready
    2/2, a reader pod on each node that printed every file's right sha256; then `down`
    leaves no namespace, mount or process of it."""
    root = Path(tempfile.mkdtemp(prefix="mpf-demo-", dir="/tmp"))  # short socket paths
    env = {
        **os.environ,
        "MODELPREFETCH_CLUSTER_DIR": str(root / "cluster"),
        "MODELPREFETCH_DEMO_DIR": str(root / "demo"),
    }
    env.pop("KUBECONFIG", None)
    env.pop("FAKE", None)
    suffix = ""
    try:
        run = _demo(env, 1100)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
        state = json.loads((root / "cluster" / "state.json").read_text())
        suffix = state["network"]["suffix"]
        image = next(
            line for line in run.stdout.splitlines() if "/modelprefetch@sha256:" in line
        ).split()[-1]
        _check_cluster(Path(state["kubeconfig"]), image, root / "demo" / "model")
        assert "2 pods read all 5 files with the right sha256" in run.stdout
        assert "make demo-down" in run.stdout
    finally:
        down = _down(env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert not list(Path("/run/netns").glob(f"mpf{suffix}-*"))
    assert str(root.resolve()) not in Path("/proc/self/mountinfo").read_text()
    assert sorted(p.name for p in (root / "cluster").iterdir()) == ["logs"]
    shutil.rmtree(root)


def _check_cluster(kubeconfig: Path, image: str, model: Path) -> None:
    def get(*args: str) -> Any:
        out = subprocess.run(
            [str(tool_path("kubectl")), "--kubeconfig", str(kubeconfig), *args],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return json.loads(out.stdout) if "-o" in args else out.stdout

    operators = get("get", "pods", "-n", "modelprefetch-system", "-o", "json")["items"]
    assert len(operators) == 2
    assert {p["spec"]["nodeName"] for p in operators} == {"realnode-1", "realnode-2"}
    for pod in operators:
        assert pod["spec"]["containers"][0]["image"] == image
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["status"]
    md = get("get", "modeldeployment", "llama-3-8b", "-n", "default", "-o", "json")
    assert md["status"]["nodes"]["summary"] == "2/2"
    expected = checksums(model)
    assert len(expected) == 5
    for node in ("realnode-1", "realnode-2"):
        pod = get("get", "pod", f"reader-{node}", "-n", "default", "-o", "json")
        assert pod["spec"]["nodeName"] == node
        assert any("image" in v for v in pod["spec"]["volumes"]), "the webhook did not mutate"
        assert parse_checksums(get("logs", "-n", "default", f"reader-{node}")) == expected
