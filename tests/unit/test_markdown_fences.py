"""The README and the docs render as written: every code fence opens and closes on a line of
its own (a closing fence with text after it swallows the rest of the page into the block)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
OPENING = re.compile(r"^```[A-Za-z0-9_+-]*$")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_code_fence_stands_on_its_own_line_and_closes(page: Path) -> None:
    inside = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.lstrip().startswith("```"):
            continue
        fence = line.strip()
        if inside:
            assert fence == "```", f"{page.name}:{number}: a closing fence has text after it"
        else:
            assert OPENING.match(fence), f"{page.name}:{number}: an opening fence has text after it"
        inside = not inside
    assert not inside, f"{page.name}: a code fence is never closed"
