"""What the hostile-input tests measure: a process's resident memory over time, and the
results file each test writes (.tmp/hostile/<section>.json) for docs/security."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.cluster.tools import REPO_ROOT

RESULTS_DIR = REPO_ROOT / ".tmp" / "hostile"
DOC_RESULTS = REPO_ROOT / "docs" / "security" / "hostile-inputs.json"


def rss_mib(pid: int, status_field: str = "VmRSS") -> float:
    """Resident set size of `pid` in MiB (0 when it is gone); "VmHWM" gives the
    peak since the process's last exec instead."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{status_field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread, with timestamps, so
    the peak inside any time window can be read afterwards."""

    pid: int
    interval: float = 0.1
    status_field: str = "VmRSS"
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_mib(self.pid, self.status_field)))
            self._stop.wait(self.interval)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float:
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return round(max(inside, default=rss_mib(self.pid)), 1)


def write_results(section: str, rows: list[dict[str, Any]], **extra: Any) -> Path:
    """Write one test's rows to .tmp/hostile/<section>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{section}.json"
    path.write_text(json.dumps({"rows": rows, **extra}, indent=2) + "\n")
    return path


def documented_outcomes(section: str) -> dict[str, str]:
    """case -> outcome as docs/security/hostile-inputs.json records it (empty before the
    first report): a test compares what it saw to what the doc says."""
    if not DOC_RESULTS.exists():
        return {}
    rows = json.loads(DOC_RESULTS.read_text()).get(section, {}).get("rows", [])
    return {row["case"]: row["outcome"] for row in rows}
