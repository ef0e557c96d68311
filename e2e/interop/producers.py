"""Artifacts written by today's model tools, for the interop tests (docs/interop.md).

Two kinds of producer:
- `ci`: the tool itself runs in the test. modctl v0.0.5 (e2e/oci/build_modctl.sh), and
  e2e/interop/gopack (e2e/oci/build_gopack.sh), a program of ours that packs with Docker
  Model Runner's and Ollama's own Go packaging libraries.
- `recorded`: tools that cannot be built by a clean clone (not on the Go module proxy):
  they were run once by hand and what they wrote is kept in observed_tools.json; the test
  writes an artifact of exactly that shape (media types, annotations, config fields,
  layer kinds) with our own code (e2e/interop/replay.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT, tool_path
from e2e.interop.replay import replay

Produce = Callable[[Path, str, Path], None]  # (model directory, reference, scratch dir)


@dataclass(frozen=True)
class Producer:
    id: str  # the row id in e2e/interop/interop.json
    tool: str
    version: str
    source: str  # "ci" (the tool runs in the test) or "recorded" (observed_tools.json)
    produce: Produce


def gopack_path() -> Path:
    """The gopack binary, built (once, cached) by e2e/oci/build_gopack.sh."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "e2e/oci/build_gopack.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _run(argv: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=cwd, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr[-4000:]}{done.stdout[-2000:]}"


def _modctl_v005(raw: bool) -> Produce:
    def produce(model: Path, reference: str, scratch: Path) -> None:
        state = scratch / "modctl-state"
        base = [str(tool_path("modctl")), "--storage-dir", str(state)]
        base += ["--log-dir", str(state / "logs"), "--no-progress"]
        _run([*base, "modelfile", "generate", "--name", "tiny", "."], cwd=model)
        build = ["build", "--output-remote", "--plain-http", "-t", reference, "."]
        try:
            _run([*base, *build, *(["--raw"] if raw else [])], cwd=model)
        finally:
            (model / "Modelfile").unlink()

    return produce


def _gopack(*args: str) -> Produce:
    def produce(model: Path, reference: str, scratch: Path) -> None:
        source = str(model / "model.gguf") if args[0] == "ollama" else str(model)
        _run([str(gopack_path()), *args, source, reference])

    return produce


def _recorded(name: str) -> Produce:
    def produce(model: Path, reference: str, scratch: Path) -> None:
        replay(name, model, reference)

    return produce


PRODUCERS = [
    Producer("modctl-v0.0.5-tar", "modctl", "v0.0.5", "ci", _modctl_v005(raw=False)),
    Producer("modctl-v0.0.5-raw", "modctl", "v0.0.5", "ci", _modctl_v005(raw=True)),
    Producer("modctl-v0.2.2-raw", "modctl", "v0.2.2", "recorded", _recorded("modctl-v0.2.2-raw")),
    Producer("modctl-v0.2.2-tar", "modctl", "v0.2.2", "recorded", _recorded("modctl-v0.2.2-tar")),
    Producer(
        "modctl-main-raw", "modctl", "main (c8e484d)", "recorded", _recorded("modctl-main-raw")
    ),
    Producer(
        "modctl-main-tar", "modctl", "main (c8e484d)", "recorded", _recorded("modctl-main-tar")
    ),
    Producer("dmr-docker", "Docker Model Runner", "v1.2.9", "ci", _gopack("dmr", "docker")),
    Producer("dmr-cncf", "Docker Model Runner", "v1.2.9", "ci", _gopack("dmr", "cncf")),
    Producer("ollama", "Ollama", "v0.17.4", "ci", _gopack("ollama")),
    Producer("kitops-v1.7.0", "KitOps", "v1.7.0", "recorded", _recorded("kitops-v1.7.0")),
]
