"""Browser journeys: Debian's Chromium driven by Playwright against the whole stack (the
e2e `stack` fixture), with the gateway serving the built web app. Every page collects the
console: a console error fails the test that caused it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from crm_kit.paths import REPO_ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which this
# machine's closed network refuses; a fresh profile per context comes from Playwright.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB_DIST = REPO_ROOT / "web" / "dist"
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


# Per module, not per session: Playwright's sync API runs an event loop of its own in this
# thread while it is open, and the asyncio journeys of tests/e2e must not run inside it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` (make test does it "
            "when run as root), or set CHROMIUM to the executable."
        )
    if not (WEB_DIST / "index.html").exists():
        pytest.fail("the web app is not built: run `make web`")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


class ConsoleErrors(list[str]):
    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.append(f"{message.text} ({message.location.get('url')})")


def watched_page(browser: Browser, **context: Any) -> Iterator[Page]:
    """A page of a fresh context (`context`: Playwright's options) that fails the test
    when the page logged a console error."""
    opened_context = browser.new_context(locale="en-GB", **context)
    opened_context.set_default_timeout(15_000)
    opened = opened_context.new_page()
    errors = ConsoleErrors()
    opened.on("console", errors.record)
    opened.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    yield opened
    opened_context.close()
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser, viewport={"width": 1440, "height": 900})
