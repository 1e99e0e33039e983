"""Documented defaults and rules, held to their exact values through the client (no real time).

Each test here pins one number or rule that a plausible bug would move while every
broader test kept passing: the 100-per-minute default budget, the "auto_sign only when
you are the seller" rule, a long ``Retry-After`` waited for in full, and a
``CancelledError`` that is never retried, whichever attempt it comes from.
"""

from __future__ import annotations

import asyncio

import pytest
from client_fakes import (
    SANDBOX_KEY,
    InstantClock,
    RecordingTransport,
    Sent,
    make_client,
    response,
    sample,
)

from dhmad_async import (
    APIConnectionError,
    DhmadClient,
    InvalidParamsError,
    RateLimit,
    RetryPolicy,
)
from dhmad_async._config import DEFAULT_RATE_LIMIT
from dhmad_async._transport import RawResponse
from dhmad_async.resources.escrows import EscrowParams
from dhmad_async.testing import FakeClock

# -- the default budget: 100 requests per 60 s ----------------------------------------------


def test_default_rate_limit_is_the_documented_100_per_minute() -> None:
    """DHMAD allows 100 requests per minute per IP: the default budget is exactly that."""
    assert (RateLimit().requests, RateLimit().per) == (100, 60.0)
    assert DEFAULT_RATE_LIMIT == RateLimit()


async def test_default_client_sends_at_most_100_requests_in_any_counted_window() -> None:
    """A default client under overload sends exactly 100 in the first 61 s, then no faster.

    Times come from the FakeClock the client runs on, so the counts are exact.
    """
    clock = FakeClock()
    sent_at: list[float] = []

    def answer(_: Sent) -> RawResponse:
        sent_at.append(clock.monotonic())
        return response(200, sample("me"))

    transport = RecordingTransport(answer)
    client = DhmadClient(SANDBOX_KEY, transport=transport, clock=clock)
    async with client:
        calls = [asyncio.create_task(client.account.me()) for _ in range(130)]
        await clock.advance(0)
        # The counted window is per + margin = 61 s: the 101st request waits for the
        # first ones to leave it, however fast the bucket refills.
        await clock.advance(60.9)
        assert len(sent_at) == 100
        await clock.advance(0.1)
        assert len(sent_at) > 100  # the t=0 requests left the window: the budget is reused
        await clock.advance(120)
        await asyncio.gather(*calls)
    assert len(sent_at) == 130
    window = DEFAULT_RATE_LIMIT.counted_window
    for i, start in enumerate(sent_at):
        in_window = [t for t in sent_at[i:] if t < start + window]
        assert len(in_window) <= 100


# -- auto_sign only when you are the seller ---------------------------------------------------


def _standard(**overrides: object) -> EscrowParams:
    fields: dict[str, object] = {
        "title": "Kilim",
        "amount": "250",
        "buyer_email": "buyer@example.com",
        "mode": "standard",
        "contract_terms": "Deliver as described.",
        "estimated_delivery_days": 5,
        "auto_sign": True,
    }
    fields.update(overrides)
    return EscrowParams(**fields)  # type: ignore[arg-type]


def test_auto_sign_with_a_third_party_seller_is_refused() -> None:
    """auto_sign signs as the seller: with seller_email someone else is, so it is an error."""
    _standard().validate()  # we are the seller: allowed
    with pytest.raises(InvalidParamsError) as info:
        _standard(seller_email="seller@example.com").validate()
    assert set(info.value.errors) == {"auto_sign"}
    assert "seller" in info.value.errors["auto_sign"]


async def test_auto_sign_with_a_third_party_seller_sends_nothing() -> None:
    """The client refuses the create before any request leaves."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    async with make_client(transport) as client:
        with pytest.raises(InvalidParamsError):
            await client.escrows.create(
                title="Kilim",
                amount="250",
                buyer_email="buyer@example.com",
                seller_email="seller@example.com",
                contract_terms="Deliver as described.",
                estimated_delivery_days=5,
                auto_sign=True,
            )
    assert transport.sent == []


# -- a long Retry-After is waited for in full ------------------------------------------------


@pytest.mark.parametrize("seconds", [9, 30, 100])
async def test_a_503_retry_after_longer_than_the_backoff_cap_is_waited_in_full(
    seconds: int,
) -> None:
    """Retry-After replaces the backoff even above wait_max (8 s): never less than asked."""
    transport = RecordingTransport().queue(
        response(503, {"error": "busy"}, {"Retry-After": str(seconds)}),
        response(200, sample("me")),
    )
    clock = InstantClock()
    policy = RetryPolicy(attempts=2, wait_jitter=0.0)
    async with make_client(transport, clock=clock, retry=policy) as client:
        await client.account.me()
    assert len(transport.sent) == 2
    assert clock.sleeps == [seconds]


async def test_a_429_retry_after_is_waited_in_full_by_the_limiter_and_the_retry() -> None:
    """A 429 asking for 30 s: the next request leaves 30 s (plus jitter) later, not before."""
    clock = FakeClock()
    sent_at: list[float] = []
    replies = [
        response(429, {"error": "Too Many Requests", "retryAfter": 30}, {"Retry-After": "30"}),
        response(200, sample("me")),
    ]

    def answer(_: Sent) -> RawResponse:
        sent_at.append(clock.monotonic())
        return replies.pop(0)

    transport = RecordingTransport(answer)
    rate_limit = RateLimit(pause_jitter=0.0)
    retry = RetryPolicy(attempts=2, wait_jitter=0.0)
    async with DhmadClient(
        SANDBOX_KEY, transport=transport, clock=clock, rate_limit=rate_limit, retry=retry
    ) as client:
        call = asyncio.create_task(client.account.me())
        await clock.advance(29.9)
        assert len(sent_at) == 1
        await clock.advance(0.2)
        await clock.advance(1.0)  # the limiter's probe may take its turn just after
        await call
    assert len(sent_at) == 2
    assert sent_at[1] - sent_at[0] >= 30.0


# -- CancelledError is final, from any attempt ------------------------------------------------


@pytest.mark.parametrize("failures_before", [0, 1, 2])
async def test_cancelled_error_from_any_attempt_is_not_retried(failures_before: int) -> None:
    """A CancelledError ends the call at once, whether attempt 1, 2 or 3 raised it."""
    failures: list[BaseException] = [
        APIConnectionError("refused", request_sent=False) for _ in range(failures_before)
    ]
    transport = RecordingTransport(response(200, sample("me"))).queue(
        *failures,
        asyncio.CancelledError(),
    )
    async with make_client(transport, retry=RetryPolicy(attempts=5, wait_jitter=0.0)) as client:
        with pytest.raises(asyncio.CancelledError):
            await client.account.me()
    assert len(transport.sent) == failures_before + 1
