"""
A fake :class:`~dhmad_async._clock.Clock` for deterministic tests. No I/O.

Time stands still until the test calls ``await clock.advance(seconds)``; then
the sleepers whose deadline has come are woken in deadline order, and the loop
runs the woken tasks before ``advance`` returns, so the test can assert what
has happened "by time t" without sleeping for real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["FakeClock"]

# How many bare loop iterations ``advance`` lets pass after waking sleepers:
# a woken task may hop through a few futures (limiter timer -> waiter -> caller)
# before it settles, and each hop takes one iteration.
_SETTLE_ITERATIONS = 8


class FakeClock:
    """
    A clock that moves only when told to.

    :param start_monotonic: The initial value of :meth:`monotonic`.
    :param start_time: The initial value of :meth:`time` (epoch seconds); it
        advances in step with :meth:`monotonic`.

    Example::

        clock = FakeClock()
        task = asyncio.create_task(clock.sleep(5))
        await clock.advance(4.9)   # task still sleeping
        await clock.advance(0.1)   # task done
    """

    __slots__ = ("_counter", "_monotonic", "_sleepers", "_time_offset")

    def __init__(self, start_monotonic: float = 0.0, start_time: float = 1_700_000_000.0) -> None:
        self._monotonic = float(start_monotonic)
        self._time_offset = float(start_time) - float(start_monotonic)
        # (deadline, tie-breaker, future): the counter keeps equal deadlines FIFO.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        """Return the fake monotonic time."""
        return self._monotonic

    def time(self) -> float:
        """Return the fake epoch time (moves with :meth:`monotonic`)."""
        return self._monotonic + self._time_offset

    async def sleep(self, seconds: float) -> None:
        """Park the caller until :meth:`advance` reaches ``now + seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._counter), future))
        # A cancelled caller cancels ``future`` too; ``advance`` and
        # ``pending_sleepers`` skip it, so cancelled sleepers are dropped.
        await future

    @property
    def pending_sleepers(self) -> int:
        """How many callers are parked in :meth:`sleep` (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def advance(self, seconds: float = 0.0) -> None:
        """
        Move time forward by ``seconds``, waking due sleepers in deadline order.

        Time is set to each sleeper's deadline before it is woken, and woken
        tasks run before the next one is considered, so a sleeper that goes
        back to sleep inside the interval is woken again within this call.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds!r} s)")
        target = self._monotonic + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._monotonic = max(self._monotonic, deadline)
            future.set_result(None)
            await self._settle()
        self._monotonic = target
        await self._settle()

    async def _settle(self) -> None:
        for _ in range(_SETTLE_ITERATIONS):
            await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"<FakeClock monotonic={self._monotonic:.6f} sleepers={self.pending_sleepers}>"
