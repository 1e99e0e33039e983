"""
A rate limiter whose budget is shared across processes and hosts through Redis. Does I/O (Redis).

DHMAD counts requests per IP (docs/dhmad-api.md#rate-limits), so every worker
behind one IP spends the same 100-per-minute budget. :class:`RedisRateLimit` keeps the
state in Redis and changes it only inside atomic Lua scripts that read time
from Redis ``TIME`` (never a host clock, so clock skew between hosts cannot
let extra requests through):

- ``{key}:log``: a sorted set of admission times (µs), the sliding log;
- ``{key}:tat``: the GCRA "theoretical arrival time" that limits bursts;
- ``{key}:pause``: the pause-until time set when any process sees a 429,
  so one 429 pauses every process;
- ``{key}:probe``: held for one window while a pause is longer than
  ``max_server_wait``, so that only one request per window, from any
  process, asks the server whether its block is over.

The ``{key}`` hash tag keeps the keys in one Redis Cluster slot.

**Slots are leased in small batches.** When several tasks of one process wait,
the one that asks Redis asks for as many slots as are waiting (up to
``lease_batch``); the script grants as many as the log and the burst allow *now*,
all logged at Redis ``TIME``, and the others go to the next waiters at once. A
leased slot that is not used within half the margin is given back (removed
from the log), so every request still leaves within the margin of its logged
admission, which is what keeps the server's window from ever being exceeded.

When Redis cannot be used (refused, timed out, a script error), the limiter
raises :class:`~dhmad_async.RateLimiterUnavailableError` (``on_redis_error="fail"``,
the default: nothing is sent without the shared budget) or serves from a
local :class:`~dhmad_async.ratelimit.SlidingWindowLimiter` with the same
policy until Redis answers again (``on_redis_error="local"``).
Needs the ``[redis]`` extra (redis-py).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal

from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async._config import RateLimit
from dhmad_async._errors import ClientClosedError, RateLimitError, RateLimiterUnavailableError
from dhmad_async.ratelimit._headers import ServerRateLimit
from dhmad_async.ratelimit._local import SlidingWindowLimiter

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["OnRedisError", "RedisRateLimit"]

_log = logging.getLogger("dhmad_async")

#: What :class:`RedisRateLimit` does when Redis cannot be used.
OnRedisError = Literal["fail", "local"]

_MISSING_EXTRA: Final = (
    "RedisRateLimit needs redis-py; install it with: pip install 'dhmad-async[redis]'"
)

# KEYS: log, tat, pause, probe. ARGV: limit, window µs, emission µs, tolerance µs,
# member prefix, max server wait µs, probe interval ms, slots wanted.
# Returns {slots admitted (0..wanted), wait µs, paused (0/1; 2: admitted as the probe),
# redis now µs}. Admitted slots are members prefix:1 .. prefix:n.
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
local probing = false
if pause > now then
  -- A pause too long to wait out lets one probe per window through, for everyone.
  if pause - now <= tonumber(ARGV[6])
      or not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[7]) then
    return {0, string.format('%.0f', pause - now), 1, string.format('%.0f', now)}
  end
  probing = true
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
if probing then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5] .. ':1')
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, '0', 2, string.format('%.0f', now)}
end
local wait = 0
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
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
-- Grant as many of the wanted slots as the log and the burst allow right now.
local base = math.max(tat, now)
local wanted = tonumber(ARGV[8])
local n = 0
while n < wanted and count + n < limit and base + n * emission - tolerance <= now do
  n = n + 1
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5] .. ':' .. n)
end
local ttl = math.ceil(window / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], string.format('%.0f', base + n * emission), 'PX', ttl)
return {n, '0', 0, string.format('%.0f', now)}
"""

# KEYS: log, tat. ARGV: emission µs, members... Gives unused slots back: each member
# leaves the log and the burst bucket gets one emission back. Returns how many left.
_RELEASE_LUA: Final = """
local removed = 0
for i = 2, #ARGV do
  removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if removed > 0 and tat > 0 then
  redis.call('SET', KEYS[2], string.format('%.0f', tat - removed * tonumber(ARGV[1])), 'KEEPTTL')
end
return removed
"""

# KEYS: log, pause, probe. ARGV: pause µs (-1: none), remaining (-1: unknown), limit,
# window µs, member prefix, probe (0: no; 1: refused again; 2: got through),
# probe interval ms. Returns redis now µs.
_OBSERVE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause_for = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local probe = tonumber(ARGV[6])
if probe == 2 then
  -- The probe got through: the server's block is over, for every process.
  redis.call('DEL', KEYS[2], KEYS[3])
end
if pause_for >= 0 then
  local old = tonumber(redis.call('GET', KEYS[2]) or '0')
  local untl = now + pause_for
  if probe ~= 1 then
    untl = math.max(old, untl)
  end
  local ttl = math.ceil((untl - now) / 1000) + 1000
  redis.call('SET', KEYS[2], string.format('%.0f', untl), 'PX', ttl)
  -- No probe before one window has passed since the server's refusal.
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[7])
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
    :param on_redis_error: What happens when Redis cannot be used (connection
        refused, timeout, script error). ``"fail"`` (the default) fails closed:
        :meth:`acquire` raises :class:`~dhmad_async.RateLimiterUnavailableError`
        and nothing is sent, because requests sent without the shared budget
        can add up, over every process, to more than the server allows (the
        docs show a 429 asking to wait an hour). ``"local"`` keeps working: this
        process falls back to a :class:`~dhmad_async.ratelimit.SlidingWindowLimiter`
        with the same policy, logs a warning, and tries Redis again after
        ``reconnect_interval`` seconds. Each process then keeps the policy on its
        own, so together they may exceed the shared budget and meet 429s (which
        are retried safely, a POST included); admissions made locally are not
        copied to Redis when it returns.
    :param reconnect_interval: With ``on_redis_error="local"``, seconds between
        attempts to use Redis again while it is down (``0``: every call tries).
    :param lease_batch: The most slots one call to Redis leases for the tasks of
        this process that are waiting (``1``: one round trip per admission).

    Within one process, callers queue FIFO behind one poller (an
    :class:`asyncio.Lock`), so only the head of the queue talks to Redis.
    Across processes the order is first-come at Redis, not strict FIFO.
    """

    __slots__ = (
        "_acquire_script",
        "_client",
        "_clock",
        "_closed",
        "_fallback",
        "_keys",
        "_leased",
        "_lock",
        "_member_prefix",
        "_observe_script",
        "_owns_client",
        "_probe_task",
        "_queued",
        "_random",
        "_redis_errors",
        "_release_script",
        "_retry_redis_at",
        "_sequence",
        "_stash",
        "key",
        "lease_batch",
        "on_redis_error",
        "policy",
        "reconnect_interval",
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
        on_redis_error: OnRedisError = "fail",
        reconnect_interval: float = 5.0,
        lease_batch: int = 4,
    ) -> None:
        if not key:
            raise ValueError("key must be a non-empty string")
        if on_redis_error not in ("fail", "local"):
            raise ValueError(f"on_redis_error must be 'fail' or 'local', got {on_redis_error!r}")
        if not reconnect_interval >= 0:
            raise ValueError(f"reconnect_interval must be >= 0, got {reconnect_interval!r}")
        if lease_batch < 1:
            raise ValueError(f"lease_batch must be >= 1, got {lease_batch!r}")
        #: The most slots one round trip leases for this process's waiting tasks.
        self.lease_batch: int = lease_batch
        self.key: str = key  #: The budget's name in Redis.
        self.policy: RateLimit = policy  #: The budget.
        #: ``"fail"`` or ``"local"``: what happens when Redis cannot be used.
        self.on_redis_error: OnRedisError = on_redis_error
        #: Seconds between attempts to use Redis again (``on_redis_error="local"``).
        self.reconnect_interval: float = reconnect_interval
        self._clock = clock
        self._random = random_source
        aioredis = _import_redis()
        if client is None:
            # No I/O here: redis-py connects on the first command.
            client = aioredis.Redis.from_url(url)
            self._owns_client = True
        else:
            self._owns_client = False
        self._client: redis.asyncio.Redis = client
        # Connection refused, timeouts and script errors are all RedisError; OSError
        # and TimeoutError in case a transport error escapes redis-py's wrapping.
        self._redis_errors: tuple[type[BaseException], ...] = (
            aioredis.RedisError,
            OSError,
            TimeoutError,
        )
        self._acquire_script = client.register_script(_ACQUIRE_LUA)
        self._observe_script = client.register_script(_OBSERVE_LUA)
        self._release_script = client.register_script(_RELEASE_LUA)
        # Slots leased for waiting tasks: (local monotonic time, member, Redis time s).
        self._stash: collections.deque[tuple[float, str, float]] = collections.deque()
        self._queued = 0  # tasks of this process waiting for the lock
        self._leased = 0  # admissions served from the stash (no round trip of their own)
        tag = "{" + key + "}"
        self._keys = (f"{tag}:log", f"{tag}:tat", f"{tag}:pause", f"{tag}:probe")
        # Members of the log must be unique across every process and host.
        self._member_prefix = f"{uuid.uuid4().hex}:{os.getpid()}"
        self._sequence = 0
        self._lock: asyncio.Lock | None = None
        self._closed = False
        # The task whose request was admitted as the probe of a long pause.
        self._probe_task: asyncio.Task[object] | None = None
        # on_redis_error="local": the stand-in limiter, and when Redis may be tried again.
        self._fallback: SlidingWindowLimiter | None = None
        self._retry_redis_at = -math.inf

    @property
    def redis_keys(self) -> tuple[str, ...]:
        """The Redis keys holding this budget (log, tat, pause, probe), e.g. to delete them."""
        return self._keys

    @property
    def using_fallback(self) -> bool:
        """True while Redis is down and the local stand-in limiter serves this process."""
        return self._fallback is not None and self._clock.monotonic() < self._retry_redis_at

    def _next_member(self) -> str:
        self._sequence += 1
        return f"{self._member_prefix}:{self._sequence}"

    def _unavailable(self, exc: BaseException, during: str) -> RateLimiterUnavailableError:
        # The class name only: the cause is chained, and its text is redis-py's, not ours.
        return RateLimiterUnavailableError(
            f"The shared rate limit {self.key!r} could not use Redis while {during} "
            f"({type(exc).__name__}); with on_redis_error='fail' no request is sent "
            "without the shared budget (on_redis_error='local' falls back to a local limiter)."
        )

    def _use_fallback(self, exc: BaseException, during: str) -> SlidingWindowLimiter:
        """Switch to (or stay on) the local limiter after a Redis failure; log the switch."""
        if not self.using_fallback:
            _log.warning(
                "rate limit %r: Redis unavailable while %s (%s); using a local limiter "
                "for at least %.1f s",
                self.key,
                during,
                type(exc).__name__,
                self.reconnect_interval,
            )
        if self._fallback is None:
            self._fallback = SlidingWindowLimiter(
                self.policy, clock=self._clock, random_source=self._random
            )
        self._retry_redis_at = self._clock.monotonic() + self.reconnect_interval
        return self._fallback

    def _redis_recovered(self) -> None:
        if self._fallback is not None and self._retry_redis_at > -math.inf:
            _log.warning("rate limit %r: Redis answers again; sharing the budget", self.key)
        self._retry_redis_at = -math.inf

    async def acquire(self) -> None:
        """Wait for a slot in the shared budget, or raise RateLimitError (see acquire_at)."""
        await self.acquire_at()

    async def acquire_at(self) -> float:
        """
        Wait for a slot and return its admission time (Redis ``TIME``, epoch seconds).

        Raises :class:`~dhmad_async.RateLimitError` as soon as a shared pause
        would last longer than ``max_server_wait`` (but for the one probe per
        window, which is admitted), or the wait would take the caller past
        ``max_wait``; :class:`~dhmad_async.RateLimiterUnavailableError` when
        Redis cannot be used and ``on_redis_error="fail"``. On the local
        fallback the admission time is this host's clock.
        """
        if self._closed:
            raise ClientClosedError("This rate limiter was closed; create a new one.")
        task = asyncio.current_task()
        if self._probe_task is not None and self._probe_task is task:
            self._probe_task = None  # the probe's task asks again: its probe is over
        started = self._clock.monotonic()
        if self._lock is None:  # bound lazily, inside the running loop
            self._lock = asyncio.Lock()
        self._queued += 1
        try:
            await self._lock.acquire()
        finally:
            self._queued -= 1
        try:
            while True:
                if self._closed:
                    raise ClientClosedError(
                        "The rate limiter was closed while this request waited."
                    )
                leased = await self._from_stash()
                if leased is not None:
                    return leased
                if self.using_fallback:
                    return await self._acquire_locally(self._fallback)
                # Lease for this task and for the ones queued behind it.
                want = min(self.lease_batch, 1 + self._queued)
                try:
                    outcome = await self._attempt(want)
                except self._redis_errors as exc:
                    if self.on_redis_error == "fail":
                        raise self._unavailable(exc, "waiting for a slot") from exc
                    return await self._acquire_locally(
                        self._use_fallback(exc, "waiting for a slot")
                    )
                self._redis_recovered()
                granted, wait, paused, now, _ = outcome
                if granted:
                    if paused == 2:
                        self._probe_task = task
                    return now
                self._check_wait(wait, paused=bool(paused), started=started)
                # Positive jitter only: never poll before the returned wait.
                await self._clock.sleep(wait + _POLL_JITTER * self._random())
        finally:
            self._lock.release()

    def _check_wait(self, wait: float, *, paused: bool, started: float) -> None:
        """Raise RateLimitError when a wait is longer than the policy lets a caller wait."""
        policy = self.policy
        if paused and wait > policy.max_server_wait:
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

    async def _attempt(self, want: int) -> tuple[int, float, int, float, str]:
        """
        One script call for ``want`` slots: (granted, wait s, paused, Redis time s, member).

        ``member`` is the first granted slot's name in the shared log.

        The first granted slot is the caller's; the others go to the stash for the
        tasks queued behind it.
        """
        policy = self.policy
        prefix = self._next_member()
        admitted, wait_us, paused, now_us = await self._acquire_script(
            keys=list(self._keys),
            args=[
                policy.requests,
                round(policy.counted_window * _US),
                math.ceil(policy.per / policy.requests * _US),
                round((policy.burst - 1) * policy.per / policy.requests * _US),
                prefix,
                round(policy.max_server_wait * _US),
                math.ceil(policy.per * 1000),
                want,
            ],
        )
        granted = int(admitted)
        now = int(now_us) / _US
        leased_at = self._clock.monotonic()
        for n in range(2, granted + 1):
            self._stash.append((leased_at, f"{prefix}:{n}", now))
        return granted, int(wait_us) / _US, int(paused), now, f"{prefix}:1"

    async def _from_stash(self) -> float | None:
        """A slot leased moments ago for this task, or None; stale ones are given back."""
        freshest = self._clock.monotonic() - self.policy.effective_margin / 2
        stale: list[str] = []
        leased: float | None = None
        while self._stash:
            at, member, admitted = self._stash.popleft()
            if at >= freshest:
                leased = admitted
                self._leased += 1
                break
            stale.append(member)
        if stale:
            await self._give_back(stale)
        return leased

    async def _give_back(self, members: list[str]) -> None:
        """Remove unused slots from the shared log (never sent: they may be used again)."""
        try:
            await self._release_script(
                keys=[self._keys[0], self._keys[1]],
                args=[math.ceil(self.policy.per / self.policy.requests * _US), *members],
            )
        except self._redis_errors as exc:  # they leave the window by themselves
            _log.info(
                "rate limit %r: could not give back %d slots (%s)", self.key, len(members), exc
            )

    async def try_acquire(self) -> tuple[str | None, float]:
        """
        One attempt that never waits: ``(token, 0.0)`` when a slot was admitted now,
        ``(None, wait)`` when the next slot is ``wait`` seconds away.

        The token gives the slot back with :meth:`release` if the request is not
        sent after all (another budget said no). Raises like :meth:`acquire_at`.
        On the local fallback this waits for the local limiter and returns a
        token that cannot be given back.
        """
        if self._closed:
            raise ClientClosedError("This rate limiter was closed; create a new one.")
        task = asyncio.current_task()
        if self._probe_task is not None and self._probe_task is task:
            self._probe_task = None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._stash:
                at, member, _ = self._stash.popleft()
                if at >= self._clock.monotonic() - self.policy.effective_margin / 2:
                    return member, 0.0
                await self._give_back([member])
            if self.using_fallback:
                await self._acquire_locally(self._fallback)
                return "local", 0.0
            try:
                granted, wait, paused, _, member = await self._attempt(1)
            except self._redis_errors as exc:
                if self.on_redis_error == "fail":
                    raise self._unavailable(exc, "waiting for a slot") from exc
                await self._acquire_locally(self._use_fallback(exc, "waiting for a slot"))
                return "local", 0.0
            self._redis_recovered()
            if granted:
                if paused == 2:
                    self._probe_task = task
                return member, 0.0
            self._check_wait(wait, paused=bool(paused), started=self._clock.monotonic())
            return None, wait

    async def release(self, token: str) -> None:
        """Give back a slot from :meth:`try_acquire` whose request was not sent."""
        if token != "local" and not self._closed:
            await self._give_back([token])

    async def _acquire_locally(self, fallback: SlidingWindowLimiter | None) -> float:
        assert fallback is not None  # using_fallback implies it exists
        await fallback.acquire()
        return self._clock.time()

    async def observe(self, info: ServerRateLimit) -> None:
        """
        Feed the server's hints into the shared state.

        A ``retry_after`` (429) sets the shared pause (plus positive
        ``pause_jitter``), which pauses every process; a ``remaining`` below
        the free slots in the shared log (``0`` included) is recorded as
        admissions made now. The answer to a probe lifts the shared pause
        when it is not a 429, and replaces it when it is.

        Raises :class:`~dhmad_async.RateLimiterUnavailableError` when Redis
        cannot be used and ``on_redis_error="fail"``; with ``"local"`` the
        hints go to the local fallback instead.
        """
        if self._closed:
            return
        policy = self.policy
        probe = 0
        if self._probe_task is not None and self._probe_task is asyncio.current_task():
            self._probe_task = None
            probe = 1 if info.rejected else 2
        pause_for = info.pause_for
        if self.using_fallback:
            assert self._fallback is not None
            await self._fallback.observe(info)
            return
        if pause_for is None and info.remaining is None and probe == 0:
            return
        pause_us = -1
        if pause_for is not None:
            pause_us = math.ceil((pause_for + policy.pause_jitter * self._random()) * _US)
        try:
            await self._observe_script(
                keys=[self._keys[0], self._keys[2], self._keys[3]],
                args=[
                    pause_us,
                    -1 if info.remaining is None else info.remaining,
                    policy.requests,
                    round(policy.counted_window * _US),
                    self._next_member(),
                    probe,
                    math.ceil(policy.per * 1000),
                ],
            )
        except self._redis_errors as exc:
            if self.on_redis_error == "fail":
                raise self._unavailable(exc, "recording the server's rate-limit answer") from exc
            await self._use_fallback(exc, "recording the server's rate-limit answer").observe(info)
            return
        self._redis_recovered()

    async def aclose(self) -> None:
        """Stop further use; close the Redis client only if this object created it."""
        if self._closed:
            return
        if self._stash:
            stash, self._stash = [m for _, m, _ in self._stash], collections.deque()
            await self._give_back(stash)
        self._closed = True
        if self._fallback is not None:
            await self._fallback.aclose()
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # The URL may hold a password, so it is never shown.
        state = "closed" if self._closed else "open"
        if not self._closed and self.using_fallback:
            state = "open, on the local fallback (Redis unavailable)"
        return (
            f"<RedisRateLimit key={self.key!r} {self.policy.requests}/{self.policy.per:g}s "
            f"burst={self.policy.burst} {state}>"
        )
