"""Helpers for the browser tests: the shop the buyer returns to, and page actions."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from playwright.async_api import Page

BUYER = "amira@example.com"
SELLER = "atelier.carthage@example.com"


def screenshot_dir() -> Path | None:
    """``$DHMAD_SCREENSHOTS`` as a directory, created; ``None`` when unset."""
    target = os.environ.get("DHMAD_SCREENSHOTS")
    if not target:
        return None
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Shop:
    """A marketplace on 127.0.0.1: the checkout and OAuth callbacks, and a forged-form page."""

    def __init__(self) -> None:
        self.origin = ""
        self.returns: list[dict[str, list[str]]] = []  # query of every checkout callback
        self.oauth_returns: list[str] = []  # full URL of every OAuth callback
        self.forge_target = ""  # set by a test: where the forged form posts

    @property
    def checkout_callback(self) -> str:
        return f"{self.origin}/checkout/callback?order=1001"

    @property
    def oauth_callback(self) -> str:
        return f"{self.origin}/auth/dhmad/callback"

    async def _checkout(self, request: web.Request) -> web.Response:
        self.returns.append({k: request.query.getall(k) for k in request.query})
        status = request.query.get("status", "?")
        return web.Response(
            text=f"<!doctype html><title>Shop</title><h1 id='shop'>Back at the shop: {status}</h1>",
            content_type="text/html",
        )

    async def _oauth(self, request: web.Request) -> web.Response:
        self.oauth_returns.append(str(request.url))
        return web.Response(
            text="<!doctype html><h1 id='shop'>Signed in</h1>", content_type="text/html"
        )

    async def _forged(self, request: web.Request) -> web.Response:
        # Another origin's page posting to the checkout, as a CSRF attack would.
        return web.Response(
            text=(
                "<!doctype html><title>Win a prize</title>"
                f"<form method='post' action='{self.forge_target}'>"
                "<input type='hidden' name='choice' value='accept'>"
                "<input type='hidden' name='csrf_token' value='guessed'>"
                "<button id='prize'>Claim your prize</button></form>"
            ),
            content_type="text/html",
        )

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[Shop]:
        app = web.Application()
        app.router.add_get("/checkout/callback", self._checkout)
        app.router.add_get("/auth/dhmad/callback", self._oauth)
        app.router.add_get("/prize", self._forged)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield self
        finally:
            await runner.cleanup()


def query(url: str) -> dict[str, list[str]]:
    """The parsed query of ``url``."""
    return parse_qs(urlsplit(url).query)


async def submit(page: Page, button: str, shop: Shop) -> dict[str, list[str]]:
    """Click ``button`` (its visible text) and wait to be back at the shop; the callback query."""
    await page.get_by_role("button", name=button, exact=True).click()
    await page.wait_for_url(shop.origin + "/checkout/callback?**")
    return query(page.url)


class PageGuard:
    """What a page did that it must not: dialogs (a script ran), console errors, far fetches."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []

    def far_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith("http://127.0.0.1:")]
