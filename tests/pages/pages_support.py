"""Helpers for the hosted-page tests: a cookie-keeping HTTP browser stand-in and escrow setup."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from dhmad_async import DhmadClient

BUYER = "buyer@example.com"
SELLER = "seller@example.com"
SHOP = "http://127.0.0.1:3000/checkout/callback?order=42"
_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def token_of(html: str) -> str:
    """The first CSRF token in a page."""
    match = _TOKEN.search(html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def query_of(url: str) -> dict[str, list[str]]:
    """The parsed query string of ``url``."""
    return parse_qs(urlsplit(url).query)


async def quick_escrow(client: DhmadClient, **fields: Any) -> str:
    """A quick escrow between BUYER and SELLER; returns its id."""
    params: dict[str, Any] = {
        "title": "Ceramic set",
        "amount": Decimal("250"),
        "buyer_email": BUYER,
        "seller_email": SELLER,
        "mode": "quick",
        "estimated_delivery_days": 3,
    }
    params.update(fields)
    created = await client.escrows.create(**params)
    return created.escrow.id


async def session_url(
    client: DhmadClient, escrow_id: str, action: str, target: str, redirect: str = SHOP
) -> tuple[str, str]:
    """Create a checkout session; returns (session id, hosted page url)."""
    session = await client.checkout_sessions.create(
        escrow_id, action=action, target_user_email=target, redirect_url=redirect
    )
    return session.session_id, session.url


class Browser:
    """An aiohttp session with a cookie jar that does not follow redirects (so tests see them)."""

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, url: str) -> tuple[int, str, dict[str, str]]:
        async with self.http.get(url, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def post(
        self, url: str, data: dict[str, str] | aiohttp.FormData
    ) -> tuple[int, str, dict[str, str]]:
        async with self.http.post(url, data=data, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def aclose(self) -> None:
        await self.http.close()
