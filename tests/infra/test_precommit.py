"""The pre-commit configuration: local hooks on the project's own tools, passing on the tree."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
HOOKS = [hook for repo in CONFIG["repos"] for hook in repo["hooks"]]


def test_every_hook_is_local_and_runs_an_installed_tool() -> None:
    assert [repo["repo"] for repo in CONFIG["repos"]] == ["local"]
    assert {hook["id"] for hook in HOOKS} == {
        "ruff-lint",
        "ruff-format",
        "mypy",
        "cfn-lint",
        "asl-validator",
        "actionlint",
    }
    for hook in HOOKS:
        assert hook["language"] == "system", hook["id"]
        program = shlex.split(hook["entry"])[0]
        assert program in {"bash", "node"} or (ROOT / program).is_file(), program
        assert "--fix" not in hook["entry"], "hooks check, they never rewrite files"


def test_pre_commit_passes_on_the_whole_tree() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    executable = Path(sys.executable).parent / "pre-commit"
    result = subprocess.run(
        [str(executable), "run", "--all-files", "--show-diff-on-failure", "--color", "never"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
