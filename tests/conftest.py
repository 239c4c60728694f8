"""Test-wide settings: CI explores the same hypothesis examples on every run (reproducible),
developers' runs explore new ones."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
