"""Helpers shared by the batch tests, and a child-process entry point that runs one batch.

As a script: ``python batch_support.py BASE_URL JOURNAL START STOP [REDIS_URL REDIS_KEY]``
(API key in ``DHMAD_API_KEY``) runs items ``START..STOP-1`` and prints the counts as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from typing import Any

from dhmad_async import DhmadClient, RateLimit, RetryPolicy

#: Emulated time runs this much faster: the 60 s rate window lasts 0.6 real seconds.
TIME_SCALE = 100.0
WINDOW = 60.0 / TIME_SCALE


def fast_rate_limit() -> RateLimit:
    """
    The client budget matching the scaled emulator window.

    The margin covers arrival jitter, which does not shrink with the time scale:
    50 ms is what four processes, Redis and the emulator on two cores need.
    """
    return RateLimit(requests=100, per=WINDOW, margin=0.05, burst=10, pause_jitter=0.05)


def fast_retry() -> RetryPolicy:
    """Short backoffs so fault tests stay fast."""
    return RetryPolicy(attempts=8, wait_initial=0.05, wait_max=0.5, wait_jitter=0.05)


def item(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid quick-mode item whose title makes it unique."""
    data: dict[str, Any] = {
        "title": f"Order {n}",
        "amount": Decimal("25.500"),
        "buyer_email": f"buyer{n % 7}@example.com",
        "seller_email": "seller@example.com",
        "mode": "quick",
        "estimated_delivery_days": 3,
        "external_key": f"order-{n}",
    }
    data.update(overrides)
    return data


async def _child(argv: list[str]) -> dict[str, Any]:
    from dhmad_async.batch import BatchOptions, create_many

    base_url, journal, start, stop = argv[0], argv[1], int(argv[2]), int(argv[3])
    limiter: Any = fast_rate_limit()
    if len(argv) > 4:
        from dhmad_async.ratelimit import RedisRateLimit

        limiter = RedisRateLimit(argv[4], key=argv[5], policy=fast_rate_limit())
    try:
        async with DhmadClient(
            os.environ["DHMAD_API_KEY"],
            base_url=base_url,
            rate_limit=limiter,
            retry=fast_retry(),
            timeout=5.0,
        ) as client:
            report = await create_many(
                client,
                [item(n) for n in range(start, stop)],
                journal=journal,
                options=BatchOptions(settle=0.1, clock_skew=30.0),
            )
    finally:
        if not isinstance(limiter, RateLimit):
            await limiter.aclose()
    return {"counts": report.counts, "stopped": report.stopped}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(sys.argv[1:]))))
