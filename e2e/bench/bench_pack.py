"""Pack+push speed next to `oras push`, and pack's peak memory against model size.

    python e2e/bench/bench_pack.py                     # 2 GiB race, 1 GiB vs 4 GiB memory
    python e2e/bench/bench_pack.py --race-gib 1 --memory-gib 1 2

A distribution 2.8 registry runs on loopback (e2e.cluster.registries). Model directories
are generated in a temp folder: a config.json and safetensors-named shards of 256 MiB,
each filled with its own repeated random block (distinct digests, fast to write).

Race: `modelprefetch pack DIR REF --no-derive` (tar layers, the default) and
`oras push REF FILE...` of the same files into fresh repositories, one after the other,
in the same run; printed: both wall times and their ratio (ours / oras).

Memory: `modelprefetch pack` (with the derived image, so the whole command) on models
of each size; printed: peak RSS of the process (from wait4) per size. It must not grow
with the model: blobs are streamed and hashed on the fly. What it does depend on is the
number of files in flight (--concurrency, default 4), so every size here has at least
four shards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`make bench`): make `e2e` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e2e.cluster.registries import LocalRegistry
from e2e.cluster.tools import REPO_ROOT, free_port, tool_path

GIB = 1024**3
SHARD = 256 * 1024**2  # >= 4 shards per GiB: every size keeps all --concurrency workers busy
BLOCK = 1024**2


def make_model(root: Path, size: int) -> Path:
    """A model directory of about `size` bytes of weights."""
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"architectures":["LlamaForCausalLM"],"model_type":"llama"}')
    index = 0
    remaining = size
    while remaining > 0:
        shard = min(SHARD, remaining)
        block = os.urandom(BLOCK)
        with (root / f"model-{index:05d}.safetensors").open("wb") as handle:
            for _ in range(shard // BLOCK):
                handle.write(block)
        remaining -= shard
        index += 1
    return root


def run_measured(argv: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS in MiB) of that process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024  # ru_maxrss is KiB on Linux


def pack_argv(model: Path, reference: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modelprefetch",
        "pack",
        str(model),
        reference,
        "--plain-http",
        "--no-progress",
        *extra,
    ]


def race(registry: LocalRegistry, workdir: Path, gib: float) -> None:
    model = make_model(workdir / "race", int(gib * GIB))
    files = sorted(p.name for p in model.iterdir())
    ours, _ = run_measured(
        pack_argv(model, f"{registry.host}/bench/ours-{uuid.uuid4().hex[:8]}:v1", "--no-derive")
    )
    oras_reference = f"{registry.host}/bench/oras-{uuid.uuid4().hex[:8]}:v1"
    theirs, _ = run_measured(
        [
            str(tool_path("oras")),
            "push",
            "--plain-http",
            "--disable-path-validation",
            oras_reference,
            *files,
        ],
        cwd=model,
    )
    print(f"race ({gib:g} GiB, {len(files)} files):")
    print(f"  modelprefetch pack (tar layers): {ours:7.2f} s  ({gib * 1024 / ours:6.0f} MiB/s)")
    print(f"  oras push (raw files):           {theirs:7.2f} s  ({gib * 1024 / theirs:6.0f} MiB/s)")
    print(f"  ratio ours/oras:                 {ours / theirs:7.2f}")


def memory(registry: LocalRegistry, workdir: Path, sizes: list[float]) -> None:
    print("peak memory of `modelprefetch pack` (with derived image):")
    for gib in sizes:
        model = make_model(workdir / f"mem-{gib:g}", int(gib * GIB))
        reference = f"{registry.host}/bench/mem-{uuid.uuid4().hex[:8]}:v1"
        elapsed, rss = run_measured(pack_argv(model, reference))
        print(f"  {gib:4g} GiB model: peak RSS {rss:5d} MiB  ({elapsed:6.2f} s)")
        raw_reference = f"{registry.host}/bench/memraw-{uuid.uuid4().hex[:8]}:v1"
        elapsed, rss = run_measured(pack_argv(model, raw_reference, "--raw"))
        print(
            f"  {gib:4g} GiB model, raw layers (derivation re-streams them): "
            f"peak RSS {rss:5d} MiB  ({elapsed:6.2f} s)"
        )
        for path in model.iterdir():
            path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--race-gib", type=float, default=2.0)
    parser.add_argument("--memory-gib", type=float, nargs="+", default=[1.0, 4.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="bench-pack-", dir=REPO_ROOT / ".tmp" if (REPO_ROOT / ".tmp").is_dir() else None
    ) as tmp:
        workdir = Path(tmp)
        registry = LocalRegistry(
            name="bench",
            kind="distribution",
            port=free_port(),
            datadir=workdir / "registry",
            logdir=workdir / "logs",
            referrers_api=False,
        )
        (workdir / "logs").mkdir()
        registry.start()
        try:
            race(registry, workdir, args.race_gib)
            memory(registry, workdir, args.memory_gib)
        finally:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
