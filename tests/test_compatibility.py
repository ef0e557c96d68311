"""The committed compatibility facts, their generated table, and how a container's
listing becomes an observation (e2e/realnode/observe.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e.realnode.observe import classify, parse_listing

from modelprefetch.oci.compat import CASES, judge, packaged_facts, parse_facts
from modelprefetch.oci.mount import parse_runtime

REPO = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compatibility", REPO / "hack/compatibility.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _facts() -> dict[str, Any]:
    return dict(json.loads((REPO / "operator/modelprefetch/oci/compatibility.json").read_text()))


def test_committed_table_is_generated_from_the_committed_facts() -> None:
    """docs/compatibility.md is exactly what hack/compatibility.py renders from the facts."""
    assert (REPO / "docs/compatibility.md").read_text() == _generator().render(_facts())


def test_a_changed_observation_changes_the_table() -> None:
    """The table shows the facts: another outcome for a case renders another table."""
    generator, document = _generator(), _facts()
    changed = generator.merge(
        document,
        {
            "runtime": "containerd",
            "version": "2.2.9",
            "observedBy": "test",
            "cases": {"derived-raw": "empty"},
        },
    )
    assert generator.render(changed) != generator.render(document)


def test_merge_refuses_an_unknown_outcome() -> None:
    """An observation the operator could not read is never written."""
    observation = {"runtime": "containerd", "version": "9.9.9", "observedBy": "t"}
    with pytest.raises(ValueError, match="unknown"):
        _generator().merge(_facts(), {**observation, "cases": {"derived-raw": "maybe"}})


def test_packaged_facts_parse_and_use_known_cases() -> None:
    """The facts shipped in the package parse, and every case is one the tests observe."""
    rows = packaged_facts()
    assert rows and all(set(r.cases) <= set(CASES) for r in rows)


def test_malformed_facts_are_a_clear_error() -> None:
    """A broken facts document names the entry."""
    with pytest.raises(ValueError, match=r"observed\[0\]"):
        parse_facts({"observed": [{"runtime": "containerd"}]})


def test_patch_releases_are_judged_by_their_line() -> None:
    """containerd 2.2.1 is judged by the observed 2.2.9; an older line by nothing."""
    judgement = judge(parse_runtime("containerd://2.2.1"))
    assert judgement.row is not None and judgement.assumed_from == "containerd 2.2.9"
    assert judge(parse_runtime("cri-o://1.34.2")).row is None


LISTING = """/m:
total 3
drwxr-xr-x    3 0        0             4096 Jan  1  1970 .
-rw-r--r--    1 0        0               10 Jan  1  1970 config.json
drwxr-xr-x    2 0        0             4096 Jan  1  1970 extra

/m/extra:
-rw-r--r--    1 0        0                7 Jan  1  1970 gen.json
CHECKSUMS-DONE"""
EXPECTED = {"config.json": 10, "extra/gen.json": 7}


def test_listing_keeps_nested_paths() -> None:
    """`ls -laR` lines become relative paths with size and mode."""
    listed = parse_listing(LISTING) or []
    assert [(f.path, f.size, f.perms) for f in listed] == [
        ("config.json", 10, "-rw-r--r--"),
        ("extra/gen.json", 7, "-rw-r--r--"),
    ]


BAD_MODES = LISTING.replace("-rw-r--r--    1 0        0               10", "-rw------- 1 0 0 10")
FLATTENED = LISTING.replace("/m/extra:", "/m:")
ARCHIVES = LISTING.replace(" 10 Jan", " 1536 Jan").replace("  7 Jan", " 1024 Jan")
SUBTREE = "/m:\n-rw-r--r--    1 0        0                7 Jan  1  1970 gen.json"


@pytest.mark.parametrize(
    ("log", "sub_path", "outcome"),
    [
        (LISTING, None, "files"),
        (BAD_MODES, None, "bad-modes"),
        ("/m:\ntotal 0\nCHECKSUMS-DONE", None, "empty"),
        ("ls: /m: No such file or directory\nCHECKSUMS-DONE", None, "no-mount"),
        (FLATTENED, None, "flattened"),
        (ARCHIVES, None, "archives"),
        (SUBTREE, "extra", "subtree"),
        (LISTING, "extra", "whole-tree"),
    ],
)
def test_classify(log: str, sub_path: str | None, outcome: str) -> None:
    """Each way a mount can look is told apart."""
    assert classify(log, EXPECTED, sub_path) == outcome


def _kubelet_136(generator: ModuleType, document: dict[str, Any]) -> dict[str, Any]:
    """`document` without its own containerd 2.2.9 / kubelet 1.36 row (if the committed
    facts have one), then a made-up 1.36 observation merged in."""
    document = {
        **document,
        "observed": [
            row
            for row in document["observed"]
            if (row["runtime"], row["version"]) != ("containerd", "2.2.9")
            or not str(row.get("kubelet", "")).startswith("v1.36")
        ],
    }
    observation = {
        "runtime": "containerd",
        "version": "2.2.9",
        "kubelet": "v1.36.3",
        "observedBy": "test",
        "cases": {"derived-raw": "empty"},
    }
    return dict(generator.merge(document, observation))


def test_another_kubelet_line_is_its_own_row() -> None:
    """containerd 2.2.9 seen under kubelet 1.36 adds a column, the 1.35 row stays as it was."""
    generator, document = _generator(), _facts()
    merged = _kubelet_136(generator, document)
    rows = [r for r in parse_facts(merged) if r.label == "containerd 2.2.9"]
    assert [r.kubelet_line for r in rows] == [(1, 35), (1, 36)]
    assert rows[0].cases["derived-raw"] == "files" and rows[1].cases == {"derived-raw": "empty"}
    table = generator.render(merged)
    assert "containerd 2.2.9 (kubelet 1.35)" in table and "containerd 2.2.9 (kubelet 1.36)" in table


def test_the_oldest_kubelets_row_decides() -> None:
    """The operator does not know a node's kubelet here: the oldest kubelet's row judges."""
    merged = _kubelet_136(_generator(), _facts())
    judgement = judge(parse_runtime("containerd://2.2.9"), parse_facts(merged))
    assert judgement.row is not None and judgement.row.kubelet_line == (1, 35)
    assert judgement.outcome("derived-raw") == "files"


def test_an_observation_without_kubelet_matches_any_kubelet_line() -> None:
    """A by-hand (crictl) row is replaced by the tests' observation under a kubelet."""
    generator = _generator()
    document = {
        "observed": [
            {"runtime": "cri-o", "version": "1.35.2", "kubelet": "", "observedBy": "hand",
             "cases": {"modelpack-tar": "archives"}},
        ]
    }  # fmt: skip
    observation = {"runtime": "cri-o", "version": "1.35.2", "kubelet": "v1.35.4",
                   "observedBy": "test", "cases": {"derived-raw": "files"}}  # fmt: skip
    rows = parse_facts(generator.merge(document, observation))
    assert len(rows) == 1 and rows[0].kubelet == "v1.35.4"
    assert rows[0].cases == {"derived-raw": "files", "modelpack-tar": "archives"}
