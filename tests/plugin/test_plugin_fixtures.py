"""The plugin's fixtures in this suite: the scaled client budget and the verifying receiver."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from dhmad_async import DhmadClient, RateLimit
from dhmad_async.testing import Emulator, FakeClock, ServerRateLimitOptions, WebhookOptions
from dhmad_async.testing.pytest_plugin import WebhookInbox, client_rate_limit
from dhmad_async.webhooks import WebhookFailureReason


@pytest.mark.dhmad_emulator(
    clock=FakeClock(), time_scale=60, rate_limit=ServerRateLimitOptions(limit=10)
)
async def test_thirty_requests_take_scaled_windows_not_minutes(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient
) -> None:
    """On one fake clock: 30 requests at 10 per (1 s) window finish in about 2 windows.

    With the default budget (100 per real minute, refilled 100/60 per second) the same
    30 requests would need 12 s; the server would also have answered none with 429.
    """
    clock = dhmad_emulator.clock.source
    assert isinstance(clock, FakeClock)
    window = dhmad_emulator.rate_limiter.window_real
    assert window == 1.0
    start = clock.monotonic()

    async def thirty() -> None:
        for _ in range(30):
            await dhmad_client.account.me()

    task = asyncio.create_task(thirty())
    # Time moves only while the client waits for its budget, in steps far below the
    # limiter's margin, so no request is in flight while the clock jumps.
    while not task.done():
        if clock.pending_sleepers:
            await clock.advance(window / 1000)
        else:
            await asyncio.sleep(0.001)
    await task
    elapsed = clock.monotonic() - start
    assert dhmad_emulator.stats()["rateLimited"] == 0
    assert dhmad_emulator.rate_limiter.max_in_any_window() <= 10
    assert 2 * window <= elapsed <= 3 * window, elapsed


def test_client_rate_limit_follows_the_emulator() -> None:
    emu = Emulator(time_scale=600, rate_limit=ServerRateLimitOptions(limit=7))
    limit = client_rate_limit(emu)
    default = RateLimit()
    assert (limit.requests, limit.per, limit.burst) == (7, 0.1, 7)
    assert limit.effective_margin == default.effective_margin / 600
    assert limit.pause_jitter == default.pause_jitter / 600
    off = Emulator(rate_limit=ServerRateLimitOptions(enabled=False))
    assert client_rate_limit(off).enabled is False


@pytest.mark.dhmad_emulator(webhooks=WebhookOptions(duplicate_rate=1.0))
async def test_the_receiver_keeps_verified_events_once(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: WebhookInbox,
) -> None:
    created = await dhmad_client.escrows.create(
        title="Kilim",
        amount="250",
        buyer_email="buyer@example.com",
        mode="quick",
        seller_email="seller@example.com",
        estimated_delivery_days=3,
    )
    await dhmad_client.escrows.update(created.escrow.id, title="Kilim (red)")
    await dhmad_client.escrows.cancel(created.escrow.id)
    await dhmad_emulator.wait_for_deliveries()
    assert dhmad_webhook_receiver.types() == ["escrow.updated", "escrow.status.updated"]
    assert dhmad_webhook_receiver.duplicates == 2  # every event was sent twice
    [cancelled] = dhmad_webhook_receiver.of_type("escrow.status.updated")
    assert cancelled.escrow is not None and cancelled.escrow.status == "cancelled"
    assert dhmad_webhook_receiver.rejected == []


async def test_the_receiver_refuses_a_forged_delivery(
    dhmad_webhook_receiver: WebhookInbox,
) -> None:
    body = b'{"id":"evt_1","type":"escrow.status.updated","data":{"escrow":{"id":"x"}}}'
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": "0" * 64,
        "X-Webhook-Event": "escrow.status.updated",
        "X-Webhook-Id": "evt_1",
        "X-Webhook-Timestamp": "2020-01-01T00:00:00.000Z",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(dhmad_webhook_receiver.url, data=body, headers=headers) as resp,
    ):
        assert resp.status == 401
    assert dhmad_webhook_receiver.events == []
    assert len(dhmad_webhook_receiver.rejected) == 1
    assert isinstance(dhmad_webhook_receiver.rejected[0], WebhookFailureReason)
    with pytest.raises(AssertionError, match="rejected"):
        await dhmad_webhook_receiver.wait_for("escrow.status.updated", timeout=0.05)
