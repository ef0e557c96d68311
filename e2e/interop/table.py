"""The interop table: e2e/interop/interop.json (one row per producer, what the real-node
test e2e/realnode/test_interop_tools.py must observe) rendered as docs/interop.md.

    python -m e2e.interop.table          # rewrite docs/interop.md from interop.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROWS = HERE / "interop.json"
DOC = HERE.parent.parent / "docs" / "interop.md"
BEGIN, END = "<!-- interop-table:begin -->", "<!-- interop-table:end -->"
COLUMNS = (
    "Tool",
    "Version",
    "Run",
    "Manifest / layers",
    "Resolved",
    "Format",
    "Mounted (containerd 2.2.9)",
)


def load_rows() -> dict[str, dict[str, Any]]:
    """{row id: row} from interop.json."""
    document = json.loads(ROWS.read_text())
    return {row["id"]: row for row in document["rows"]}


def _cells(row: dict[str, Any]) -> list[str]:
    run = "in CI" if row["source"] == "ci" else "recorded here"
    if row.get("refused"):
        resolved = f"refused: `{row['refused']}`"
        formatted = "-"
        mounted = f'no (condition Resolved=False, {row["refused"]}: "{row["messageContains"]}…")'
    else:
        resolved = row["kind"] + (f" ({row['generation']})" if row.get("generation") else "")
        formatted = row["format"] or "-"
        if row.get("formatSource") == "files":
            formatted += " (inferred from the files)"
        mounted = f"yes, {row['mounted']}; {row['files']}"
    return [row["tool"], row["version"], run, row["layers"], resolved, formatted, mounted]


def render_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows.values()]
    return "\n".join(lines)


def render_doc(current: str, rows: dict[str, dict[str, Any]]) -> str:
    """`current` with the text between the table markers replaced by the table."""
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_table(rows)}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(render_doc(DOC.read_text(), load_rows()))
    print(f"wrote {DOC}")
