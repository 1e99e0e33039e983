"""Hostile input renders as text and runs nothing; a form posted from another page is refused."""

from __future__ import annotations

from decimal import Decimal

from browser_support import BUYER, SELLER, PageGuard, Shop
from playwright.async_api import Page, expect

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator

Browsing = tuple[Page, PageGuard]
NASTY = '<script>alert("title")</script><img src=x onerror="alert(\'img\')">'


async def test_a_script_in_the_title_renders_as_text_on_every_page(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, page: Browsing, shop: Shop
) -> None:
    tab, guard = page
    created = await dhmad_client.escrows.create(
        title="Kilim " + NASTY,
        amount=Decimal("120"),
        buyer_email=BUYER,
        mode="standard",
        contract_terms="Terms " + NASTY,
        estimated_delivery_days=5,
    )
    session = await dhmad_client.checkout_sessions.create(
        created.escrow.id,
        action="sign_contract",
        target_user_email=BUYER,
        redirect_url=shop.checkout_callback,
    )
    for url in (session.url, dhmad_emulator.dashboard_url):
        await tab.goto(url)
        # The title is there, character for character, as text ...
        await expect(tab.get_by_text("Kilim " + NASTY, exact=True).first).to_be_visible()
        # ... and the markup in it became no element: no script, no image, no handler.
        assert await tab.locator("script").count() == 0
        assert await tab.locator("img").count() == 0
        assert await tab.locator("[onerror]").count() == 0
    await expect(tab.get_by_text("Terms " + NASTY)).to_have_count(0)  # not on the dashboard
    await tab.goto(session.url)
    await expect(tab.locator("#contract-terms")).to_have_text("Terms " + NASTY)
    assert guard.dialogs == []  # the page fixture also fails the test on any dialog


async def test_a_form_posted_from_another_page_is_refused_and_changes_nothing(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, page: Browsing, shop: Shop
) -> None:
    tab, _ = page
    created = await dhmad_client.escrows.create(
        title="Ceramic set",
        amount=Decimal("95"),
        buyer_email=BUYER,
        seller_email=SELLER,
        mode="quick",
        estimated_delivery_days=3,
    )
    session = await dhmad_client.checkout_sessions.create(
        created.escrow.id,
        action="accept_pay",
        target_user_email=BUYER,
        redirect_url=shop.checkout_callback,
    )
    # The buyer has the real page open (so the browser holds the emulator's cookie) ...
    await tab.goto(session.url)
    # ... and is lured to a page that posts to the checkout with a guessed token.
    shop.forge_target = session.url
    await tab.goto(shop.origin + "/prize")
    await tab.get_by_role("button", name="Claim your prize").click()
    await expect(tab.get_by_role("heading", name="Form refused")).to_be_visible()
    # A POST straight from the browser's request context, with its cookies, no token:
    refused = await tab.request.post(session.url, form={"choice": "accept"})
    assert refused.status == 403
    assert (await dhmad_client.escrows.get(created.escrow.id)).status == "pending"
    assert (await dhmad_client.checkout_sessions.get(session.session_id)).status == "pending"
    assert dhmad_emulator.outbox.events == []
    assert shop.returns == []
    # The real page still works afterwards.
    await tab.goto(session.url)
    await tab.get_by_role("button", name="Accept & pay 95.000 TND").click()
    await tab.wait_for_url(shop.origin + "/checkout/callback?**")
    assert (await dhmad_client.escrows.get(created.escrow.id)).status == "paid"


async def test_pages_declare_a_policy_that_forbids_scripts(
    dhmad_emulator: Emulator, page: Browsing
) -> None:
    tab, _ = page
    response = await tab.goto(dhmad_emulator.dashboard_url)
    assert response is not None
    policy = await response.header_value("content-security-policy")
    assert policy is not None and "default-src 'none'" in policy and "script-src" not in policy
