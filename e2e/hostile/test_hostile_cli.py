"""The CLI against the hostile registry's artifacts and hostile local trees: `inspect`,
`convert`, `pack` and `hold` each exit non-zero with one clear message, no traceback,
within a time bound, and write nothing outside their own folder.

Every command runs as a real subprocess with HOME, TMPDIR and the working directory in
its own folder under the test's tmp tree; several run at once to keep the wall time low.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT
from e2e.hostile.measure import RssSampler, documented_outcomes, write_results
from e2e.hostile.registry import HostileRegistry, ServedRegistry

CONVERTED = ("oversized-config", "endless-manifest", "wrong-config-digest", "symlink")
COMMAND_DEADLINE = 60.0  # trickle: 30 s body deadline + start-up
RSS_BOUND_MIB = 300.0
SLOW = ("trickle", "redirect")


@dataclass
class Run:
    case: str
    argv: list[str]
    folder: Path
    expected_exit: int
    fragment: str
    allowed_writes: tuple[str, ...] = ()  # paths relative to the folder


def _runs(registry: HostileRegistry, root: Path) -> list[Run]:
    runs: list[Run] = []

    def folder(name: str) -> Path:
        path = root / name
        for sub in ("home", "tmp", "cwd"):
            (path / sub).mkdir(parents=True)
        return path

    for case in registry.cases:
        ref = registry.reference(case)
        expected = 0 if case == "baseline" else 1
        runs.append(
            Run(
                f"inspect {case}",
                ["inspect", "--plain-http", "--json", ref],
                folder(f"inspect-{case}"),
                expected,
                "" if expected == 0 else "error: ",
            )
        )
    for case in CONVERTED:
        ref = registry.reference(case)
        runs.append(
            Run(
                f"convert {case}",
                ["convert", "--plain-http", "--no-progress", ref],
                folder(f"convert-{case}"),
                1,
                "error: ",
            )
        )
    loop = folder("pack-symlink-loop")
    model = loop / "cwd" / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"w" * 64)
    (model / "sub" / "back").symlink_to("..")
    runs.append(
        Run(
            "pack symlink-loop",
            ["pack", "--plain-http", "--no-progress", str(model), registry.reference("pack")],
            loop,
            1,
            "symlink loop",
        )
    )
    redirect = folder("pack-redirect-loop")
    plain = redirect / "cwd" / "model"
    plain.mkdir()
    (plain / "model.safetensors").write_bytes(b"w" * 64)
    runs.append(
        Run(
            "pack redirect-loop",
            [
                "pack",
                "--plain-http",
                "--no-progress",
                str(plain),
                registry.reference("redirect-loop"),
            ],
            redirect,
            1,
            "TooManyRedirects",
        )
    )
    runs.extend(_hold_runs(folder))
    return runs


def _hold_runs(make: Callable[[str], Path]) -> list[Run]:
    runs = []
    trees = {
        "hold symlink-out": ([["model.bin", 7]], "symlinks out of the model tree"),
        "hold traversal": (
            [["../../etc/hostname", 7], ["/etc/hostname", 7]],
            "2 of 2 files missing",
        ),
        "hold malformed-list": ("{not json", "Cannot read the expected file list"),
        "hold 100k-files": (
            [[f"f{i}", 1] for i in range(100_000)],
            "100000 of 100000 files missing",
        ),
    }
    for case, (listing, fragment) in trees.items():
        base = make(case.replace(" ", "-"))
        tree = base / "cwd" / "model"
        tree.mkdir()
        (tree / "present").write_bytes(b"1")
        (base / "tmp" / "host-file").write_bytes(b"x" * 7)
        (tree / "model.bin").symlink_to(base / "tmp" / "host-file")
        expected = base / "cwd" / "expected.json"
        expected.write_text(listing if isinstance(listing, str) else json.dumps(listing))
        argv = [
            "hold",
            "--model-dir",
            str(tree),
            "--expected-files",
            str(expected),
            "--status-file",
            str(base / "cwd" / "status.json"),
            "--termination-log",
            str(base / "cwd" / "termination-log"),
        ]
        runs.append(Run(case, argv, base, 3, fragment, ("cwd/termination-log",)))
    return runs


def _tree(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


def _execute(run: Run) -> dict[str, object]:
    before = _tree(run.folder)
    env = {
        **os.environ,
        "HOME": str(run.folder / "home"),
        "TMPDIR": str(run.folder / "tmp"),
        "PYTHONPATH": str(REPO_ROOT / "operator"),
    }
    env.pop("DOCKER_CONFIG", None)
    started = time.monotonic()
    with (run.folder / "stdout").open("wb") as out, (run.folder / "stderr").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelprefetch", *run.argv],
            cwd=run.folder / "cwd",
            env=env,
            stdout=out,
            stderr=err,
        )
        # VmHWM: the child's own peak (rusage would report pytest's, kept across exec)
        with RssSampler(proc.pid, interval=0.05, status_field="VmHWM") as hwm:
            code = proc.wait(timeout=COMMAND_DEADLINE * 2)
    seconds = time.monotonic() - started
    stderr = (run.folder / "stderr").read_text(errors="replace").strip()
    written = _tree(run.folder) - before - {"stdout", "stderr"}
    return {
        "case": run.case,
        "exit": code,
        "stderr": stderr,
        "seconds": round(seconds, 1),
        "peak_rss_mib": hwm.peak(),
        "written": sorted(written),
    }


def test_cli_commands_fail_clearly_on_hostile_inputs(tmp_path: Path) -> None:
    with ServedRegistry() as registry:
        runs = _runs(registry, tmp_path)
        outside_before = _tree(tmp_path) - {p for r in runs for p in _prefixed(r, tmp_path)}
        started = time.monotonic()
        # the waits (trickle, redirect back-off) start first and overlap the rest
        slow_first = sorted(runs, key=lambda r: not any(w in r.case for w in SLOW))
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = {id(run): pool.submit(_execute, run) for run in slow_first}
            results = [futures[id(run)].result() for run in runs]
        wall = time.monotonic() - started
    outside_after = _tree(tmp_path) - {p for r in runs for p in _prefixed(r, tmp_path)}
    assert outside_after == outside_before, "a command wrote outside its folder"
    rows = []
    for run, result in zip(runs, results, strict=True):
        stderr = str(result["stderr"])
        assert result["exit"] == run.expected_exit, (run.case, result)
        assert "Traceback" not in stderr, (run.case, stderr[-2000:])
        assert run.fragment in stderr, (run.case, stderr[-500:])
        assert set(result["written"]) <= set(run.allowed_writes), (run.case, result["written"])
        assert float(result["seconds"]) < COMMAND_DEADLINE, (run.case, result)  # type: ignore[arg-type]
        assert float(result["peak_rss_mib"]) < RSS_BOUND_MIB, (run.case, result)  # type: ignore[arg-type]
        last = stderr.splitlines()[-1] if stderr else ""
        rows.append(
            {
                "case": run.case,
                "outcome": f"exit {result['exit']}",
                "message": last[:300],
                "seconds": result["seconds"],
                "peak_rss_mib": result["peak_rss_mib"],
            }
        )
    write_results("cli", rows, wall_seconds=round(wall, 1))
    seen = {row["case"]: row["outcome"] for row in rows}
    assert seen == (documented_outcomes("cli") or seen), (
        "outcomes differ from docs/security/hostile-inputs.json: run python -m e2e.hostile.report"
    )


def _prefixed(run: Run, root: Path) -> set[str]:
    prefix = run.folder.relative_to(root).as_posix()
    return {prefix} | {f"{prefix}/{p}" for p in _tree(run.folder)}
