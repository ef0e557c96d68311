"""`make demo` keeps working: the script runs as a user would, in its own folders."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT, free_port


def test_demo_reaches_ready_and_mounts_the_model(tmp_path: Path) -> None:
    """hack/demo.sh: helm install, pack, ModelDeployment Ready 3/3, a pod gets the model."""
    env = {
        **os.environ,
        "MODELPREFETCH_CLUSTER_DIR": str(tmp_path / "cluster"),
        "MODELPREFETCH_DEMO_DIR": str(tmp_path / "demo"),
        "DEMO_HEALTH_PORT": str(free_port()),
        "DEMO_METRICS_PORT": str(free_port()),
    }
    try:
        run = subprocess.run(
            ["bash", "hack/demo.sh"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "3/3     Ready" in run.stdout
        assert '"reference":"' in run.stdout and "@sha256:" in run.stdout
        assert 'imagePullSecrets: [{"name":"registry-credentials"}]' in run.stdout
    finally:
        pid_file = tmp_path / "demo" / "operator.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        subprocess.run(
            [str(REPO_ROOT / ".venv/bin/python"), "-m", "e2e.cluster", "down"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
