"""A time-scaled emulator can scale a 429's Retry-After like its window (fake clock)."""

from __future__ import annotations

import aiohttp

from dhmad_async.testing import Emulator, FakeClock, ServerRateLimitOptions
from dhmad_async.testing._common import EmuClock
from dhmad_async.testing._ratelimit import ServerRateLimiter


async def test_scaled_retry_after_is_whole_emulated_seconds_in_real_seconds() -> None:
    # 2 per 60 emulated s at time_scale 50: the window lasts 1.2 real s.
    clock = FakeClock()
    # The documented profile sends no Retry-After header: these tests turn it on.
    opts = ServerRateLimitOptions(limit=2, scale_retry_after=True, headers="retry-after")
    limiter = ServerRateLimiter(opts, EmuClock(50, clock))
    assert limiter.check("ip").allowed and limiter.check("ip").allowed
    await clock.advance(0.3)
    decision = limiter.check("ip")
    # 0.9 real s until the oldest admission leaves = 45 emulated s, i.e. 0.9 real s.
    assert not decision.allowed
    assert decision.retry_after == 0.9 and decision.headers["Retry-After"] == "0.9"
    await clock.advance(0.8905)
    # 0.0095 real s left = 0.475 emulated s: rounded up to one emulated second (0.02 real s).
    decision = limiter.check("ip")
    assert decision.retry_after == 0.02 and decision.headers["Retry-After"] == "0.02"


async def test_default_retry_after_stays_whole_real_seconds() -> None:
    clock = FakeClock()
    opts = ServerRateLimitOptions(limit=1, headers="retry-after")
    limiter = ServerRateLimiter(opts, EmuClock(50, clock))
    assert limiter.check("ip").allowed
    await clock.advance(1.0)
    decision = limiter.check("ip")
    assert decision.retry_after == 1 and decision.headers["Retry-After"] == "1"


async def test_scaled_retry_after_reaches_the_client() -> None:
    """Header and the documented body field ``retryAfter`` agree, over HTTP."""
    clock = FakeClock()
    opts = ServerRateLimitOptions(limit=1, scale_retry_after=True, headers="retry-after")
    async with (
        Emulator(time_scale=60, clock=clock, rate_limit=opts) as emu,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as http,
    ):
        async with http.get(emu.base_url + "/me") as first:
            assert first.status == 200
        await clock.advance(0.5)  # window is 1 real s: 0.5 s (30 emulated s) left
        async with http.get(emu.base_url + "/me") as second:
            body = await second.json()
            assert second.status == 429
            assert second.headers["Retry-After"] == "0.5" and body["retryAfter"] == 0.5
