"""What a container saw in its image volume, as one word, and where the runtime-table
tests write it down (.tmp/observations/<runtime>-<version>-kubelet-<X.Y>.json, folded into the
compatibility facts by `hack/compatibility.py update`).

The words are modelprefetch.oci.compat.OUTCOMES; the cases are compat.CASES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from modelprefetch.oci.compat import (
    CASES,
    OUTCOMES,
    ObservedRuntime,
    kubelet_line,
    packaged_facts,
    same_kubelet_line,
)

REPO = Path(__file__).resolve().parents[2]
OBSERVATIONS = REPO / ".tmp" / "observations"
WORLD_READABLE = "-rw-r--r--"


@dataclass(frozen=True)
class Listed:
    path: str  # relative to the mount point
    size: int
    perms: str


def parse_listing(log: str, root: str = "/m") -> list[Listed] | None:
    """Regular files of a busybox `ls -laR ROOT` listing; None when ROOT did not exist."""
    if f"{root}: No such file or directory" in log:
        return None
    files, directory = [], ""
    for line in log.splitlines():
        if line.endswith(":") and line.startswith(root):
            directory = line[len(root) : -1].lstrip("/")
        elif line.startswith("-"):
            parts = line.split()
            path = str(PurePosixPath(directory, parts[-1])) if directory else parts[-1]
            files.append(Listed(path, int(parts[4]), parts[0]))
    return sorted(files, key=lambda f: f.path)


def classify(log: str, expected: dict[str, int], sub_path: str | None = None) -> str:
    """One OUTCOMES word for what `ls -laR /m` showed, given the model's {path: size}."""
    listed = parse_listing(log)
    if listed is None:
        return "no-mount"
    if not listed:
        return "empty"
    if sub_path is not None:
        prefix = f"{sub_path}/"
        inside = {p[len(prefix) :]: s for p, s in expected.items() if p.startswith(prefix)}
        if {f.path for f in listed} == set(inside):
            return "subtree"
        if {f.path for f in listed} == set(expected):
            return "whole-tree"
        return "other"
    paths = {f.path for f in listed}
    if paths == set(expected):
        if any(f.size != expected[f.path] for f in listed):
            return "archives" if all(f.size % 512 == 0 for f in listed) else "other"
        return "files" if all(f.perms == WORLD_READABLE for f in listed) else "bad-modes"
    if sorted(PurePosixPath(p).name for p in paths) == sorted(
        PurePosixPath(p).name for p in expected
    ):
        return "flattened"
    return "other"


@dataclass
class Observations:
    """The cases seen on one runtime release in this session, written after each one."""

    runtime: str  # containerd | cri-o
    version: str  # "2.1.9"
    kubelet: str
    cases: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        line = ".".join(map(str, kubelet_line(self.kubelet))) or "none"
        return OBSERVATIONS / f"{self.runtime}-{self.version}-kubelet-{line}.json"

    def record(self, case: str, outcome: str) -> None:
        assert case in CASES and outcome in OUTCOMES, (case, outcome)
        self.cases[case] = outcome
        OBSERVATIONS.mkdir(parents=True, exist_ok=True)
        document = {
            "runtime": self.runtime,
            "version": self.version,
            "kubelet": self.kubelet,
            "observedBy": "e2e/realnode/test_runtime_table.py",
            "cases": self.cases,
        }
        self.file.write_text(json.dumps(document, indent=2) + "\n")

    def committed(self) -> ObservedRuntime | None:
        """The committed facts of exactly this runtime release under this kubelet line."""
        for row in packaged_facts():
            if (
                row.runtime == self.runtime
                and ".".join(map(str, row.version)) == self.version
                and same_kubelet_line(row.kubelet, self.kubelet)
            ):
                return row
        return None

    def check(self, case: str, outcome: str) -> None:
        """Record `outcome`, then fail unless the committed facts say the same."""
        self.record(case, outcome)
        row = self.committed()
        committed = None if row is None else row.cases.get(case)
        assert committed == outcome, (
            f"{self.runtime} {self.version}, {case}: observed {outcome!r} ({OUTCOMES[outcome]}),"
            f" committed facts say {committed!r}. If the observation is right, run"
            " `python hack/compatibility.py update` and commit compatibility.json + the table."
        )
