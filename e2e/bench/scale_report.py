"""Figures of the scale benchmark: one record per case, ratios against the bare DaemonSet
on the same nodes, and the tables printed at the end. Pure: no cluster, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

BASELINE = "baseline"
OPERATOR = "operator"  # audit user labels, see bench_scale.AUDITED
DS_CONTROLLER = "daemonset-controller"


@dataclass
class CaseResult:
    """What one case measured. Times are seconds from creating the object(s)."""

    case: str  # "baseline", "ours 100%", "ours 10%", "20 models", "idle"
    nodes: int
    models: int = 1
    ready_s: float | None = None  # N/N Ready as the object's own status says
    pods_ready_s: float | None = None  # every pod Ready (DaemonSet status numberReady)
    first_progress_s: float | None = None  # first status with a node count (ours)
    cleanup_s: float | None = None  # delete -> pods gone and node labels removed
    timed_out: bool = False
    cpu_s: float = 0.0  # operator process, during the rollout window
    peak_rss_mib: float = 0.0  # operator process, peak during the rollout window
    requests: dict[str, Any] = field(default_factory=dict)  # scale_audit.summarize
    cleanup_requests: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)  # sizes of what was written

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 2)


def baseline_for(cases: Sequence[CaseResult], nodes: int) -> CaseResult | None:
    return next((c for c in cases if c.case == BASELINE and c.nodes == nodes), None)


def ratios(cases: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Per non-baseline case: time to Ready over the bare DaemonSet's on the same nodes,
    and the operator's cost per node."""
    out = []
    for case in cases:
        if case.case in (BASELINE, "idle", "startup"):
            continue
        base = baseline_for(cases, case.nodes)
        ops = case.requests.get(OPERATOR, {})
        out.append(
            {
                "case": case.case,
                "nodes": case.nodes,
                "ready_ratio": ratio(case.ready_s, base.ready_s if base else None),
                "pods_ready_ratio": ratio(case.pods_ready_s, base.pods_ready_s if base else None),
                "operator_writes_per_node": ratio(ops.get("writes"), case.nodes * case.models),
                "operator_cpu_ms_per_node": ratio(case.cpu_s * 1000, case.nodes * case.models),
            }
        )
    return out


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _kib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:,.1f}"


def format_table(cases: Sequence[CaseResult]) -> str:
    """The summary table (markdown): one row per case, ratio against the baseline."""
    by_case = {(r["case"], r["nodes"]): r for r in ratios(cases)}
    header = (
        "| case | nodes | Ready s | ratio | pods Ready s | first progress s | cleanup s "
        "| op CPU s | op peak RSS MiB | op requests | op writes | op KiB written "
        "| DS-ctl requests |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for case in cases:
        ops = case.requests.get(OPERATOR, {})
        ds = case.requests.get(DS_CONTROLLER, {})
        row = by_case.get((case.case, case.nodes), {})
        ready = _num(case.ready_s) + (" (timeout)" if case.timed_out else "")
        cells = [
            case.case,
            _num(case.nodes),
            ready,
            _num(row.get("ready_ratio"), 2),
            _num(case.pods_ready_s),
            _num(case.first_progress_s),
            _num(case.cleanup_s),
            _num(case.cpu_s),
            _num(case.peak_rss_mib, 0),
            _num(ops.get("requests")),
            _num(ops.get("writes")),
            _kib(ops.get("bytes_written")),
            _num(ds.get("requests")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_requests(cases: Sequence[CaseResult], who: str = OPERATOR, top: int = 12) -> str:
    """Per case, `who`'s requests by verb and resource (most frequent first), rollout and
    cleanup windows, with bytes sent and the API server's median latency."""
    lines = []
    for case in cases:
        for window, summary in (("rollout", case.requests), ("cleanup", case.cleanup_requests)):
            by_key = summary.get(who, {}).get("by_verb_resource", {})
            if not by_key:
                continue
            lines.append(f"{case.case} @ {case.nodes} nodes, {who}, {window}:")
            ranked = sorted(by_key.items(), key=lambda kv: -int(kv[1]["count"]))
            for key, fig in ranked[:top]:
                p50 = f" p50 {fig['p50_ms']} ms" if "p50_ms" in fig else ""
                sent = f" {_kib(int(fig['bytes']))} KiB" if fig.get("bytes") else ""
                lines.append(f"  {fig['count']:>7,}  {key}{sent}{p50}")
            if len(ranked) > top:
                lines.append(f"  ... {len(ranked) - top} more")
    return "\n".join(lines)
