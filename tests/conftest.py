"""Test-wide settings: CI explores the same hypothesis examples on every run (reproducible),
developers' runs explore new ones."""

from __future__ import annotations

import os

from hypothesis import settings

# Browser fixtures (chromium via Playwright) for every page the platform ships.
pytest_plugins = ["tests.browser"]

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
