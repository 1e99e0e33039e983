"""
The client against the rate-limit unknowns of the docs, end to end over loopback.

The emulator's app is hosted behind one test middleware that plays what the
docs allow and the emulator does not do on its own: a block answered only by a
``{"retryAfter": 3600}`` body (unit unstated), absurd ``Retry-After`` values,
and a stalled first request. Time is a :class:`FakeClock` shared by the client
and the emulator, so every wait is exact and nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from emulator_host import Handler, hosted

from dhmad_async import DhmadClient, RateLimit, RateLimitError, RetryPolicy
from dhmad_async.ratelimit import RateLimiter, ServerRateLimit, SlidingWindowLimiter
from dhmad_async.ratelimit._headers import MAX_SERVER_WAIT
from dhmad_async.testing import Emulator, FakeClock, ServerRateLimitOptions

DOCUMENTED_429 = {
    "error": "Too Many Requests",
    "message": "Rate limit exceeded. Please try again later.",
    "retryAfter": 3600,
}


class BlockingServer:
    """While ``blocked``, every API request gets ``reply``; counts what reached the server."""

    def __init__(self, reply: Callable[[], web.Response]) -> None:
        self.reply = reply
        self.blocked = True
        self.refused = 0
        self.passed = 0

    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.blocked:
            self.refused += 1
            return self.reply()
        self.passed += 1
        return await handler(request)

    @property
    def seen(self) -> int:
        """Requests that reached the server, refused or not."""
        return self.refused + self.passed


def body_only_429() -> web.Response:
    """The documented 429: a body with retryAfter, no Retry-After, no rate-limit headers."""
    return web.json_response(DOCUMENTED_429, status=429)


def header_429(value: str) -> Callable[[], web.Response]:
    """A 429 whose Retry-After header is ``value``."""

    def reply() -> web.Response:
        return web.json_response(DOCUMENTED_429, status=429, headers={"Retry-After": value})

    return reply


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run (real I/O over loopback) until ``condition`` holds."""
    async with asyncio.timeout(30):
        # Polling: the conditions mix loopback I/O and fake-clock state; no one event says both.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def clock() -> FakeClock:
    """The one fake clock of the client and the emulator."""
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    """An emulator on the fake clock (hosted by each test, not started here)."""
    return Emulator(clock=clock)


@pytest.fixture
async def clients() -> AsyncIterator[list[DhmadClient]]:
    """Clients to close after the test."""
    made: list[DhmadClient] = []
    yield made
    for client in made:
        await client.aclose()


def make_client(
    emu: Emulator,
    base_url: str,
    clock: FakeClock,
    clients: list[DhmadClient],
    **rate: Any,
) -> DhmadClient:
    """A client with jitter off on the fake clock."""
    rate.setdefault("pause_jitter", 0.0)
    max_connections = rate.pop("max_connections", 100)
    client = DhmadClient(
        emu.api_key,
        base_url=base_url,
        clock=clock,
        rate_limit=RateLimit(**rate),
        retry=RetryPolicy(wait_jitter=0.0),
        max_connections=max_connections,
    )
    clients.append(client)
    return client


@pytest.mark.parametrize(
    ("reply", "stated"),
    [
        (body_only_429, 3600.0),
        (header_429("1e300"), MAX_SERVER_WAIT),
        (header_429("inf"), MAX_SERVER_WAIT),
        (header_429("Fri, 31 Dec 9999 23:59:59 GMT"), MAX_SERVER_WAIT),
    ],
    ids=["body-3600", "header-1e300", "header-inf", "header-year-9999"],
)
async def test_a_long_429_fails_fast_then_one_probe_finds_the_block_lifted(
    emu: Emulator,
    clock: FakeClock,
    clients: list[DhmadClient],
    reply: Callable[[], web.Response],
    stated: float,
) -> None:
    """
    One 429 asking for an hour (or an absurd wait) no longer locks the client out.

    Calls fail at once without reaching the server; one window later a probe
    is sent, finds the server accepting, and traffic flows again. Before,
    the client refused every call locally for the whole stated wait (for
    ``1e300`` s: for ever) and never asked the server again.
    """
    server = BlockingServer(reply)
    async with hosted(emu, server.middleware) as base_url:
        client = make_client(emu, base_url, clock, clients)
        with pytest.raises(RateLimitError) as first:
            await client.account.me()
        assert first.value.retry_after == pytest.approx(stated)
        server.blocked = False  # e.g. the 3600 was milliseconds after all

        # Within the window: refused locally, fast, nothing sent.
        await clock.advance(30)
        with pytest.raises(RateLimitError, match="max_server_wait"):
            await client.account.me()
        assert server.seen == 1

        # One window after the 429, the next call is the probe; its 200 lifts the pause.
        await clock.advance(30)
        me = await client.account.me()
        assert me.api_key is not None
        await client.account.me()
        assert (server.refused, server.passed) == (1, 2)


async def test_probes_go_one_per_window_while_the_block_lasts(
    emu: Emulator, clock: FakeClock, clients: list[DhmadClient]
) -> None:
    """While the server keeps refusing, exactly one request per window reaches it."""
    server = BlockingServer(body_only_429)
    async with hosted(emu, server.middleware) as base_url:
        client = make_client(emu, base_url, clock, clients)
        for window in range(4):
            for _ in range(5):  # callers keep trying throughout the window
                with pytest.raises(RateLimitError):
                    await client.account.me()
                await clock.advance(12)
            assert server.refused == window + 1
        server.blocked = False
        await clock.advance(60)
        await client.account.me()
        await client.account.me()
        assert server.passed == 2


async def test_body_retry_after_in_milliseconds_is_waited_out_and_retried(
    emu: Emulator, clock: FakeClock, clients: list[DhmadClient]
) -> None:
    """With retry_after_unit="milliseconds", 3600 means 3.6 s: the call waits and succeeds."""
    server = BlockingServer(body_only_429)
    async with hosted(emu, server.middleware) as base_url:
        client = make_client(emu, base_url, clock, clients, retry_after_unit="milliseconds")
        call = asyncio.create_task(client.account.me())
        await until(lambda: clock.pending_sleepers == 1)  # the retry loop waits out the 429
        assert server.refused == 1
        server.blocked = False
        await clock.advance(3.5)
        await asyncio.sleep(0.05)  # real I/O time for anything the clock let through
        assert not call.done() and server.passed == 0
        await clock.advance(0.1)
        await until(call.done)
        assert call.result().api_key is not None
        assert server.passed == 1


class CountingLimiter:
    """A real limiter that counts admissions and answers (to know when nothing is in flight)."""

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.admitted = 0
        self.observed = 0

    async def acquire(self) -> None:
        await self.inner.acquire()
        self.admitted += 1

    async def observe(self, info: ServerRateLimit) -> None:
        self.observed += 1
        await self.inner.observe(info)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_requests_are_counted_when_a_connection_is_free_not_before_the_pool_wait(
    clock: FakeClock, clients: list[DhmadClient]
) -> None:
    """
    After a stall, the backlog does not go out back to back into a 429.

    One connection, a budget of 2 per 10 s matching the server's. The first
    request stalls for 25 s; three more wait for the connection meanwhile.
    Before, the limiter admitted them while they queued for the pool (at 0
    and 10 s), so all three left together when the stall ended and the
    server refused the third. Now a request is admitted once it holds the
    connection, so it leaves when the limiter says.
    """
    emu = Emulator(clock=clock, rate_limit=ServerRateLimitOptions(limit=2, window=10.0))
    release = asyncio.Event()
    arrived: list[float] = []

    async def stall_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived.append(clock.monotonic())
        if len(arrived) == 1:
            await release.wait()
        return await handler(request)

    policy = RateLimit(requests=2, per=10.0, burst=2, margin=0.0, pause_jitter=0.0)
    limiter = CountingLimiter(SlidingWindowLimiter(policy, clock=clock))
    # The server counts the stalled request when it arrives (inside its own limiter).
    async with hosted(emu, stall_first, inside=True) as base_url:
        client = DhmadClient(
            emu.api_key,
            base_url=base_url,
            clock=clock,
            rate_limit=limiter,
            retry=RetryPolicy.disabled(),  # a 429 must surface, not be retried away
            max_connections=1,
        )
        clients.append(client)
        calls = [asyncio.create_task(client.account.me()) for _ in range(4)]
        await until(lambda: len(arrived) == 1)
        for _ in range(25):  # the stall: 25 s pass while the first request hangs
            await clock.advance(1)
        release.set()

        def settled() -> bool:
            # Everything answered, or waiting on the clock with nothing in flight.
            idle = limiter.admitted == limiter.observed and clock.pending_sleepers > 0
            return all(call.done() for call in calls) or idle

        for _ in range(100):
            await until(settled)
            if all(call.done() for call in calls):
                break
            await clock.advance(1)
        results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(arrived) == 4
    assert emu.rate_limiter.rejected == 0
    assert emu.rate_limiter.max_in_any_window() <= 2
