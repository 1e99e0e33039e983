"""
The clock seam: monotonic time, wall time and sleeping. Does I/O only by sleeping.

The limiter and the retry loop read time and sleep only through a
:class:`Clock`, so tests can drive them with
:class:`dhmad_async.testing.FakeClock` instead of real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Where time comes from: monotonic seconds, epoch seconds, and an async sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and deadlines)."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch (for HTTP-dates and epoch resets)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` (zero or less: just yield to the loop)."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`."""

    __slots__ = ()

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """Return :func:`time.time`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep with :func:`asyncio.sleep` (negative values sleep zero)."""
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK: Final[Clock] = SystemClock()
