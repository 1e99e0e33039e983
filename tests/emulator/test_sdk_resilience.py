"""The SDK under the emulator's faults, its 429s (every header style) and long pagination.

Real HTTP on 127.0.0.1; the emulator's counters prove how many attempts reached the server.
Rate-limit tests run the emulator and the client on one FakeClock (``time_scale=60``: a
one-second window), slow answers are held by a gate until the client gave up: nothing
here depends on how fast the machine is.
Every test runs once per emulator profile (the ``fidelity`` fixture of conftest.py).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from emulator_support import CountingLimiter, Gate, gated, run_on_fake_clock

from dhmad_async import (
    APIConnectionError,
    APITimeoutError,
    DhmadClient,
    InternalServerError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    Timeout,
)
from dhmad_async.ratelimit import SlidingWindowLimiter
from dhmad_async.testing import Emulator, FakeClock, FaultRule, Fidelity, ServerRateLimitOptions

ME = "/api/v1/me"
ESCROWS = "/api/v1/escrows"
NO_SERVER_LIMIT = ServerRateLimitOptions(enabled=False)
# Fast, deterministic retries: tiny backoff, no jitter.
FAST_RETRY = RetryPolicy(attempts=6, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


def _client(emu: Emulator, **options: object) -> DhmadClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_limit", RateLimit.disabled())
    if "base_url" not in options:  # a gated test serves the emulator's app itself
        options["base_url"] = emu.base_url
    return DhmadClient(emu.api_key, **options)  # type: ignore[arg-type]


async def _create(client: DhmadClient, title: str = "Website") -> str:
    created = await client.escrows.create(
        title=title,
        amount=Decimal("100"),
        buyer_email="buyer@example.com",
        contract_terms="Deliver.",
        estimated_delivery_days=3,
    )
    return created.escrow.id


# -- faults: idempotent GETs are retried ------------------------------------------------------


@pytest.mark.parametrize("kind", ["error_502", "error_503", "reset"])
async def test_get_is_retried_through_transient_faults(kind: str, fidelity: Fidelity) -> None:
    """A GET meeting 502, 503 or a reset is retried by the SDK and finally succeeds."""
    # Seeded: with rate 0.5 and seed 3 the first attempts fault, a later one passes.
    rule = FaultRule(method="GET", path=ME, **{kind: 0.5})
    async with Emulator(
        fidelity=fidelity, faults=(rule,), fault_seed=3, rate_limit=NO_SERVER_LIMIT
    ) as emu:
        async with _client(emu) as client:
            me = await client.account.me()
        assert me.api_key is not None
        faults = emu.faults.counts[kind]
        assert faults >= 1
        # Each fault cost one server request; the last one succeeded. (aiohttp itself may
        # resend a GET once on a reset pooled connection: that also reaches the server.)
        assert emu.request_count("GET", ME) == faults + 1


async def test_get_500_is_not_retried_by_default_but_is_when_configured(fidelity: Fidelity) -> None:
    """500 is not in the default retry_statuses; adding it makes the GET retry and succeed."""
    rule = FaultRule(method="GET", path=ME, error_500=1.0, commit_on_500=0.0)
    async with Emulator(fidelity=fidelity, faults=(rule,), rate_limit=NO_SERVER_LIMIT) as emu:
        async with _client(emu) as client:
            with pytest.raises(InternalServerError) as info:
                await client.account.me()
        assert info.value.status == 500 and info.value.code == "Internal Server Error"
        assert emu.request_count("GET", ME) == 1
        emu.set_faults(FaultRule(method="GET", path=ME, error_500=0.5, commit_on_500=0.0), seed=3)
        statuses = frozenset((500, 502, 503, 504, 429))
        policy = RetryPolicy(
            attempts=6,
            wait_initial=0.01,
            wait_max=0.02,
            wait_jitter=0.0,
            retry_statuses=statuses,
        )
        async with _client(emu, retry=policy) as client:
            assert (await client.account.me()).api_key is not None
        assert emu.faults.counts["error_500"] >= 2


async def test_slow_response_hits_the_attempt_timeout(fidelity: Fidelity) -> None:
    """A response slower than Timeout(total=...) raises APITimeoutError after every attempt.

    The server holds the answer until the client has given up (a gate, not a sleep),
    so no fast path can race the timeout; the timeout is long enough that every
    attempt reaches the server first, even on a loaded machine.
    """
    gate = Gate("GET", ME)
    emu = Emulator(fidelity=fidelity, rate_limit=NO_SERVER_LIMIT)
    async with gated(emu, gate) as base_url:
        policy = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0)
        async with _client(
            emu, base_url=base_url, retry=policy, timeout=Timeout(total=1.0)
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.account.me()
        assert info.value.may_have_succeeded is False  # a GET has nothing to double
        assert gate.arrived == emu.request_count("GET", ME) == 2  # the timeout was retried once


# -- faults: a POST create is never resent blindly ----------------------------------------------


async def test_lost_response_on_create_is_ambiguous_and_not_retried(fidelity: Fidelity) -> None:
    """Lost response after commit: may_have_succeeded, one attempt, the escrow exists."""
    rule = FaultRule(method="POST", path=ESCROWS, lost_response=1.0)
    async with (
        Emulator(fidelity=fidelity, faults=(rule,), rate_limit=NO_SERVER_LIMIT) as emu,
        _client(emu) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await _create(client, "Lost")
        err = info.value
        assert err.may_have_succeeded is True and err.request_sent is None
        assert "may have been processed" in str(err)
        assert emu.request_count("POST", ESCROWS) == 1
        committed = emu.faults.committed_under_lost_response
        assert len(committed) == 1
        # What the error tells the caller to do: look before re-sending.
        listed = [e async for e in client.escrows.list()]
        assert [e.id for e in listed] == committed and listed[0].title == "Lost"


@pytest.mark.parametrize("commit", [1.0, 0.0])
async def test_500_on_create_is_ambiguous_and_not_retried(
    commit: float, fidelity: Fidelity
) -> None:
    """A 500 on create raises with may_have_succeeded, one attempt, whether or not it committed."""
    rule = FaultRule(method="POST", path=ESCROWS, error_500=1.0, commit_on_500=commit)
    async with Emulator(fidelity=fidelity, faults=(rule,), rate_limit=NO_SERVER_LIMIT) as emu:
        async with _client(emu) as client:
            with pytest.raises(InternalServerError) as info:
                await _create(client)
        assert info.value.status == 500 and info.value.may_have_succeeded is True
        assert emu.request_count("POST", ESCROWS) == 1
        assert len(emu.faults.committed_under_500) == len(emu.escrows()) == int(commit)


@pytest.mark.parametrize(("kind", "status"), [("error_502", 502), ("error_503", 503)])
async def test_gateway_errors_on_create_are_not_retried(
    kind: str, status: int, fidelity: Fidelity
) -> None:
    """502 (HTML page) and 503 on a POST are raised, not retried, and flagged ambiguous."""
    rule = FaultRule(method="POST", path=ESCROWS, **{kind: 1.0})
    async with Emulator(fidelity=fidelity, faults=(rule,), rate_limit=NO_SERVER_LIMIT) as emu:
        async with _client(emu) as client:
            with pytest.raises(InternalServerError) as info:
                await _create(client)
        assert info.value.status == status and info.value.may_have_succeeded is True
        assert "<html" not in str(info.value)  # the gateway's HTML page is not echoed
        assert emu.request_count("POST", ESCROWS) == 1 and emu.escrows() == []


async def test_reset_on_create_is_not_retried(fidelity: Fidelity) -> None:
    """A reset after the POST reached the server is ambiguous (request_sent unknown): no resend.

    The emulator closes the connection before handling, so nothing was created; the SDK
    cannot know that, so it must not retry (aiohttp does not resend a POST either).
    """
    rule = FaultRule(method="POST", path=ESCROWS, reset=1.0)
    async with Emulator(fidelity=fidelity, faults=(rule,), rate_limit=NO_SERVER_LIMIT) as emu:
        async with _client(emu) as client:
            with pytest.raises(APIConnectionError) as info:
                await _create(client)
        assert info.value.request_sent is None and info.value.may_have_succeeded is True
        assert emu.request_count("POST", ESCROWS) == 1 and emu.escrows() == []


async def test_slow_create_times_out_as_ambiguous(fidelity: Fidelity) -> None:
    """A create slower than the timeout raises APITimeoutError, flagged, sent only once.

    The server holds the create until the client has timed out (a gate: no answer can
    beat the timeout), then commits it: the flag is right, the escrow does exist.
    """
    gate = Gate("POST", ESCROWS)
    emu = Emulator(fidelity=fidelity, rate_limit=NO_SERVER_LIMIT)
    async with gated(emu, gate) as base_url:
        async with _client(emu, base_url=base_url, timeout=Timeout(total=1.0)) as client:
            with pytest.raises(APITimeoutError) as info:
                await _create(client)
        assert info.value.may_have_succeeded is True
        assert gate.arrived == emu.request_count("POST", ESCROWS) == 1


# -- pagination -------------------------------------------------------------------------------


async def test_pagination_across_many_pages_with_filters(fidelity: Fidelity) -> None:
    """230 escrows: every page carries status and role filters; items are complete and unique."""
    async with (
        Emulator(fidelity=fidelity, rate_limit=NO_SERVER_LIMIT) as emu,
        _client(emu) as client,
    ):
        expected: list[str] = []  # role=buyer, status=pending, newest first at the end
        for n in range(230):
            if n % 2 == 0:  # we are the seller
                escrow_id = await _create(client, f"S{n}")
            else:  # we are the buyer, from a third-party seller
                created = await client.escrows.create(
                    title=f"B{n}", amount="50", buyer_email=emu.user_email,
                    seller_email="seller@example.com", mode="quick", estimated_delivery_days=2,
                )  # fmt: skip
                escrow_id = created.escrow.id
            if n % 5 == 0:
                await client.escrows.cancel(escrow_id)
            elif n % 2 == 1:
                expected.append(escrow_id)
        expected.reverse()
        listed_before = emu.request_count("GET", ESCROWS)
        listing = client.escrows.list(status="pending", role="buyer", limit=20)
        pages = [p async for p in listing.pages()]
        assert [p.pagination.page for p in pages] == [1, 2, 3, 4, 5]
        assert pages[0].pagination.total == len(expected) == 92
        ids = [e.id for p in pages for e in p.escrows]
        # Had any page been fetched without a filter, seller-side or cancelled escrows
        # would appear here (they are interleaved with the matching ones).
        assert ids == expected
        assert all(e.status == "pending" for p in pages for e in p.escrows)
        assert emu.request_count("GET", ESCROWS) - listed_before == 5
        everything = [e.id async for e in client.escrows.list(limit=50)]
        assert len(everything) == len(set(everything)) == 230


# -- 429 handling -----------------------------------------------------------------------------

STYLES = [
    # The profile's own choice: documented sends only the body's retryAfter (seconds),
    # generous X-RateLimit-* and Retry-After.
    ServerRateLimitOptions(limit=4),
    ServerRateLimitOptions(limit=4, headers="x-ratelimit", reset="delta"),
    ServerRateLimitOptions(limit=4, headers="x-ratelimit", reset="epoch"),
    ServerRateLimitOptions(limit=4, headers="x-ratelimit", reset="epoch-ms"),
    ServerRateLimitOptions(limit=4, headers="ietf"),
    ServerRateLimitOptions(limit=4, headers="ietf-combined"),
    ServerRateLimitOptions(limit=4, headers="retry-after"),
    ServerRateLimitOptions(limit=4, headers="none"),  # only the body's retryAfter
]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"{s.headers}-{s.reset}")
async def test_429s_are_absorbed_and_pause_every_task(
    style: ServerRateLimitOptions, fidelity: Fidelity
) -> None:
    """A client limiter larger than the server's meets 429s, pauses, and completes all calls.

    One FakeClock for the emulator and the client, moved only while nothing is in
    flight: every window and pause below is exact, whatever the machine's load.
    """
    clock = FakeClock()
    async with Emulator(
        fidelity=fidelity, time_scale=60, clock=clock, rate_limit=style
    ) as emu:  # window: 1 (fake) second
        too_generous = RateLimit(requests=50, per=1.0, burst=50, margin=0.0, pause_jitter=0.05)
        counting = CountingLimiter(SlidingWindowLimiter(too_generous, clock=clock))
        policy = RetryPolicy(attempts=8, wait_initial=0.05, wait_max=0.2, wait_jitter=0.05)
        async with _client(emu, rate_limit=counting, retry=policy, clock=clock) as client:
            calls = [asyncio.create_task(client.account.me()) for _ in range(8)]
            await run_on_fake_clock(clock, counting, calls, step=0.01)
        results = [call.result() for call in calls]
        assert len(results) == 8 and all(r.api_key is not None for r in results)
        limiter = emu.rate_limiter
        # Only the requests already sent when the first 429 came back were refused.
        assert 1 <= limiter.rejected <= 4
        assert len(limiter.admitted) == 8 and limiter.max_in_any_window() <= 4
        # After the first 429 (a wait of one window) nothing reached the server for a window.
        first_429 = limiter.rejected_at[0]
        later = [t for t in limiter.admitted if t > first_429]
        assert later and min(later) >= first_429 + limiter.window_real


async def test_right_sized_client_limiter_gives_no_429s(fidelity: Fidelity) -> None:
    """With the client budget at the server's limit, a burst of calls meets zero 429s.

    Emulator and client share one FakeClock that moves only while no request is in
    flight, in steps below the margin: the server sees exactly the limiter's pacing,
    so zero 429s holds on any machine (real-time pacing is benchmarks' business).
    """
    clock = FakeClock()
    options = ServerRateLimitOptions(limit=5, headers="x-ratelimit")
    async with Emulator(fidelity=fidelity, time_scale=60, clock=clock, rate_limit=options) as emu:
        right = RateLimit(requests=5, per=1.0, burst=5, margin=0.05)
        counting = CountingLimiter(SlidingWindowLimiter(right, clock=clock))
        async with _client(emu, rate_limit=counting, clock=clock) as client:
            calls = [asyncio.create_task(client.account.me()) for _ in range(12)]
            await run_on_fake_clock(clock, counting, calls, step=0.01)
        assert emu.stats()["rateLimited"] == 0 and emu.stats()["admitted"] == 12
        assert emu.rate_limiter.max_in_any_window() == 5  # the budget was used to the full
        # 12 calls at 5 per window: the last two waited for the third window.
        assert clock.monotonic() >= 2 * right.counted_window


async def test_retry_after_beyond_max_server_wait_raises(fidelity: Fidelity) -> None:
    """A Retry-After longer than RateLimit(max_server_wait=...) raises RateLimitError at once."""
    options = ServerRateLimitOptions(limit=2, headers="retry-after")
    async with Emulator(fidelity=fidelity, rate_limit=options) as emu:  # unscaled: a 60 s window
        impatient = RateLimit(requests=50, per=1.0, burst=50, max_server_wait=5.0)
        async with _client(emu, rate_limit=impatient) as client:
            await client.account.me()
            await client.account.me()
            with pytest.raises(RateLimitError) as info:
                await client.account.me()
            assert info.value.status == 429 and info.value.retry_after is not None
            assert info.value.retry_after > 5.0
            # The pause is now longer than we accept: the next call fails fast too,
            # without reaching the server.
            with pytest.raises(RateLimitError):
                await client.account.me()
        assert emu.rate_limiter.rejected == 1 and emu.request_count("GET", ME) == 3
