"""
Two budgets at once: this host's own (local) and one shared through Redis. Timer and Redis I/O.

DHMAD limits requests per IP, and a custom limit may be set per API key. A
worker on a host of its own paces itself to its IP's budget, and when several
hosts share one key, also to the key's budget in Redis. A request may go only
when *both* admit it, at the same moment: a slot taken from one budget and
then held while waiting for the other would be logged earlier than the request
leaves, and enough of those could crowd one server window. So each attempt
takes the shared slot first, without waiting, then asks the local budget, also
without waiting; if the local one says "not yet", the shared slot is given back
(removed from the Redis log) and the caller sleeps until the local budget frees.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import attrs

from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async._config import RateLimit
from dhmad_async._errors import ClientClosedError, RateLimitError
from dhmad_async.ratelimit._headers import ServerRateLimit
from dhmad_async.ratelimit._local import SlidingWindowLimiter
from dhmad_async.ratelimit._redis import RedisRateLimit

__all__ = ["CombinedLimiter"]

_POLL_JITTER = 0.001


class CombinedLimiter:
    """
    A :class:`~dhmad_async.ratelimit.RateLimiter` that admits a request only when a
    local budget (``local``: this host's IP) and a shared one (``shared``) both do.

    The server's answers go to both: a 429 cannot say which limit it enforced, so
    it pauses the shared budget too (every host waits), the safe reading.
    :meth:`aclose` closes the shared limiter as well.
    """

    def __init__(
        self,
        local: RateLimit,
        shared: RedisRateLimit,
        *,
        clock: Clock = SYSTEM_CLOCK,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        #: The local budget (its ``max_wait`` and ``max_server_wait`` apply to callers).
        self.policy: RateLimit = local
        self.shared: RedisRateLimit = shared
        # Asked (all but) without waiting: a refusal says how long to wait instead.
        self._local = SlidingWindowLimiter(
            attrs.evolve(local, max_wait=1e-6), clock=clock, random_source=random_source
        )
        self._clock = clock
        self._random = random_source
        self._lock: asyncio.Lock | None = None
        self._closed = False

    async def acquire(self) -> None:
        """Wait until both budgets admit one request (FIFO in this process)."""
        if self._closed:
            raise ClientClosedError("This rate limiter was closed; create a new one.")
        if self._lock is None:
            self._lock = asyncio.Lock()
        started = self._clock.monotonic()
        async with self._lock:
            while True:
                token, wait = await self.shared.try_acquire()
                if token is not None:
                    try:
                        await self._local.acquire()
                        return
                    except RateLimitError as exc:
                        await self.shared.release(token)
                        wait = exc.retry_after if exc.retry_after is not None else 0.0
                        if wait > self.policy.max_server_wait:
                            raise  # a server block too long to wait out
                    except BaseException:
                        await self.shared.release(token)
                        raise
                waited = self._clock.monotonic() - started
                if self.policy.max_wait is not None and waited + wait > self.policy.max_wait:
                    raise RateLimitError(
                        f"The rate limits need a wait of {wait:.1f} s more (after "
                        f"{waited:.1f} s), longer than RateLimit.max_wait "
                        f"({self.policy.max_wait:g} s); not waiting.",
                        retry_after=wait,
                    )
                await self._clock.sleep(max(wait, 0.0) + _POLL_JITTER * self._random())

    async def observe(self, info: ServerRateLimit) -> None:
        """Feed the server's answer to both budgets."""
        await self._local.observe(info)
        await self.shared.observe(info)

    async def aclose(self) -> None:
        """Close both limiters; idempotent."""
        self._closed = True
        await self._local.aclose()
        await self.shared.aclose()

    def __repr__(self) -> str:
        return f"<CombinedLimiter local={self._local!r} shared={self.shared!r}>"
