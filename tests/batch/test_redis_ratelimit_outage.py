"""
RedisRateLimit when Redis fails, and its probe of a long shared pause.

The outage tests start their own redis-server on a free port, stop it in
the middle of a run and start it again on the same port; the shared server
on 6379 is never touched. Requests go over loopback to the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis

from dhmad_async import (
    DhmadClient,
    RateLimit,
    RateLimitError,
    RateLimiterUnavailableError,
    RetryPolicy,
)
from dhmad_async._config import Timeout
from dhmad_async._transport import AiohttpTransport, RawResponse
from dhmad_async.ratelimit import RedisRateLimit, ServerRateLimit
from dhmad_async.testing import Emulator, FakeClock, ServerRateLimitOptions

pytestmark = pytest.mark.redis

T = TypeVar("T")
SHARED_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUYER = "buyer@example.com"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of this test's own, on a free loopback port, stoppable and restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self._process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        probe = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(20):
                while True:
                    with contextlib.suppress(aioredis.ConnectionError):
                        if await probe.ping():
                            return
                    await asyncio.sleep(0.02)
        finally:
            await probe.aclose()

    async def stop(self) -> None:
        """Stop the server and wait for it to exit (its data is gone: no persistence)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            async with asyncio.timeout(20):
                await process.wait()

    async def log_size(self, key: str) -> int:
        """How many admissions the shared log of ``key`` holds."""
        client = aioredis.Redis.from_url(self.url)
        try:
            return int(await client.zcard("{" + key + "}:log"))
        finally:
            await client.aclose()


class AfterAnswer:
    """The real transport, plus a hook run once the next answer is in, before the client sees it."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.hook: Callable[[], Awaitable[None]] | None = None

    @property
    def max_connections(self) -> int:
        return self.inner.max_connections

    def connection_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.inner.connection_slot()

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: Timeout,
    ) -> RawResponse:
        raw = await self.inner.request(method, url, headers, body, timeout=timeout)
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()
        return raw

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A started private redis-server, stopped after the test."""
    server = PrivateRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """
    An emulator whose own limit stays out of the way, sending X-RateLimit headers.

    The docs say every response carries rate-limit headers (names unknown), so
    they are turned on here: they are what the limiter writes back to Redis
    after an answer, which is the moment these tests take Redis away.
    """
    options = ServerRateLimitOptions(enabled=False, headers="x-ratelimit")
    async with Emulator(rate_limit=options) as e:
        yield e


async def create(client: DhmadClient, title: str) -> Any:
    """One standard create."""
    return await client.escrows.create(
        title=title,
        amount=Decimal("100"),
        buyer_email=BUYER,
        contract_terms="Ship in 5 days.",
        estimated_delivery_days=5,
    )


async def test_fail_closed_redis_stopping_mid_run_sends_nothing_until_it_returns(
    private_redis: PrivateRedis, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """
    on_redis_error="fail" (the default): Redis dies between a create's answer and its feedback.

    That create still returns its escrow (before, a raw redis ConnectionError
    escaped without may_have_succeeded, and a caller following the retry
    rule created the escrow again). The next create fails before sending with
    RateLimiterUnavailableError (not flagged); after Redis is back, creates
    share the budget through it again.
    """
    key = f"outage:{uuid.uuid4().hex}"
    limiter = RedisRateLimit(private_redis.url, key=key)  # on_redis_error="fail", the default
    transport = AfterAnswer()
    async with DhmadClient(
        emu.api_key,
        base_url=emu.base_url,
        rate_limit=limiter,
        transport=transport,
        retry=RetryPolicy(wait_jitter=0.0),
    ) as client:
        await create(client, "one")
        assert await private_redis.log_size(key) == 1

        transport.hook = private_redis.stop
        with caplog.at_level(logging.WARNING, logger="dhmad_async"):
            second = await create(client, "two")
        assert "rate limiter could not record the answer to POST /escrows" in caplog.text

        with pytest.raises(RateLimiterUnavailableError) as caught:
            await create(client, "three")
        assert caught.value.may_have_succeeded is False
        assert isinstance(caught.value.__cause__, aioredis.RedisError)
        assert emu.request_count("POST", "/api/v1/escrows") == 2

        await private_redis.start()
        await create(client, "four")
        assert await private_redis.log_size(key) >= 1  # the fresh server holds "four"
    await limiter.aclose()
    titles = sorted(e["title"] for e in emu.escrows())
    assert titles == ["four", "one", "two"]
    assert second.escrow.id in {e["id"] for e in emu.escrows()}


async def test_local_fallback_keeps_sending_and_goes_back_to_redis(
    private_redis: PrivateRedis, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """on_redis_error="local": Redis down means a local limiter; Redis again once it answers."""
    key = f"outage:{uuid.uuid4().hex}"
    limiter = RedisRateLimit(
        private_redis.url, key=key, on_redis_error="local", reconnect_interval=0.0
    )
    async with DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=limiter) as client:
        await create(client, "one")
        await private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="dhmad_async"):
            await create(client, "two")
            await create(client, "three")
        assert "Redis unavailable while waiting for a slot" in caplog.text
        assert "using a local limiter" in caplog.text

        await private_redis.start()
        with caplog.at_level(logging.WARNING, logger="dhmad_async"):
            await create(client, "four")
        assert "Redis answers again" in caplog.text
        assert not limiter.using_fallback
        assert await private_redis.log_size(key) >= 1
    await limiter.aclose()
    assert len(emu.escrows()) == 4


async def test_the_fallback_holds_for_reconnect_interval_then_redis_is_tried_again() -> None:
    """While Redis is down the local limiter serves for reconnect_interval; then Redis is tried."""
    clock = FakeClock()
    limiter = RedisRateLimit(
        f"redis://127.0.0.1:{free_port()}/0",
        key="nobody-home",
        on_redis_error="local",
        reconnect_interval=5.0,
        clock=clock,
    )
    try:
        await limiter.acquire()
        assert limiter.using_fallback
        assert "on the local fallback" in repr(limiter)
        await clock.advance(4.9)
        assert limiter.using_fallback
        await clock.advance(0.1)
        assert not limiter.using_fallback  # the next call tries Redis first
        await limiter.acquire()
        assert limiter.using_fallback  # still down
    finally:
        await limiter.aclose()


async def test_redis_refusing_connections_is_a_dhmad_error_before_anything_is_sent() -> None:
    """No server at all: acquire raises RateLimiterUnavailableError, observe too (fail mode)."""
    limiter = RedisRateLimit(f"redis://127.0.0.1:{free_port()}/0", key="nobody-home")
    try:
        with pytest.raises(RateLimiterUnavailableError, match="waiting for a slot"):
            await limiter.acquire()
        with pytest.raises(RateLimiterUnavailableError, match="recording"):
            await limiter.observe(ServerRateLimit(remaining=3))
    finally:
        await limiter.aclose()


async def test_a_script_error_is_a_dhmad_error_or_falls_back() -> None:
    """A Lua error (here: the log key holds a string) surfaces as RateLimiterUnavailableError."""
    key = f"broken:{uuid.uuid4().hex}"
    client = aioredis.Redis.from_url(SHARED_URL)
    log_key = "{" + key + "}:log"
    await client.set(log_key, "not a sorted set", ex=60)
    failing = RedisRateLimit(SHARED_URL, key=key, client=client)
    local = RedisRateLimit(SHARED_URL, key=key, client=client, on_redis_error="local")
    try:
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await failing.acquire()
        assert isinstance(caught.value.__cause__, aioredis.ResponseError)
        await local.acquire()  # served by the local fallback
        assert local.using_fallback
    finally:
        await failing.aclose()
        await local.aclose()
        await client.delete(log_key)
        await client.aclose()


# -- the probe of a long shared pause ------------------------------------------------------


async def in_task(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a task of its own: the limiter tells the probe's answer by its task."""
    return await asyncio.create_task(coro)


async def send(limiter: RedisRateLimit, answer: ServerRateLimit) -> None:
    """One request as the client makes it: acquire, then observe the answer, in one task."""
    await limiter.acquire()
    await limiter.observe(answer)


@pytest.fixture
async def shared() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A client of the shared Redis and a unique key, deleted afterwards."""
    client = aioredis.Redis.from_url(SHARED_URL)
    key = f"probe:{uuid.uuid4().hex}"
    try:
        yield client, key
    finally:
        tag = "{" + key + "}"
        await client.delete(f"{tag}:log", f"{tag}:tat", f"{tag}:pause", f"{tag}:probe")
        await client.aclose()


async def test_a_long_shared_pause_lets_one_probe_per_window_through_for_all_processes(
    shared: tuple[aioredis.Redis, str],
) -> None:
    """
    Two limiters on one key: within a window nobody is admitted; then exactly one probe.

    Before, a 3600 s pause refused every process for the whole hour without
    ever asking the server. The window's end is simulated by deleting the
    probe key (its expiry), so nothing here waits for real time.
    """
    client, key = shared
    policy = RateLimit(pause_jitter=0.0)
    first, second = (RedisRateLimit(SHARED_URL, key=key, policy=policy) for _ in range(2))
    probe_key = "{" + key + "}:probe"
    try:
        await in_task(send(first, ServerRateLimit(retry_after=3600.0, rejected=True)))
        assert 0 < await client.pttl(probe_key) <= 60_000  # no probe for one window
        for limiter in (first, second):
            with pytest.raises(RateLimitError, match="max_server_wait"):
                await limiter.acquire()

        await client.delete(probe_key)  # the window has passed
        outcomes = []
        for limiter in (first, second, first, second):
            try:
                await in_task(send(limiter, ServerRateLimit(retry_after=3600.0, rejected=True)))
                outcomes.append("probe")
            except RateLimitError:
                outcomes.append("refused")
        assert outcomes == ["probe", "refused", "refused", "refused"]

        await client.delete(probe_key)  # another window: this time the server says yes
        await in_task(send(second, ServerRateLimit()))
        await in_task(send(first, ServerRateLimit()))  # the pause is lifted for everyone
        assert await client.exists("{" + key + "}:pause") == 0
    finally:
        await first.aclose()
        await second.aclose()
