"""docs/interop.md is the rendering of e2e/interop/interop.json, whose rows are the ones
the real-node test checks (one per producer): neither can drift from the other."""

from __future__ import annotations

from e2e.interop.producers import PRODUCERS
from e2e.interop.replay import recorded_runs
from e2e.interop.table import BEGIN, DOC, END, load_rows, render_doc


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
