"""Fixtures for the hosted-page tests (the emulator and client come from the dhmad plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pages_support import Browser


@pytest.fixture
async def web() -> AsyncIterator[Browser]:
    """A cookie-keeping HTTP client that shows redirects instead of following them."""
    browser = Browser()
    yield browser
    await browser.aclose()
