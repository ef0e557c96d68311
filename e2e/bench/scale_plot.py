"""Plot the scale benchmark: time to Ready and operator peak RSS against the node count.

    python e2e/bench/scale_plot.py                         # docs/bench/scale-*.json -> scale.png
    python e2e/bench/scale_plot.py a.json b.json --out x.png
    python e2e/bench/scale_plot.py --table                 # the README table, same files
    python e2e/bench/scale_plot.py --split .tmp/bench/scale-20261130-114527.json
        # writes docs/bench/scale-<N>-<label>.json, one per node count of that run

Reads the JSON files bench_scale.py writes. Per node count it takes the `baseline` and
the `ours 100%` case (by default the files named `scale-<N>-*.json` in docs/bench/, except
the ones measured before the fixes or with kopf indexes); when several files hold the
same N, the one started last wins. The RSS panel shows the operator's peak RSS while it
rolls out the model (ours) and while the bare DaemonSet rolls out (the operator running
beside it with nothing to do: what it costs just to watch N nodes).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "docs" / "bench"
NOT_AFTER_FIXES = ("before-fixes", "kopf-indexes")
OURS = "ours 100%"


@dataclass(frozen=True)
class Point:
    nodes: int
    baseline_s: float | None
    ours_s: float | None
    ours_rss_mib: float | None
    baseline_rss_mib: float | None
    loadavg: float | None
    source: str


def default_files(directory: Path = BENCH_DIR) -> list[Path]:
    return sorted(
        p
        for p in directory.glob("scale-*.json")
        if re.match(r"scale-\d+-", p.name) and not any(s in p.name for s in NOT_AFTER_FIXES)
    )


def points(files: list[Path]) -> list[Point]:
    """One point per node count: the last-started file that has both cases wins."""
    found: dict[int, tuple[str, Point]] = {}
    for path in files:
        figures = json.loads(path.read_text())
        started = str((figures.get("args") or {}).get("started") or "")
        by_case: dict[tuple[int, str], dict[str, Any]] = {
            (c["nodes"], c["case"]): c for c in figures.get("cases") or []
        }
        for nodes in sorted({n for n, _ in by_case if n > 0}):
            base, ours = by_case.get((nodes, "baseline")), by_case.get((nodes, OURS))
            if base is None or ours is None:
                continue
            point = Point(
                nodes=nodes,
                baseline_s=base.get("ready_s"),
                ours_s=ours.get("ready_s"),
                ours_rss_mib=ours.get("peak_rss_mib"),
                baseline_rss_mib=base.get("peak_rss_mib"),
                loadavg=(ours.get("objects") or {}).get("loadavg_1m"),
                source=path.name,
            )
            if nodes not in found or started >= found[nodes][0]:
                found[nodes] = (started, point)
    return [found[n][1] for n in sorted(found)]


def plot(data: list[Point], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    if not data:
        raise SystemExit("no file holds both a `baseline` and an `ours 100%` case")
    nodes = [p.nodes for p in data]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(nodes, [p.baseline_s for p in data], "o-", color="C0", label="bare DaemonSet")
    left.plot(nodes, [p.ours_s for p in data], "s-", color="C1", label="ModelDeployment, 100%")
    for p in data:
        if p.ours_s and p.baseline_s:
            left.annotate(
                f"{p.ours_s / p.baseline_s:.2f}x",
                (p.nodes, p.ours_s),
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=8,
            )
    left.set(xlabel="kwok nodes", ylabel="seconds, creation -> N/N Ready", title="Time to Ready")
    right.plot(
        nodes, [p.ours_rss_mib for p in data], "s-", color="C1", label="operator, our rollout"
    )
    right.plot(
        nodes,
        [p.baseline_rss_mib for p in data],
        "o--",
        color="C0",
        label="operator, idle beside the baseline",
    )
    right.axhline(300, color="grey", linestyle=":", label="goal: 300 MiB")
    right.set(xlabel="kwok nodes", ylabel="MiB", title="Operator peak RSS", ylim=(0, None))
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    loads = ", ".join(f"{p.nodes}: {p.loadavg}" for p in data if p.loadavg is not None)
    fig.suptitle(f"Shared 2-core machine; load average (1 min) during ours: {loads}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def _verbs(case: dict[str, Any], who: str = "operator", top: int = 4) -> str:
    """The most frequent writes of `who` in a case: `1,000 patch nodes, ...`."""
    calls = ((case.get("requests") or {}).get(who) or {}).get("by_verb_resource") or {}
    writes = [
        (v["count"], k)
        for k, v in calls.items()
        if not k.startswith(("get ", "list ", "watch ")) and "leases" not in k
    ]
    return ", ".join(f"{n:,} {k}" for n, k in sorted(writes, reverse=True)[:top])


def table(files: list[Path]) -> str:
    """The README table: per N, time to Ready (ours/baseline), CPU, RSS, writes, bytes."""
    lines = [
        "| nodes | bare DaemonSet | ours 100% | ratio | operator CPU s | operator peak RSS"
        " | operator requests (writes) | its main writes | bytes written"
        " | DaemonSet controller requests baseline / ours | load avg baseline / ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in points(files):
        figures = json.loads((_dir(files, point.source)).read_text())
        by_case = {(c["nodes"], c["case"]): c for c in figures["cases"]}
        ours = by_case[(point.nodes, OURS)]
        ops = (ours.get("requests") or {}).get("operator") or {}
        ratio = point.ours_s / point.baseline_s if point.ours_s and point.baseline_s else None
        lines.append(
            f"| {point.nodes:,} | {point.baseline_s} s | {point.ours_s} s | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} | {ours.get('cpu_s')} | "
            f"{ours.get('peak_rss_mib')} MiB | {ops.get('requests', 0):,} "
            f"({ops.get('writes', 0):,}) | {_verbs(ours)} | "
            f"{ops.get('bytes_written', 0) / 1024:,.0f} KiB | "
            f"{_ds_requests(by_case[(point.nodes, 'baseline')])} / {_ds_requests(ours)} | "
            f"{_load(by_case[(point.nodes, 'baseline')])} / {point.loadavg} |"
        )
    return "\n".join(lines)


def _ds_requests(case: dict[str, Any]) -> str:
    """The DaemonSet controller's requests in a case's rollout (pod creates, its status
    writes): the same upstream controller bounds both cases (kube-api-qps 20 by default)."""
    count = ((case.get("requests") or {}).get("daemonset-controller") or {}).get("requests")
    return "-" if count is None else f"{count:,}"


def _load(case: dict[str, Any]) -> object:
    return (case.get("objects") or {}).get("loadavg_1m", "-")


def _dir(files: list[Path], name: str) -> Path:
    return next(f for f in files if f.name == name)


def split(run: Path, label: str, directory: Path = BENCH_DIR) -> list[Path]:
    """One docs/bench/scale-<N>-<label>.json per node count of a bench_scale.py run."""
    figures = json.loads(run.read_text())
    written = []
    for nodes in sorted({c["nodes"] for c in figures["cases"] if c["nodes"] > 0}):
        part = {
            **figures,
            "cases": [c for c in figures["cases"] if c["nodes"] in (0, nodes)],
            "ratios": [r for r in figures.get("ratios") or [] if r.get("nodes") == nodes],
            "split_from": run.name,
        }
        path = directory / f"scale-{nodes}-{label}.json"
        path.write_text(json.dumps(part, indent=1))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "scale.png")
    parser.add_argument("--split", type=Path, help="a bench_scale.py run to split per N")
    parser.add_argument("--label", default="tuned", help="with --split: the file name suffix")
    parser.add_argument("--table", action="store_true", help="print the README table only")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.files or default_files()))
        return 0
    if args.split:
        for path in split(args.split, args.label):
            print(path)
        return 0
    data = points(args.files or default_files())
    for p in data:
        print(p)
    plot(data, args.out)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
