"""docs/strategies.md's worked examples, run exactly as the page shows them: each file in
strategies/ equals its code block, each command runs from the project folder (``--out`` in a
temporary folder) and exits 0, and each output line shown is printed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from stp.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "strategies.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str, list[str], list[str]]]:
    """(file, code, commands, expected lines) of each worked example."""
    text = DOC.read_text()
    found = []
    for section in text.split("\n## Example ")[1:]:
        blocks = BLOCK.findall(section)
        code = next(body for kind, body in blocks if kind == "python")
        path, _, source = code.partition("\n")
        commands = [line for kind, body in blocks if kind == "bash" for line in body.splitlines()]
        expected = [line for kind, body in blocks if kind == "text" for line in body.splitlines()]
        found.append((path.removeprefix("# "), source, commands, expected))
    return found


EXAMPLES = _examples()


def test_the_page_has_three_examples_each_a_shipped_file() -> None:
    assert [e[0] for e in EXAMPLES] == [
        "strategies/breakout.py",
        "strategies/scale_out.py",
        "strategies/dual_momentum.py",
    ]
    for path, source, _, _ in EXAMPLES:
        assert (ROOT / path).read_text() == source, f"{path} differs from docs/strategies.md"


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_example_runs_as_shown(
    example: tuple[str, str, list[str], list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, _, commands, expected = example
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("STP_STRATEGIES", raising=False)  # the project's folder, from the template
    printed = ""
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/stp"
        if "--out" in argv:
            where = argv.index("--out") + 1
            argv[where] = str(tmp_path / argv[where])
        code = main(argv[1:])
        captured = capsys.readouterr()
        assert code == 0, f"{command}: {captured.err[-2000:]}"
        printed += captured.out
    for line in expected:
        assert line in printed.splitlines()
