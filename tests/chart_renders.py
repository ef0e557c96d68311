"""The chart rendered per values set, and the golden renders it is compared with.

A values set is tests/golden/chart/<name>.values.yaml; its golden render is
tests/golden/chart/<name>.yaml: `helm template modelprefetch charts/modelprefetch
--namespace modelprefetch-system --values <name>.values.yaml` (no CRDs: those are
compared byte for byte with crds/ by tests/test_chart_sync.py), one document per object,
each under its `# Source:` template. Dashboard ConfigMaps whose JSON is a chart file
verbatim hold a placeholder naming that file instead of ~25 kB of JSON each
(deploy/dashboards pins the files themselves).

Regenerate after an intended chart change, then review the diff:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_chart_golden.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from e2e.chart.render import CHART, render_chart

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "chart"
VALUES_SUFFIX = ".values.yaml"
_SOURCE = "# Source: "


def values_sets() -> list[str]:
    """Names of the values sets, from the files in GOLDEN_DIR."""
    return sorted(p.name.removesuffix(VALUES_SUFFIX) for p in GOLDEN_DIR.glob("*" + VALUES_SUFFIX))


def values_file(name: str) -> Path:
    return GOLDEN_DIR / f"{name}{VALUES_SUFFIX}"


def golden_file(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.yaml"


def _verbatim_files() -> dict[str, str]:
    """Chart files a ConfigMap may carry verbatim: their content -> the placeholder."""
    files = sorted((CHART / "files" / "dashboards").glob("*.json"))
    return {
        p.read_text().rstrip("\n"): f"<verbatim {p.relative_to(CHART.parent.parent)}>"
        for p in files
    }


def normalize(rendered: str) -> str:
    """helm template output as golden text: documents re-dumped, verbatim files named."""
    verbatim = _verbatim_files()
    out = []
    for chunk in rendered.split("\n---\n"):
        lines = chunk.strip().removeprefix("---").strip().splitlines()
        if not lines:
            continue
        source = lines[0] if lines[0].startswith(_SOURCE) else _SOURCE + "?"
        document = yaml.safe_load("\n".join(lines))
        if document is None:
            continue
        if document.get("kind") == "ConfigMap":
            data = document.get("data") or {}
            for key, value in data.items():
                data[key] = verbatim.get(value, value)
        body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)
        out.append(f"{source}\n{body}")
    return "---\n" + "---\n".join(out)


def render_set(name: str) -> str:
    """The normalized render of one values set, made now with the built helm."""
    return normalize(render_chart(values_files=[values_file(name)]))


def golden_documents(name: str) -> list[dict[str, Any]]:
    """The objects of a checked-in golden render (no helm needed)."""
    return [d for d in yaml.safe_load_all(golden_file(name).read_text()) if d]


def golden_object(name: str, kind: str) -> dict[str, Any]:
    """The one object of `kind` in a golden render."""
    found = [d for d in golden_documents(name) if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects in {golden_file(name)}"
    return found[0]
