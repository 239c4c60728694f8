"""The order path and the API stay free of numeric libraries, so they cold-start fast."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

NUMERIC = ("numpy", "pandas", "scipy")


@pytest.mark.parametrize(
    "modules",
    [
        "trading.core.execution",  # risk checks, paper broker, accounting of single orders
        "trading.core.settings, trading.core.strategies, trading.core.config, trading.sdk",
        "handlers.api",
    ],
)
def test_module_imports_no_numeric_library(modules: str) -> None:
    code = (
        f"import sys, {modules}\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {NUMERIC!r})\n"
        "print(','.join(loaded))"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == ""
