"""
``aclose()`` fails every call still waiting to send, and nothing is sent after it.

Calls waiting on a shared ``RedisRateLimit`` (real Redis), in a retry backoff,
or for a pooled connection all fail with ``ClientClosedError``; the emulator
proves nothing reached it after the close. A limiter the client did not create
stays open unless the client was given ownership.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from client_fakes import RecordingTransport, response, sample

from dhmad_async import (
    ClientClosedError,
    DhmadClient,
    DhmadDeveloperClient,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from dhmad_async._transport import AiohttpTransport
from dhmad_async.ratelimit import RedisRateLimit
from dhmad_async.testing import Emulator, FakeClock

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# One request per minute: after the first call, every other call must wait.
ONE_PER_MINUTE = RateLimit(requests=1, per=60.0, burst=1, margin=0.0, max_wait=None)

CREATE = {
    "title": "Ticket",
    "amount": Decimal("10"),
    "buyer_email": "buyer@example.com",
    "mode": "instant",
}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator on 127.0.0.1."""
    async with Emulator() as e:
        yield e


@pytest.fixture
async def redis_limiter() -> AsyncIterator[tuple[RedisRateLimit, FakeClock]]:
    """A RedisRateLimit on a unique key whose sleeps go through a FakeClock."""
    clock = FakeClock()
    limiter = RedisRateLimit(
        REDIS_URL, key=f"dhmad-close-test:{uuid.uuid4().hex}", policy=ONE_PER_MINUTE, clock=clock
    )
    try:
        yield limiter, clock
    finally:
        await limiter.aclose()
        cleanup = aioredis.Redis.from_url(REDIS_URL)
        await cleanup.delete(*limiter.redis_keys)
        await cleanup.aclose()


async def _until(condition: object, *, timeout: float = 30.0) -> None:
    """Let other tasks (and loopback or Redis I/O) run until ``condition()`` holds.

    The bound is generous real time, not a count of loop turns: a loaded machine may
    need many turns for one round trip, and only a hang should fail here.
    """
    try:
        async with asyncio.timeout(timeout):
            # Polling: the conditions mix I/O and fake-clock state; no one event says both.
            while not condition():  # type: ignore[operator]  # noqa: ASYNC110
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"condition never held within {timeout} s") from None


@pytest.mark.redis
async def test_calls_waiting_on_a_shared_redis_limiter_fail_and_send_nothing(
    emu: Emulator, redis_limiter: tuple[RedisRateLimit, FakeClock]
) -> None:
    """
    Five calls wait on the Redis budget; aclose() fails them all with ClientClosedError.

    Before, they kept waiting, and once the budget allowed it they built a new
    HTTP session and sent after close. Here the budget is then freed and the
    clock moved past the wait: the emulator still sees only the first call.
    """
    limiter, clock = redis_limiter
    client = DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=limiter)
    await client.account.me()
    assert emu.request_count() == 1
    waiting = [asyncio.create_task(client.account.me()) for _ in range(3)]
    waiting += [asyncio.create_task(client.escrows.create(**CREATE)) for _ in range(2)]
    await _until(lambda: clock.pending_sleepers == 1)  # the head polls Redis, the rest queue
    await client.aclose()
    # If anything were still waiting, this would let it through.
    cleanup = aioredis.Redis.from_url(REDIS_URL)
    await cleanup.delete(*limiter.redis_keys)
    await cleanup.aclose()
    await clock.advance(120)
    await _until(lambda: emu.request_count() > 1 or all(t.done() for t in waiting))
    try:
        assert emu.request_count() == 1
        assert all(t.done() for t in waiting)
    finally:
        for task in waiting:
            task.cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results), results
    assert not any(getattr(r, "may_have_succeeded", False) for r in results)
    assert emu.request_count() == 1
    assert len(emu.escrows()) == 0
    # The limiter was handed in, so it is the caller's: still open and usable.
    assert "open" in repr(limiter)
    await limiter.acquire_at()


@pytest.mark.redis
async def test_own_rate_limit_hands_the_limiter_to_the_client(emu: Emulator) -> None:
    """``own_rate_limit=True``: the README's one-liner closes its Redis limiter on aclose()."""
    key = f"dhmad-close-test:{uuid.uuid4().hex}"
    limiter = RedisRateLimit(REDIS_URL, key=key)
    async with DhmadClient(
        emu.api_key, base_url=emu.base_url, rate_limit=limiter, own_rate_limit=True
    ) as client:
        await client.account.me()
    assert "closed" in repr(limiter)
    with pytest.raises(ClientClosedError):
        await limiter.acquire()
    cleanup = aioredis.Redis.from_url(REDIS_URL)
    await cleanup.delete(*limiter.redis_keys)
    await cleanup.aclose()


async def test_a_shared_local_limiter_is_not_closed_by_the_client(emu: Emulator) -> None:
    """Two clients sharing one limiter: closing one leaves the other working."""
    from dhmad_async.ratelimit import create_limiter

    shared = create_limiter(RateLimit())
    first = DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=shared)
    second = DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url, rate_limit=shared)
    await first.account.me()
    await first.aclose()
    await second.webhooks.list()
    await second.aclose()
    await shared.acquire()  # still open
    await shared.aclose()


async def test_a_call_in_retry_backoff_fails_when_the_client_closes() -> None:
    """A call sleeping before its next attempt fails at once, without that attempt."""
    clock = FakeClock()
    transport = RecordingTransport(response(503, {"error": "Service Unavailable"}))
    client = DhmadClient(
        "sk_sandbox_" + "0" * 64,
        transport=transport,
        rate_limit=RateLimit.disabled(),
        retry=RetryPolicy(attempts=5, wait_initial=30, wait_jitter=0),
        clock=clock,
    )
    call = asyncio.create_task(client.account.me())
    await _until(lambda: clock.pending_sleepers == 1)
    await client.aclose()
    await clock.advance(3600)  # were it still sleeping, its next attempt would go now
    await _until(call.done)
    assert len(transport.sent) == 1
    with pytest.raises(ClientClosedError):
        await call


async def test_a_user_cancellation_stays_a_cancellation() -> None:
    """Cancelling a waiting call yourself raises CancelledError, not ClientClosedError."""
    clock = FakeClock()
    client = DhmadClient(
        "sk_sandbox_" + "0" * 64,
        transport=RecordingTransport(response(200, sample("me"))),
        rate_limit=RateLimit(requests=1, per=60, burst=1),
        clock=clock,
    )
    await client.account.me()
    mine = asyncio.create_task(client.account.me())
    both = asyncio.create_task(client.account.me())
    await _until(lambda: clock.pending_sleepers >= 1)
    await asyncio.sleep(0)
    mine.cancel()
    both.cancel()
    await client.aclose()  # closing while `both` is already being cancelled
    for task in (mine, both):
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, asyncio.Event, list[str]]]:
    """A real HTTP server whose answers wait for an event; records each request path."""
    release = asyncio.Event()
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1", release, seen
    finally:
        release.set()
        await runner.cleanup()


async def test_a_call_waiting_for_a_pooled_connection_fails_cleanly(
    slow_server: tuple[str, asyncio.Event, list[str]],
) -> None:
    """With one connection busy, the queued call fails with ClientClosedError, unsent."""
    base_url, release, seen = slow_server
    client = DhmadClient(
        "sk_sandbox_" + "0" * 64,
        base_url=base_url,
        max_connections=1,
        rate_limit=RateLimit.disabled(),
        retry=RetryPolicy(attempts=1),
        timeout=Timeout(total=30),
    )
    busy = asyncio.create_task(client.account.me())
    await _until(lambda: len(seen) == 1)
    queued = asyncio.create_task(client.escrows.cancel("e1"))
    await asyncio.sleep(0.01)
    await client.aclose()
    release.set()
    with pytest.raises(ClientClosedError) as info:
        await queued
    assert not info.value.may_have_succeeded
    await asyncio.gather(busy, return_exceptions=True)
    assert seen == ["/api/v1/me"]


async def test_a_closed_transport_never_builds_a_new_session() -> None:
    """After aclose(), request() raises ClientClosedError instead of opening a session."""
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(ClientClosedError):
        await transport.request(
            "GET", "http://127.0.0.1:9/api/v1/me", {}, None, timeout=Timeout(total=1)
        )
    assert transport._session is None
