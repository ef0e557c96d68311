"""The repository stands alone: no file reaches for folders beside the checkout.

The full proof (a fresh clone, no sibling folders, the unit tests pass) is
e2e/test_clean_clone.py; this is the fast check that catches a new reference at once.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Built from parts so this file does not match itself.
SIBLING = re.compile("|".join([re.escape("../" + "shared"), re.escape("/work/" + "shared")]))
DOC_LINK = re.compile(r"(?:^|[^A-Za-z0-9_/.-])docs/([A-Za-z0-9_-]+\.md)")


def project_files() -> list[Path]:
    """Tracked files plus new ones not ignored (so an uncommitted file is checked too)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    paths = (REPO / name for name in out.decode().split("\0") if name)
    return [p for p in paths if p.is_file() and p.stat().st_size < 2_000_000]


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_no_file_points_outside_the_repository() -> None:
    """No file names the sibling reference folder (tests, docs and code use their own)."""
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in project_files()
        for number, line in enumerate(text_of(path).splitlines(), 1)
        if SIBLING.search(line)
    ]
    assert hits == [], "files reach outside the repository:\n" + "\n".join(hits)


def test_every_docs_page_named_exists() -> None:
    """Every markdown page under docs/ that a file mentions exists in this repository."""
    missing = sorted(
        f"{path.relative_to(REPO)}: docs/{page}"
        for path in project_files()
        for page in DOC_LINK.findall(text_of(path))
        if not (REPO / "docs" / page).is_file()
    )
    assert missing == [], "pages named but not in docs/:\n" + "\n".join(missing)
