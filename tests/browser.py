"""Pages we ship, opened in a real browser: Debian's chromium, headless, driven by Playwright.

No browser is downloaded (none can be here): Playwright drives the system's chromium. Where
it is missing, the browser tests skip with a reason that says how to install it; CI
(``.ci/run``) installs it, so there they always run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background connections, no first-run work (TOOLCHAIN.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class OpenedPage:
    """A page loaded in chromium, with what its console and the page itself reported."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Every console error and uncaught exception, in the order they came."""
        return self.console_errors + self.page_errors


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless chromium for the session (skips, saying why, where there is none)."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: `apt-get install -y chromium` runs the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    """``open_page(url_or_path)`` loads a page in a fresh context and records its errors."""
    contexts: list[Any] = []

    def load(target: str | Path, *, width: int = 1400, height: int = 1000) -> OpenedPage:
        url = target.as_uri() if isinstance(target, Path) else target
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        opened = OpenedPage(page)
        page.on(
            "console",
            lambda message: (
                opened.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
        page.goto(url, wait_until="load")
        return opened

    yield load
    for context in contexts:
        context.close()
