"""
Rate limiting: the client-side budget, what the server says about it, and a budget shared via Redis.

- :class:`RateLimiter` is what a client needs from a limiter; ``DhmadClient(rate_limit=...)``
  takes a :class:`~dhmad_async.RateLimit` (a local limiter is built) or any ``RateLimiter``.
- :class:`SlidingWindowLimiter` is the local limiter (``_local``), :class:`NullLimiter` the
  one that never waits.
- :class:`ServerRateLimit` is the server's hints read from one response (``_headers``).
- :class:`RedisRateLimit` shares one budget between processes and hosts (``_redis``; needs
  the ``[redis]`` extra, imported on first use so this package never needs redis-py).
- :class:`CombinedLimiter` admits only when a local and a Redis budget both do (``_combined``).

Importing this package does no I/O.
"""

from __future__ import annotations

import typing

from dhmad_async.ratelimit._headers import ServerRateLimit
from dhmad_async.ratelimit._local import (
    NullLimiter,
    RateLimiter,
    SlidingWindowLimiter,
    create_limiter,
)

if typing.TYPE_CHECKING:  # pragma: no cover
    from dhmad_async.ratelimit._combined import CombinedLimiter
    from dhmad_async.ratelimit._redis import RedisRateLimit

__all__ = [
    "CombinedLimiter",
    "NullLimiter",
    "RateLimiter",
    "RedisRateLimit",
    "ServerRateLimit",
    "SlidingWindowLimiter",
    "create_limiter",
]


def __getattr__(name: str) -> typing.Any:
    # redis-py is an optional extra: load the Redis limiter only when it is asked for.
    if name == "RedisRateLimit":
        from dhmad_async.ratelimit._redis import RedisRateLimit

        globals()[name] = RedisRateLimit
        return RedisRateLimit
    if name == "CombinedLimiter":
        from dhmad_async.ratelimit._combined import CombinedLimiter

        globals()[name] = CombinedLimiter
        return CombinedLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"CombinedLimiter", "RedisRateLimit"})
