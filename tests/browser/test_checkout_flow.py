"""Escrows driven through the hosted checkout pages in Chromium, as buyers and sellers would.

Each page is reached through the session ``url`` the API returned, each submit
must land back at the shop with the documented ``status``, and every webhook is
verified by the plugin's receiver (the SDK's WebhookVerifier, the webhook's secret).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from browser_support import BUYER, SELLER, PageGuard, Shop, query, submit
from playwright.async_api import Page, expect

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator
from dhmad_async.testing.pytest_plugin import WebhookInbox

Browsing = tuple[Page, PageGuard]


async def open_session(
    client: DhmadClient, page: Page, shop: Shop, escrow_id: str, action: str, who: str
) -> str:
    """Create a checkout session for ``who`` and open its hosted page; returns the session id."""
    session = await client.checkout_sessions.create(
        escrow_id, action=action, target_user_email=who, redirect_url=shop.checkout_callback
    )
    assert session.url.startswith("http://127.0.0.1:")  # never a dhmad.tn host
    await page.goto(session.url)
    await expect(page.locator("#escrow-title")).to_be_visible()
    return session.session_id


async def test_standard_escrow_signed_paid_delivered_completed(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
    page: Browsing,
    shop: Shop,
    shots: Path | None,
) -> None:
    tab, _ = page
    seller = dhmad_emulator.user_email  # we sell: the key's associated user
    created = await dhmad_client.escrows.create(
        title="Handwoven kilim, 2 x 3 m",
        amount=Decimal("1250.500"),
        buyer_email=BUYER,
        mode="standard",
        contract_terms="The seller ships within 5 days.\nThe buyer inspects within 3 days.",
        estimated_delivery_days=5,
    )
    escrow_id = created.escrow.id

    # 1. The seller signs on the page.
    sid = await open_session(dhmad_client, tab, shop, escrow_id, "sign_contract", seller)
    await expect(tab.locator("#contract-terms")).to_contain_text("ships within 5 days")
    await tab.get_by_label("I have read the contract terms and accept them").check()
    assert await submit(tab, "Sign contract", shop) == {"order": ["1001"], "status": ["completed"]}
    assert (await dhmad_client.checkout_sessions.get(sid)).status == "completed"

    # 2. The buyer signs.
    await open_session(dhmad_client, tab, shop, escrow_id, "sign_contract", BUYER)
    await expect(tab.get_by_text("seller signed")).to_be_visible()
    await tab.get_by_label("I have read the contract terms and accept them").check()
    assert (await submit(tab, "Sign contract", shop))["status"] == ["completed"]
    contract = await dhmad_client.escrows.contract(escrow_id)
    assert contract.is_fully_signed

    # 3. The buyer accepts and pays.
    await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    await expect(tab.get_by_text("buyer signed")).to_be_visible()
    if shots is not None:
        await tab.screenshot(path=str(shots / "checkout.png"), full_page=True)
    assert (await submit(tab, "Accept & pay 1,250.500 TND", shop))["status"] == ["completed"]
    assert (await dhmad_client.escrows.get(escrow_id)).status == "paid"

    # 4. We deliver through the API; 5. the buyer confirms on the page.
    await dhmad_client.escrows.deliver(escrow_id)
    await open_session(dhmad_client, tab, shop, escrow_id, "complete", BUYER)
    await expect(tab.locator(".badge-delivered")).to_have_text("delivered")
    assert (await submit(tab, "Confirm delivery & release funds", shop))["status"] == ["completed"]
    assert (await dhmad_client.escrows.get(escrow_id)).status == "completed"

    await dhmad_webhook_receiver.wait_for("escrow.status.updated", count=3)
    events = [
        (e.type, e.data.get("contract", {}).get("signedBy") or e.escrow.status)
        for e in dhmad_webhook_receiver.events
        if e.escrow is not None
    ]
    assert events == [
        ("contract.signed", "seller"),
        ("contract.signed", "buyer"),
        ("escrow.status.updated", "paid"),
        ("escrow.status.updated", "delivered"),
        ("escrow.status.updated", "completed"),
    ]
    assert all(
        e.escrow is not None and e.escrow.id == escrow_id for e in dhmad_webhook_receiver.events
    )
    assert dhmad_webhook_receiver.rejected == []
    assert len(shop.returns) == 4  # sign, sign, pay, complete


# A new account has no contract signature (the documented profile's default): this
# merchant configured one in the dashboard, so autoSign can sign for the seller.
@pytest.mark.dhmad_emulator(signature_configured=True)
async def test_standard_escrow_disputed_after_payment(
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
    page: Browsing,
    shop: Shop,
) -> None:
    tab, _ = page
    created = await dhmad_client.escrows.create(
        title="Brass lantern",
        amount=Decimal("180"),
        buyer_email=BUYER,
        mode="standard",
        contract_terms="Lantern as photographed, shipped insured.",
        estimated_delivery_days=4,
        auto_sign=True,  # the seller (us) signs with the dashboard signature
    )
    escrow_id = created.escrow.id
    await open_session(dhmad_client, tab, shop, escrow_id, "sign_contract", BUYER)
    await tab.get_by_label("I have read the contract terms and accept them").check()
    await submit(tab, "Sign contract", shop)
    await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    await submit(tab, "Accept & pay 180.000 TND", shop)

    await open_session(dhmad_client, tab, shop, escrow_id, "dispute", BUYER)
    await tab.get_by_label("What went wrong?").fill("The lantern arrived dented.")
    assert (await submit(tab, "Open dispute", shop))["status"] == ["completed"]

    escrow = await dhmad_client.escrows.get(escrow_id)
    assert escrow.status == "paid"  # a dispute is a ticket, not a status
    assert escrow.dispute_ticket is not None
    assert escrow.dispute_ticket.preview_reason == "The lantern arrived dented."
    await dhmad_webhook_receiver.wait_for("escrow.status.updated")
    assert dhmad_webhook_receiver.types() == [
        "contract.signed",  # the seller's automatic signature
        "contract.signed",
        "escrow.status.updated",
    ]
    # Once disputed, the buyer's page says so instead of offering a second dispute.
    await open_session_expecting_refusal(dhmad_client, tab, shop, escrow_id)


async def open_session_expecting_refusal(
    client: DhmadClient, tab: Page, shop: Shop, escrow_id: str
) -> None:
    """A second dispute is refused when the session is created (a business rule)."""
    from dhmad_async import BadRequestError

    try:
        await client.checkout_sessions.create(
            escrow_id,
            action="dispute",
            target_user_email=BUYER,
            redirect_url=shop.checkout_callback,
        )
    except BadRequestError as exc:
        assert exc.code == "DISPUTE_ALREADY_OPEN"
    else:
        raise AssertionError("a second dispute session was accepted")


async def test_cancellation_requested_by_the_buyer_and_accepted_by_the_seller(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
    page: Browsing,
    shop: Shop,
) -> None:
    tab, _ = page
    created = await dhmad_client.escrows.create(
        title="Olive wood bowls",
        amount=Decimal("340"),
        buyer_email=BUYER,
        seller_email=SELLER,
        mode="quick",
        estimated_delivery_days=4,
    )
    escrow_id = created.escrow.id
    await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    await submit(tab, "Accept & pay 340.000 TND", shop)

    await open_session(dhmad_client, tab, shop, escrow_id, "request_cancellation", BUYER)
    await tab.get_by_label("Reason (optional, shown to the seller)").fill("Ordered twice.")
    await submit(tab, "Request cancellation", shop)
    assert (await dhmad_client.escrows.get(escrow_id)).status == "paid"

    await open_session(dhmad_client, tab, shop, escrow_id, "accept_cancellation", SELLER)
    await expect(tab.locator(".notice")).to_contain_text("Ordered twice.")
    await expect(tab.get_by_role("button", name="Reject cancellation")).to_be_visible()
    await submit(tab, "Accept cancellation & refund buyer", shop)
    assert (await dhmad_client.escrows.get(escrow_id)).status == "cancelled"

    await dhmad_webhook_receiver.wait_for("escrow.cancellation.accepted")
    assert dhmad_webhook_receiver.types() == [
        "escrow.status.updated",  # paid
        "escrow.cancellation.requested",
        "escrow.status.updated",  # cancelled
        "escrow.cancellation.accepted",
    ]


async def test_proof_uploaded_by_the_seller_and_accepted_by_the_buyer(
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
    page: Browsing,
    shop: Shop,
) -> None:
    tab, _ = page
    created = await dhmad_client.escrows.create(
        title="Phone bought for you abroad",
        amount=Decimal("2100"),
        buyer_email=BUYER,
        seller_email=SELLER,
        mode="quick",
        estimated_delivery_days=7,
        fulfillment_policy={"type": "purchase_proof_required", "allowedProofTypes": ["receipt"]},
    )
    escrow_id = created.escrow.id
    await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    await submit(tab, "Accept & pay 2,100.000 TND", shop)

    await open_session(dhmad_client, tab, shop, escrow_id, "submit_proof", SELLER)
    await tab.get_by_label("Proof file").set_input_files(
        files=[{"name": "receipt.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0jpeg"}]
    )
    await tab.get_by_label("Note for the buyer (optional)").fill("Apple Store receipt")
    await submit(tab, "Upload proof", shop)
    proof = await dhmad_client.escrows.proof(escrow_id)
    assert proof.phase == "submitted_waiting_buyer_review"

    await open_session(dhmad_client, tab, shop, escrow_id, "review_proof", BUYER)
    await expect(tab.locator(".notice")).to_contain_text("Apple Store receipt")
    await submit(tab, "Accept proof", shop)
    assert (await dhmad_client.escrows.proof(escrow_id)).phase == "accepted"
    await dhmad_webhook_receiver.wait_for("escrow.proof.accepted")
    assert dhmad_webhook_receiver.types() == [
        "escrow.status.updated",
        "escrow.proof.required",
        "escrow.proof.submitted",
        "escrow.proof.accepted",
    ]


async def test_cancel_and_expired_go_back_to_the_shop(
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
    escrow_id = created.escrow.id
    sid = await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    host = shop.origin.removeprefix("http://")
    assert (await submit(tab, f"Cancel and return to {host}", shop))["status"] == ["cancelled"]
    assert (await dhmad_client.checkout_sessions.get(sid)).status == "cancelled"
    # The link is used up: opening it again shows that, with nothing to click.
    session_url = f"{dhmad_emulator.origin}/checkout/{sid}"
    response = await tab.goto(session_url)
    assert response is not None and response.status == 410
    await expect(tab.get_by_role("heading")).to_have_text("This checkout session was already used")
    assert await tab.locator("form").count() == 0

    sid = await open_session(dhmad_client, tab, shop, escrow_id, "accept_pay", BUYER)
    await dhmad_emulator.advance(31 * 60)
    await tab.reload()
    await expect(tab.get_by_text("This checkout session has expired")).to_be_visible()
    assert (await submit(tab, f"Return to {host}", shop))["status"] == ["expired"]
    assert (await dhmad_client.escrows.get(escrow_id)).status == "pending"
    assert [r["status"] for r in shop.returns] == [["cancelled"], ["expired"]]
    assert query(tab.url)["order"] == ["1001"]
