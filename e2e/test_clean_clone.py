"""A fresh clone with nothing beside it passes the unit tests: the repository stands alone.

The committed HEAD is cloned into an empty temporary folder (no sibling folders, so no
`../anything` a test or doc might reach for), and the clone's own `tests/` run there with
the clone's `operator/` first on the import path. The current virtualenv is reused (only
its third-party packages; a fresh `make venv` would add minutes and test pip, not us).

It lives in e2e/, not tests/: it runs the whole unit suite a second time (about as long as
`pytest tests` itself), needs git and the binaries `make binaries` builds (the chart tests
render with helm), and inside tests/ it would run itself recursively. tests/
test_self_contained.py is the fast check of the same property on the working tree.
Uncommitted changes are not part of a clone: commit before trusting this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT

# Loaded into the clone's pytest run: records which modelprefetch that run imported.
PROBE = """
import os

def pytest_sessionfinish(session, exitstatus):
    import modelprefetch
    with open(os.environ["CLEAN_CLONE_PROBE_OUT"], "w") as out:
        out.write(modelprefetch.__file__)
"""


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_unit_tests_pass_in_a_clone_without_sibling_folders(tmp_path: Path) -> None:
    """git clone of HEAD into an empty folder; the clone's tests/ pass on the clone's code."""
    head = git("rev-parse", "HEAD")
    root = tmp_path / "root"  # holds the clone and nothing else
    clone = root / "modelprefetch"
    git("clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(clone))
    git("checkout", "--quiet", "--detach", head, cwd=clone)
    assert sorted(p.name for p in root.iterdir()) == ["modelprefetch"]
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "clean_clone_probe.py").write_text(PROBE)
    probe_out = tmp_path / "imported-from"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(clone / "operator"), str(probe_dir)]),
        "CLEAN_CLONE_PROBE_OUT": str(probe_out),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "clean_clone_probe"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    elapsed = time.monotonic() - started
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"clean clone of {head[:12]}: {summary} ({elapsed:.0f} s)")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary, summary
    imported = Path(probe_out.read_text())
    assert imported.is_relative_to(clone / "operator"), f"tests ran against {imported}"
