"""What each container runtime was SEEN to mount, read from compatibility.json.

The file is written from real-node observations (e2e/realnode/test_runtime_table.py
records them, `hack/compatibility.py update` folds them in) and ships inside the package,
so the operator's image decides from the same facts the docs table shows
(docs/compatibility.md is generated from it). No I/O beyond reading that one file.

A runtime version is judged by an observed release of its major.minor line, else by the
newest observed release below it (`assumed_from` says when that is not the exact
version). Below the oldest observed release nothing is known: `row` is None and callers
fall back to the universal shape, the derived OCI image.
"""

from __future__ import annotations

import functools
import json
import posixpath
from dataclasses import dataclass
from importlib import resources
from typing import Any

from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.artifact import LayerInfo, Runtime

FACTS_FILE = "compatibility.json"

# What the runtime-table tests mount, one image volume per case.
CASES: dict[str, str] = {
    "modelpack-raw": "ModelPack, `.raw` layers as `modelprefetch pack` names them"
    " (`org.cncf.model.filepath` + `org.cnai.model.filepath` + `image.title` = the path)",
    "modelpack-raw-cncf": "ModelPack, `.raw` layers named only by `org.cncf.model.filepath`"
    " (modctl main, v0.2.1)",
    "modelpack-raw-cnai": "ModelPack, `.raw` layers named only by `org.cnai.model.filepath`"
    " (modctl v0.2.2)",
    "modelpack-raw-cncf-title-other": "ModelPack, `.raw` layers with `org.cncf.model.filepath`"
    " and a base-name `org.opencontainers.image.title`",
    "modelpack-tar": "ModelPack, `.tar` layers",
    "modelpack-raw+subpath": "ModelPack, `.raw` layers, with a subPath",
    "modelpack-tar+subpath": "ModelPack, `.tar` layers, with a subPath",
    "derived-raw": "derived OCI image (from the `.raw` ModelPack)",
    "derived-tar": "derived OCI image (from the `.tar` ModelPack)",
    "derived+subpath": "derived OCI image, with a subPath",
    "hold-on-empty-mount": "`modelprefetch hold` on the `.tar` ModelPack mounted natively",
}

# What the container sees (or what happened), one word per observation.
OUTCOMES: dict[str, str] = {
    "files": "every file under its path, nested directories kept, modes 0644",
    "subtree": "only the subPath directory's files",
    "whole-tree": "subPath ignored: every file",
    "empty": "an empty directory; the container runs, no event",
    "no-mount": "the target directory does not exist; the container runs",
    "flattened": "files under base names, nested paths lost",
    "archives": "the tar archives as files, not extracted",
    "bad-modes": "the files, but not world-readable",
    "create-error": "CreateContainerError",
    "refused": "exits 3: the model directory is empty",
    "refused-wrong-files": "exits 3: files missing or of the wrong size",
    "accepted": "runs: the empty mount is not detected",
    "other": "something else (see the test log)",
}

# The shape of a raw layer's naming annotations -> the case that observed it.
_RAW_NAMING_CASES: dict[frozenset[str], str] = {
    frozenset({"cncf", "cnai", "title"}): "modelpack-raw",
    frozenset({"cncf"}): "modelpack-raw-cncf",
    frozenset({"cnai"}): "modelpack-raw-cnai",
    frozenset({"cncf", "title-other"}): "modelpack-raw-cncf-title-other",
}
_NAME_TOKENS = {
    mt.ANNOTATION_FILEPATH: "cncf",
    mt.LEGACY_ANNOTATION_FILEPATH: "cnai",
    mt.ANNOTATION_TITLE: "title",
}


@dataclass(frozen=True, slots=True)
class ObservedRuntime:
    """One runtime release as the runtime-table tests saw it."""

    runtime: str  # containerd | cri-o
    version: tuple[int, int, int]
    cases: dict[str, str]  # case -> outcome (keys of CASES / OUTCOMES)
    observed_by: str
    kubelet: str = ""

    @property
    def label(self) -> str:
        return f"{self.runtime} {'.'.join(map(str, self.version))}"

    @property
    def kubelet_line(self) -> tuple[int, ...]:
        """The kubelet's (major, minor) of this observation; () when not recorded."""
        return kubelet_line(self.kubelet)


def kubelet_line(kubelet: str) -> tuple[int, ...]:
    """(1, 36) for "v1.36.3"; () for "" (observed without a kubelet) or garbage."""
    parts = kubelet.lstrip("v").split(".")[:2]
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def same_kubelet_line(first: str, second: str) -> bool:
    """Two observations of one runtime release describe the same row: same kubelet
    line, or one of them was made without a kubelet (by hand, with crictl)."""
    a, b = kubelet_line(first), kubelet_line(second)
    return not a or not b or a == b


@dataclass(frozen=True, slots=True)
class Judgement:
    """The observed row a runtime version is judged by (None: no observation applies)."""

    row: ObservedRuntime | None
    assumed_from: str | None  # the observed release's label when it is not the exact one

    def outcome(self, case: str) -> str | None:
        return None if self.row is None else self.row.cases.get(case)


def parse_facts(document: Any) -> tuple[ObservedRuntime, ...]:
    """The observed rows of a compatibility.json document; ValueError when malformed."""
    if not isinstance(document, dict) or not isinstance(document.get("observed"), list):
        raise ValueError("compatibility facts: want an object with an `observed` list")
    rows = []
    for index, item in enumerate(document["observed"]):
        try:
            parts = [int(part) for part in str(item["version"]).split(".")]
            cases = {str(k): str(v) for k, v in dict(item["cases"]).items()}
            row = ObservedRuntime(
                runtime=str(item["runtime"]),
                version=(*parts, 0, 0, 0)[:3],  # type: ignore[arg-type]
                cases=cases,
                observed_by=str(item.get("observedBy", "")),
                kubelet=str(item.get("kubelet", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"compatibility facts: observed[{index}]: {exc}") from exc
        unknown = (set(cases) - set(CASES)) | (set(cases.values()) - set(OUTCOMES))
        if unknown:
            raise ValueError(f"compatibility facts: observed[{index}]: unknown {sorted(unknown)}")
        rows.append(row)
    return tuple(sorted(rows, key=lambda r: (r.runtime, r.version, r.kubelet_line)))


@functools.cache
def packaged_facts() -> tuple[ObservedRuntime, ...]:
    """The facts shipped with this package (read once)."""
    text = resources.files("modelprefetch.oci").joinpath(FACTS_FILE).read_text()
    return parse_facts(json.loads(text))


def judge(runtime: Runtime, facts: tuple[ObservedRuntime, ...] | None = None) -> Judgement:
    """The observed release `runtime` is judged by: the same major.minor line (patch
    releases of a line mount alike), else the newest observed release below it. Where a
    release was observed under several kubelets, the oldest kubelet's row decides (the
    node's kubelet is not known here; newer kubelets' rows are documentation)."""
    rows = [r for r in (packaged_facts() if facts is None else facts) if r.runtime == runtime.name]
    line = [r for r in rows if r.version[:2] == runtime.version[:2]]
    below = [r for r in rows if r.version <= runtime.version]
    if line:
        at_or_below = [r for r in line if r.version <= runtime.version]
        row = at_or_below[-1] if at_or_below else line[0]
    elif below:
        row = below[-1]
    else:
        return Judgement(None, None)
    row = min((r for r in rows if r.version == row.version), key=lambda r: r.kubelet_line)
    return Judgement(row, None if row.version == runtime.version else row.label)


def raw_layer_case(layer: LayerInfo) -> str | None:
    """The observed case whose naming annotations this raw layer has (None: none does)."""
    shape = set()
    for key, value in layer.name_annotations:
        name = _NAME_TOKENS.get(key)
        if name == "title" and _clean(value) != layer.path:
            name = "title-other"
        if name:
            shape.add(name)
    return _RAW_NAMING_CASES.get(frozenset(shape))


def _clean(value: str) -> str:
    return posixpath.normpath(value.replace("\\", "/")).lstrip("/")
