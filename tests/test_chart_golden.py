"""The chart's render per values set equals its golden file (like the holder DaemonSets).

Needs the helm that `make binaries` builds. After an intended chart change:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_chart_golden.py
rewrites tests/golden/chart/*.yaml; review `git diff tests/golden/chart` before committing.
"""

from __future__ import annotations

import difflib
import os

import pytest

from tests.chart_renders import GOLDEN_DIR, golden_file, render_set, values_file, values_sets

# The cases the chart promises to render; a new values file joins them automatically.
EXPECTED_SETS = {
    "defaults",
    "external-operator",
    "cert-manager",
    "monitoring",
    "restricted",
    "secret-namespaces",
    "cluster-wide-secrets",
}
UPDATE = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def test_values_sets_cover_the_documented_cases() -> None:
    """Every expected case has a values file, and every golden render has its values file."""
    assert set(values_sets()) >= EXPECTED_SETS
    orphans = [
        p.name
        for p in GOLDEN_DIR.glob("*.yaml")
        if not p.name.endswith(".values.yaml") and not values_file(p.stem).is_file()
    ]
    assert orphans == [], f"golden renders without a values file: {orphans}"


@pytest.mark.parametrize("name", values_sets())
def test_render_matches_golden(name: str) -> None:
    """helm template with <name>.values.yaml gives exactly tests/golden/chart/<name>.yaml."""
    rendered = render_set(name)
    golden = golden_file(name)
    if UPDATE:
        golden.write_text(rendered)
    expected = golden.read_text() if golden.is_file() else ""
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=f"{golden.name} (golden)",
                tofile=f"{name} (helm template now)",
            )
        )
        pytest.fail(
            f"the chart's render for {name} changed; if intended, regenerate with\n"
            f"  UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_chart_golden.py\n{diff}",
            pytrace=False,
        )
