"""docs/interop.md is the rendering of e2e/interop/interop.json, whose rows are the ones
the real-node test checks (one per producer): neither can drift from the other."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from e2e.interop.producers import PRODUCERS
from e2e.interop.replay import build_artifact, recorded_runs
from e2e.interop.table import BEGIN, DOC, END, load_rows, render_doc

from tests.oci.modeldir import make_model_dir


def test_doc_table_is_the_rendered_interop_json() -> None:
    current = DOC.read_text()
    assert BEGIN in current and END in current
    assert current == render_doc(current, load_rows()), (
        "docs/interop.md differs from e2e/interop/interop.json: run python -m e2e.interop.table"
    )


def test_every_producer_has_exactly_one_row() -> None:
    assert [p.id for p in PRODUCERS] == list(load_rows())


def test_rows_say_how_they_were_produced() -> None:
    """A row is produced in CI, or replayed from a recorded run that names tool, version,
    commit, command line and date."""
    runs = recorded_runs()
    for producer in PRODUCERS:
        row = load_rows()[producer.id]
        assert row["source"] == producer.source
        assert (producer.tool, producer.version) == (row["tool"].split(" (")[0], row["version"])
        if producer.source == "recorded":
            run = runs[producer.id]
            assert {"tool", "version", "commit", "command", "date"} <= set(run), producer.id


def recorded_tree(root: Path) -> Path:
    """The model tree the recorded runs packed (observed_tools.json's note)."""
    model = make_model_dir(root)
    (model / "docs" / "deep").mkdir(parents=True)
    (model / "docs" / "deep" / "USAGE.md").write_text("# recorded\n")
    return model


def test_replay_of_raw_runs_is_byte_for_byte_the_tools_manifest(tmp_path: Path) -> None:
    """Filled with the recorded tree, a replayed raw-layer run has the digest the tool's
    manifest had: the replay keeps every field the tool wrote."""
    model = recorded_tree(tmp_path / "m")
    raw_runs = {
        name: run
        for name, run in recorded_runs().items()
        if all(layer["tarMembers"] is None for layer in run["layers"])
    }
    assert raw_runs
    for name, run in raw_runs.items():
        manifest, _ = build_artifact(name, model)
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == run["manifestDigest"], name


def test_replay_of_tar_runs_keeps_the_tools_member_names(tmp_path: Path) -> None:
    model = recorded_tree(tmp_path / "m")
    for name, run in recorded_runs().items():
        _, blobs = build_artifact(name, model)
        for recorded, blob in zip(run["layers"], blobs[1:], strict=True):
            if recorded["tarMembers"] is None:
                assert blob == (model / recorded["file"]).read_bytes()
                continue
            data = gzip.decompress(blob) if recorded.get("compression") == "gzip" else blob
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                assert archive.getnames() == recorded["tarMembers"], name
