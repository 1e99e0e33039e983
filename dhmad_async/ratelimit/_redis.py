"""
A rate limiter whose budget is shared across processes and hosts through Redis. Does I/O (Redis).

DHMAD counts requests per IP (REFERENCE §1.8), so every worker behind one IP
spends the same 100-per-minute budget. :class:`RedisRateLimit` keeps the
state in Redis and changes it only inside atomic Lua scripts that read time
from Redis ``TIME`` (never a host clock, so clock skew between hosts cannot
let extra requests through):

- ``{key}:log``: a sorted set of admission times (µs), the sliding log;
- ``{key}:tat``: the GCRA "theoretical arrival time" that limits bursts;
- ``{key}:pause``: the pause-until time set when any process sees a 429,
  so one 429 pauses every process.

The ``{key}`` hash tag keeps the three keys in one Redis Cluster slot.
Needs the ``[redis]`` extra (redis-py).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async._config import RateLimit
from dhmad_async._errors import ClientClosedError, RateLimitError
from dhmad_async.ratelimit._headers import ServerRateLimit

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisRateLimit"]

_MISSING_EXTRA: Final = (
    "RedisRateLimit needs redis-py; install it with: pip install 'dhmad-async[redis]'"
)

# KEYS: log, tat, pause. ARGV: limit, window µs, emission µs, tolerance µs, member.
# Returns {admitted (0/1), wait µs, paused (0/1), redis now µs}.
# Times are integer µs since the epoch (~1.7e15 < 2^53, exact in Lua doubles);
# they are written with %.0f because Lua's default number format keeps only
# 14 significant digits.
_ACQUIRE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local emission = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause > now then
  return {0, string.format('%.0f', pause - now), 1, string.format('%.0f', now)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(oldest[2]) + window - now
end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat - tolerance - now > wait then
  wait = tat - tolerance - now
end
if wait > 0 then
  return {0, string.format('%.0f', wait), 0, string.format('%.0f', now)}
end
local ttl = math.ceil(window / 1000) + 1000
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], string.format('%.0f', math.max(tat, now) + emission), 'PX', ttl)
return {1, '0', 0, string.format('%.0f', now)}
"""

# KEYS: log, pause. ARGV: pause µs (-1: none), remaining (-1: unknown), limit,
# window µs, member prefix. Returns redis now µs.
_OBSERVE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause_for = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
if pause_for >= 0 then
  local old = tonumber(redis.call('GET', KEYS[2]) or '0')
  local untl = math.max(old, now + pause_for)
  local ttl = math.ceil((untl - now) / 1000) + 1000
  redis.call('SET', KEYS[2], string.format('%.0f', untl), 'PX', ttl)
elseif remaining >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
  local missing = limit - redis.call('ZCARD', KEYS[1]) - remaining
  for i = 1, missing do
    redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5] .. ':' .. i)
  end
  if missing > 0 then
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  end
end
return string.format('%.0f', now)
"""

_US: Final = 1_000_000
# Upper bound of the random delay added to each local re-poll, so processes
# that computed the same wait do not all hit Redis in the same millisecond.
_POLL_JITTER: Final = 0.001


def _import_redis() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING_EXTRA) from exc
    return aioredis


class RedisRateLimit:
    """
    A :class:`~dhmad_async.ratelimit.RateLimiter` shared by every process using ``key``.

    :param url: The Redis URL (``redis://host:6379/0``); ignored when ``client`` is given.
    :param key: The budget's name; use one key per DHMAD IP/API key.
    :param policy: The same :class:`~dhmad_async.RateLimit` as the local limiter.
    :param client: An existing ``redis.asyncio.Redis``; it is not closed by :meth:`aclose`.
    :param clock: Sleeps and local deadlines (Redis ``TIME`` decides admissions).
    :param random_source: Returns a float in ``[0, 1)``; scales the jitters.

    Within one process, callers queue FIFO behind one poller (an
    :class:`asyncio.Lock`), so only the head of the queue talks to Redis.
    Across processes the order is first-come at Redis, not strict FIFO.
    """

    __slots__ = (
        "_acquire_script",
        "_client",
        "_clock",
        "_closed",
        "_keys",
        "_lock",
        "_member_prefix",
        "_observe_script",
        "_owns_client",
        "_random",
        "_sequence",
        "key",
        "policy",
    )

    def __init__(
        self,
        url: str,
        *,
        key: str,
        policy: RateLimit = RateLimit(),  # noqa: B008 - frozen, so a shared default is safe
        client: redis.asyncio.Redis | None = None,
        clock: Clock = SYSTEM_CLOCK,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        if not key:
            raise ValueError("key must be a non-empty string")
        self.key: str = key  #: The budget's name in Redis.
        self.policy: RateLimit = policy  #: The budget.
        self._clock = clock
        self._random = random_source
        if client is None:
            # No I/O here: redis-py connects on the first command.
            client = _import_redis().Redis.from_url(url)
            self._owns_client = True
        else:
            self._owns_client = False
        self._client: redis.asyncio.Redis = client
        self._acquire_script = client.register_script(_ACQUIRE_LUA)
        self._observe_script = client.register_script(_OBSERVE_LUA)
        tag = "{" + key + "}"
        self._keys = (f"{tag}:log", f"{tag}:tat", f"{tag}:pause")
        # Members of the log must be unique across every process and host.
        self._member_prefix = f"{uuid.uuid4().hex}:{os.getpid()}"
        self._sequence = 0
        self._lock: asyncio.Lock | None = None
        self._closed = False

    @property
    def redis_keys(self) -> tuple[str, str, str]:
        """The Redis keys holding this budget (log, tat, pause), e.g. to delete them."""
        return self._keys

    def _next_member(self) -> str:
        self._sequence += 1
        return f"{self._member_prefix}:{self._sequence}"

    async def acquire(self) -> None:
        """Wait for a slot in the shared budget, or raise RateLimitError (see acquire_at)."""
        await self.acquire_at()

    async def acquire_at(self) -> float:
        """
        Wait for a slot and return its admission time (Redis ``TIME``, epoch seconds).

        Raises :class:`~dhmad_async.RateLimitError` as soon as a shared pause
        would last longer than ``max_server_wait``, or the wait would take the
        caller past ``max_wait``.
        """
        if self._closed:
            raise ClientClosedError("This rate limiter was closed; create a new one.")
        policy = self.policy
        started = self._clock.monotonic()
        if self._lock is None:  # bound lazily, inside the running loop
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                if self._closed:
                    raise ClientClosedError(
                        "The rate limiter was closed while this request waited."
                    )
                admitted, wait_us, paused, now_us = await self._acquire_script(
                    keys=list(self._keys),
                    args=[
                        policy.requests,
                        round(policy.counted_window * _US),
                        math.ceil(policy.per / policy.requests * _US),
                        round((policy.burst - 1) * policy.per / policy.requests * _US),
                        self._next_member(),
                    ],
                )
                if int(admitted):
                    return int(now_us) / _US
                wait = int(wait_us) / _US
                if int(paused) and wait > policy.max_server_wait:
                    raise RateLimitError(
                        f"The shared rate limit {self.key!r} is paused for {wait:.1f} s more "
                        f"(a 429 was seen), longer than RateLimit.max_server_wait "
                        f"({policy.max_server_wait:g} s); not waiting.",
                        retry_after=wait,
                    )
                waited = self._clock.monotonic() - started
                if policy.max_wait is not None and waited + wait > policy.max_wait:
                    raise RateLimitError(
                        f"The shared rate limit {self.key!r} needs a wait of {wait:.1f} s more "
                        f"(after {waited:.1f} s), longer than RateLimit.max_wait "
                        f"({policy.max_wait:g} s); not waiting.",
                        retry_after=wait,
                    )
                # Positive jitter only: never poll before the returned wait.
                await self._clock.sleep(wait + _POLL_JITTER * self._random())

    async def observe(self, info: ServerRateLimit) -> None:
        """
        Feed the server's hints into the shared state.

        A ``retry_after`` (429) sets the shared pause (plus positive
        ``pause_jitter``), which pauses every process; a ``remaining`` below
        the free slots in the shared log (``0`` included) is recorded as
        admissions made now.
        """
        if self._closed:
            return
        policy = self.policy
        pause_for = info.pause_for
        if pause_for is None and info.remaining is None:
            return
        pause_us = -1
        if pause_for is not None:
            pause_us = math.ceil((pause_for + policy.pause_jitter * self._random()) * _US)
        await self._observe_script(
            keys=[self._keys[0], self._keys[2]],
            args=[
                pause_us,
                -1 if info.remaining is None else info.remaining,
                policy.requests,
                round(policy.counted_window * _US),
                self._next_member(),
            ],
        )

    async def aclose(self) -> None:
        """Stop further use; close the Redis client only if this object created it."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # The URL may hold a password, so it is never shown.
        state = "closed" if self._closed else "open"
        return (
            f"<RedisRateLimit key={self.key!r} {self.policy.requests}/{self.policy.per:g}s "
            f"burst={self.policy.burst} {state}>"
        )
