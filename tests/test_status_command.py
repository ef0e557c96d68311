"""`modelprefetch status`: the text it prints and the exit code it chooses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelprefetch.cli import build_parser
from modelprefetch.commands.status import (
    EXIT_FAILED,
    EXIT_NOT_READY,
    EXIT_READY,
    duration,
    eta_text,
    outcome,
    progress_bar,
    render,
    verdict_line,
)

NOW = datetime(2026, 1, 2, 3, 10, 0, tzinfo=UTC)


def _md(ready: str = "False", reason: str = "Prefetching", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "llama", "namespace": "ml", "generation": 2},
        "spec": {"model": {"reference": "reg.local/models/llama:8b"}},
        "status": {
            "observedGeneration": 2,
            "resolved": {"reference": "reg.local/models/llama:8b", "shortDigest": "0123456789ab"},
            "nodes": {"desired": 4, "ready": 1, "pulling": 2, "waiting": 1, "failed": 0},
            "conditions": [
                {"type": "Ready", "status": ready, "reason": reason, "message": "1/4 nodes"}
            ],
            **status,
        },
    }


PROGRESS = {
    "phases": {"pending": 1, "pulling": 1, "verifying": 1, "ready": 1, "failed": 0},
    "percent": 25,
    "eta": "2026-01-02T03:12:30Z",
    "slowest": [
        {"name": "gpu-a", "phase": "Pulling", "since": "2026-01-02T03:06:40Z"},
        {"name": "gpu-b", "phase": "Verifying", "since": "2026-01-02T03:09:55Z"},
    ],
    "failing": [{"name": "gpu-c", "phase": "Failed", "reason": "Timeout", "message": "slow"}],
}


def test_status_is_a_registered_subcommand() -> None:
    """`modelprefetch status NAME -n NS --watch` parses."""
    args = build_parser().parse_args(["status", "llama", "-n", "ml", "--watch"])
    assert (args.name, args.namespace, args.watch, args.timeout) == ("llama", "ml", True, 0.0)


def test_render_shows_bar_phases_eta_and_listed_nodes() -> None:
    """Headline, bar with counts per phase and ETA, then one row per listed node."""
    lines = render(_md(progress=PROGRESS), NOW)
    assert lines[0] == "ModelDeployment ml/llama: reg.local/models/llama:8b @ 0123456789ab"
    assert lines[1].startswith("[#######-----------------------]  25%  1/4 nodes  ready 1")
    assert "pulling 1" in lines[1] and "ETA 03:12:30Z (in 2m30s)" in lines[1]
    rows = lines[3:6]
    assert rows[0].split() == ["gpu-a", "Pulling", "3m20s"]
    assert rows[1].split() == ["gpu-b", "Verifying", "5s"]
    assert rows[2].split()[:4] == ["gpu-c", "Failed", "-", "Timeout:"]
    assert lines[-1] == "  Prefetching: 1/4 nodes"


def test_render_without_progress_block_uses_the_coarse_counts() -> None:
    """A status written by an operator without status.progress still renders."""
    lines = render(_md(), NOW)
    assert "ready 1  pulling 2  waiting 1  failed 0" in lines[1]


def test_outcome_ready_failed_or_in_progress() -> None:
    """Ready True -> 0; a progress reason -> 3; any other reason -> 1; stale generation -> 3."""
    assert outcome(_md("True", "Ready")) == EXIT_READY
    assert outcome(_md("False", "Prefetching")) == EXIT_NOT_READY
    assert outcome(_md("False", "NodesFailed")) == EXIT_FAILED
    stale = _md("True", "Ready")
    stale["metadata"]["generation"] = 3
    assert outcome(stale) == EXIT_NOT_READY
    assert verdict_line(_md("True", "Ready"), EXIT_READY) == (
        'modeldeployment "ml/llama" is Ready on 1 nodes'
    )


def test_bar_and_durations() -> None:
    """The bar is proportional; ages read like kubectl's."""
    assert progress_bar(0, 0, width=4) == "[----]   0%"
    assert progress_bar(3, 4, width=4) == "[###-]  75%"
    assert [duration(s) for s in (5, 200, 7500)] == ["5s", "3m20s", "2h05m"]
    assert eta_text(None, NOW) == "ETA unknown"
    assert eta_text("2026-01-02T03:00:00Z", NOW) == "ETA 03:00:00Z (due)"
