"""'Sign in with DHMAD' in Chromium: the SDK's authorize URL, the consent page, PKCE."""

from __future__ import annotations

from decimal import Decimal

import pytest
from browser_support import BUYER, SELLER, PageGuard, Shop, query
from playwright.async_api import Page, expect

from dhmad_async import BadRequestError, DhmadClient
from dhmad_async.resources import OAuthCallbackError
from dhmad_async.testing import Emulator

Browsing = tuple[Page, PageGuard]


async def _known_buyer(client: DhmadClient) -> None:
    """An escrow makes the buyer one of the emulator's users, listed on the sign-in page."""
    await client.escrows.create(
        title="Kilim",
        amount=Decimal("250"),
        buyer_email=BUYER,
        seller_email=SELLER,
        mode="quick",
        estimated_delivery_days=3,
    )


async def _approve_as(tab: Page, shop: Shop, url: str, email: str) -> str:
    await tab.goto(url)
    await expect(tab.get_by_role("heading", name="Sign in with DHMAD")).to_be_visible()
    await tab.locator(f'input[name="user"][value="{email}"]').check()
    await tab.get_by_role("button", name="Approve", exact=True).click()
    await tab.wait_for_url(shop.oauth_callback + "?**")
    return tab.url


async def test_sign_in_end_to_end_with_pkce(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, page: Browsing, shop: Shop
) -> None:
    tab, _ = page
    await _known_buyer(dhmad_client)
    client_id, client_secret = dhmad_emulator.oauth_client
    request = dhmad_client.oauth.authorization_url(
        client_id=client_id, redirect_uri=shop.oauth_callback
    )
    assert request.code_verifier is not None and "code_challenge=" in request.url
    callback = await _approve_as(tab, shop, request.url, BUYER)
    assert set(query(callback)) == {"code", "state"}
    code = dhmad_client.oauth.parse_callback(callback, expected_state=request.state)
    token = await dhmad_client.oauth.exchange_code(
        code,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=shop.oauth_callback,
        code_verifier=request.code_verifier,
    )
    info = await dhmad_client.oauth.userinfo(token.access_token)
    assert info.email == BUYER and info.sub
    with pytest.raises(BadRequestError) as used:  # a code works once
        await dhmad_client.oauth.exchange_code(
            code,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=shop.oauth_callback,
            code_verifier=request.code_verifier,
        )
    assert used.value.code == "invalid_grant"


async def test_a_code_needs_its_own_verifier(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, page: Browsing, shop: Shop
) -> None:
    tab, _ = page
    client_id, client_secret = dhmad_emulator.oauth_client
    first = dhmad_client.oauth.authorization_url(
        client_id=client_id, redirect_uri=shop.oauth_callback
    )
    other = dhmad_client.oauth.authorization_url(
        client_id=client_id, redirect_uri=shop.oauth_callback
    )
    callback = await _approve_as(tab, shop, first.url, dhmad_emulator.user_email)
    code = dhmad_client.oauth.parse_callback(callback, expected_state=first.state)
    with pytest.raises(BadRequestError) as wrong:
        await dhmad_client.oauth.exchange_code(
            code,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=shop.oauth_callback,
            code_verifier=other.code_verifier,  # an interceptor's guess
        )
    assert wrong.value.code == "invalid_grant"


async def test_deny_comes_back_with_access_denied(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, page: Browsing, shop: Shop
) -> None:
    tab, _ = page
    client_id, _ = dhmad_emulator.oauth_client
    request = dhmad_client.oauth.authorization_url(
        client_id=client_id, redirect_uri=shop.oauth_callback
    )
    await tab.goto(request.url)
    await tab.get_by_role("button", name="Deny", exact=True).click()
    await tab.wait_for_url(shop.oauth_callback + "?**")
    assert query(tab.url) == {"error": ["access_denied"], "state": [request.state]}
    with pytest.raises(OAuthCallbackError) as denied:
        dhmad_client.oauth.parse_callback(tab.url, expected_state=request.state)
    assert denied.value.code == "access_denied"
    assert dhmad_emulator.store.t["oauth_codes"] == {}
