"""Browser fixtures: the system Chromium under Playwright, a local shop, page guards.

Chromium comes from the system package manager (``make test`` installs it when it
can); Playwright never downloads a browser. A missing Chromium fails these tests
loudly: they are never skipped. ``DHMAD_CHROMIUM`` points at another binary.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import PageGuard, Shop, screenshot_dir
from playwright.async_api import Browser, Page, async_playwright

# Read at import: the suite's autouse fixture clears DHMAD_* variables for each test.
CHROMIUM = os.environ.get("DHMAD_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = screenshot_dir()
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test (``-m "not browser"`` deselects them on purpose)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary, or a loud failure that says how to get one."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. The browser tests need it: "
            "`apt-get install chromium` (make test does this when run as root), or set "
            "DHMAD_CHROMIUM to a Chromium binary. See docs/testing.md.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """The marketplace the buyer comes back to, on 127.0.0.1."""
    async with Shop().serve() as running:
        yield running


@pytest.fixture
def dhmad_emulator_options(shop: Shop) -> dict[str, Any]:
    """Real-time emulator (a session lasts 30 real minutes) that knows the shop's OAuth callback."""
    return {"time_scale": 1.0, "oauth_redirect_uris": (shop.oauth_callback,)}


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Headless system Chromium (Playwright gives it a fresh profile directory)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, PageGuard]]:
    """A page in a new context; after the test, nothing ran, failed or left 127.0.0.1."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    guard = PageGuard()
    new_page = await context.new_page()

    async def on_dialog(dialog: Any) -> None:
        guard.dialogs.append(dialog.message)
        await dialog.dismiss()

    new_page.on("dialog", on_dialog)
    new_page.on(
        "console",
        lambda msg: guard.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    new_page.on("request", lambda request: guard.requests.append(request.url))
    try:
        yield new_page, guard
    finally:
        await context.close()
    assert guard.dialogs == [], f"a script ran: {guard.dialogs}"
    # "Failed to load resource" is Chromium noting a 4xx page (a refused form, the missing
    # favicon); anything else in the console (a CSP violation, say) is a failure.
    errors = [e for e in guard.console_errors if not e.startswith("Failed to load resource")]
    assert errors == [], errors
    assert guard.far_requests() == [], guard.far_requests()


@pytest.fixture
def shots() -> Path | None:
    """Where to write documentation screenshots (``DHMAD_SCREENSHOTS=docs/img``), if anywhere."""
    return SCREENSHOTS
