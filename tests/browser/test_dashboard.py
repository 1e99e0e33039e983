"""The dashboard in Chromium after a subset of the demo's marketplace day."""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal
from pathlib import Path

from browser_support import PageGuard
from playwright.async_api import Page, expect

from dhmad_async import DhmadClient
from dhmad_async._demo import SELLER, _orders, _session
from dhmad_async.testing import Emulator
from dhmad_async.testing.pytest_plugin import WebhookInbox, client_rate_limit

Browsing = tuple[Page, PageGuard]


async def _marketplace_day(emu: Emulator, client: DhmadClient) -> None:
    """The demo's steps 3 and 5-8 on twelve orders: every mode, every kind of ending."""
    created = await asyncio.gather(*(client.escrows.create_from(p) for p in _orders(12)))
    escrows = [c.escrow for c in created]
    standard = [e for e in escrows if e.mode == "standard"]
    quick = [e for e in escrows if e.mode == "quick"]
    instant = [e for e in escrows if e.mode == "instant"]

    done = standard[0]
    buyer = str(done.buyer_email)
    for action, who in (
        ("sign_contract", emu.user_email),
        ("sign_contract", buyer),
        ("accept_pay", buyer),
    ):
        await _session(client, emu, done.id, action, who)
    await client.escrows.deliver(done.id)
    await _session(client, emu, done.id, "complete", buyer)

    fast = instant[0]
    await _session(client, emu, fast.id, "accept_pay", str(fast.buyer_email))
    await client.escrows.deliver(fast.id)

    seller_key = emu.create_api_key(user_email=SELLER)
    async with DhmadClient(
        seller_key.key, base_url=emu.base_url, rate_limit=client_rate_limit(emu)
    ) as seller:
        bought = await client.escrows.create(
            title="Olive wood bowls for our shop",
            amount=Decimal("340.000"),
            buyer_email=emu.user_email,
            seller_email=SELLER,
            mode="quick",
            estimated_delivery_days=4,
        )
        await _session(client, emu, bought.escrow.id, "accept_pay", emu.user_email)
        await seller.escrows.deliver(bought.escrow.id)
    await client.escrows.reject_delivery(bought.escrow.id, reason="Two bowls arrived cracked.")
    await client.escrows.cancel(quick[0].id)
    await client.escrows.update(standard[1].id, title="Handwoven kilim (large)")
    await emu.wait_for_deliveries()


def _in_window(emu: Emulator) -> int:
    limiter = emu.rate_limiter
    start = emu.clock.monotonic() - limiter.window_real
    return sum(1 for t in limiter.admitted if t > start)


async def test_dashboard_shows_the_marketplace_day(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
    page: Browsing,
    shots: Path | None,
) -> None:
    tab, _ = page
    emu = dhmad_emulator
    await _marketplace_day(emu, dhmad_client)
    escrows = emu.escrows()
    deliveries = emu.outbox.deliveries
    assert deliveries and all(d.status == 200 for d in deliveries)

    before = _in_window(emu)
    await tab.goto(emu.dashboard_url)
    after = _in_window(emu)
    if shots is not None:
        await tab.set_viewport_size({"width": 1280, "height": 1500})
        await tab.screenshot(path=str(shots / "dashboard.png"))

    # Escrows: one row each, with its status, newest first.
    rows = tab.locator("#escrows tbody tr")
    await expect(rows).to_have_count(len(escrows))
    assert await rows.evaluate_all("rs => rs.map(r => r.dataset.escrowId)") == [
        e["id"] for e in escrows
    ]
    for esc in escrows:
        row = tab.locator(f'#escrows tr[data-escrow-id="{esc["id"]}"]')
        await expect(row.locator(f".badge-{esc['status']}")).to_have_text(esc["status"])
    completed = next(e for e in escrows if e["status"] == "completed" and e["mode"] == "standard")
    history = tab.locator(f'#escrows tr[data-escrow-id="{completed["id"]}"] details')
    await history.locator("summary").click()
    await expect(history.locator("li")).to_have_count(6)  # created, 2 signatures, 3 statuses
    counts = collections.Counter(e["status"] for e in escrows)
    label = await tab.locator("#status-chart").get_attribute("aria-label")
    assert label is not None
    for status, n in counts.items():
        assert f"{n} {status}" in label

    # Sessions and deliveries: every one, with signature, attempt and response.
    await expect(tab.locator("#sessions tbody tr")).to_have_count(len(emu.store.t["sessions"]))
    delivery_rows = tab.locator("#deliveries tbody tr")
    await expect(delivery_rows).to_have_count(len(deliveries))
    last = deliveries[-1]
    first_row = delivery_rows.first
    assert await first_row.get_attribute("data-event-id") == last.event_id
    await expect(first_row.locator(".signature")).to_have_attribute("title", last.signature)
    await expect(first_row.locator(".badge-ok")).to_have_text("200")
    assert dhmad_webhook_receiver.rejected == []
    assert len(dhmad_webhook_receiver.events) == len({d.event_id for d in deliveries})

    # The rate-limit window: this test's requests, drawn against the limit of 100.
    window = tab.locator("#rate-window")
    shown = int(await window.get_attribute("data-in-window") or -1)
    # Loading the page is no API request (not even a favicon), so the count stays put.
    assert after <= shown <= before and shown > 0
    assert await window.get_attribute("data-limit") == "100"
    await expect(window).to_have_attribute(
        "aria-label", f"{shown} of 100 requests in the current window"
    )
