"""docs/security/hostile-inputs.md is the render of the measured results, and covers
every case the hostile registry serves (no cluster needed)."""

from __future__ import annotations

import json

from e2e.hostile.measure import DOC_RESULTS
from e2e.hostile.registry import cases
from e2e.hostile.report import DOC_PAGE, SECTIONS, render


def test_page_is_the_render_of_the_results() -> None:
    results = json.loads(DOC_RESULTS.read_text())
    assert set(results) == set(SECTIONS)
    assert DOC_PAGE.read_text() == render(results), "run python -m e2e.hostile.report"


def test_every_registry_case_is_documented_for_the_operator_and_inspect() -> None:
    results = json.loads(DOC_RESULTS.read_text())
    documented = {row["case"] for row in results["operator"]["rows"]}
    inspected = {row["case"] for row in results["cli"]["rows"]}
    for case in cases():
        assert case in documented, case
        assert f"inspect {case}" in inspected, case
