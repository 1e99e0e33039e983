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
    """
    A valid quick-mode item between two third parties, whose title makes it unique.

    Neither party is the key's associated user, so the documented escrow list never
    shows its escrow: after an ambiguous create its absence cannot be proven.
    """
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


def own_item(n: int, **overrides: Any) -> dict[str, Any]:
    """
    A valid standard item whose seller is the associated user (no ``seller_email``).

    The documented list shows it ("role omitted = both"), so reconciliation can prove
    whether its escrow exists.
    """
    data: dict[str, Any] = {
        "title": f"Own order {n}",
        "amount": Decimal("40.250"),
        "buyer_email": f"buyer{n % 7}@example.com",
        "mode": "standard",
        "contract_terms": "Deliver as described.",
        "estimated_delivery_days": 5,
        "external_key": f"own-{n}",
    }
    data.update(overrides)
    return data


def mixed_item(n: int) -> dict[str, Any]:
    """Every third item is between two third parties, the others have us as seller."""
    return item(n) if n % 3 == 0 else own_item(n, title=f"Order {n}", external_key=f"order-{n}")


class RecordingLimiter:
    """A shared limiter that keeps the admission time of every slot it hands out.

    The times are the inner limiter's (``RedisRateLimit.acquire_at``: Redis ``TIME``,
    in µs), one per request attempt: what the shared budget decided, whatever the
    scheduling delays between the admission and the request's arrival.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.policy: RateLimit = inner.policy
        self.granted: list[int] = []

    async def acquire(self) -> None:
        self.granted.append(round(await self.inner.acquire_at() * 1_000_000))

    async def observe(self, info: Any) -> None:
        await self.inner.observe(info)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _child(argv: list[str]) -> dict[str, Any]:
    from dhmad_async.batch import BatchOptions, create_many

    base_url, journal, start, stop = argv[0], argv[1], int(argv[2]), int(argv[3])
    limiter: Any = fast_rate_limit()
    if len(argv) > 4:
        from dhmad_async.ratelimit import RedisRateLimit

        limiter = RecordingLimiter(RedisRateLimit(argv[4], key=argv[5], policy=fast_rate_limit()))
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
                [mixed_item(n) for n in range(start, stop)],
                journal=journal,
                options=BatchOptions(settle=0.1, clock_skew=30.0),
            )
    finally:
        if not isinstance(limiter, RateLimit):
            await limiter.aclose()
    granted = limiter.granted if isinstance(limiter, RecordingLimiter) else None
    return {"counts": report.counts, "stopped": report.stopped, "granted": granted}


async def _hold(path: str) -> None:
    """Open the journal at ``path``, say so, and keep it open until stdin closes."""
    from dhmad_async.batch import Journal

    try:
        journal = await Journal.open(path)
    except RuntimeError as exc:  # JournalBusyError and every other JournalError
        print(f"refused: {exc}", flush=True)
        return
    print("held", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await journal.aclose()


async def _sent_then_killed(path: str) -> None:
    """Record two items and a sent mark, then die without closing (like ``kill -9``)."""
    import signal

    from dhmad_async.batch import Journal
    from dhmad_async.batch._items import prepare_items

    journal = await Journal.open(path)
    await journal.register(prepare_items([item(0), item(1)]))
    await journal.mark_sent("order-0", 1000.0)
    print("sent", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        asyncio.run(_hold(sys.argv[2]))
    elif sys.argv[1] == "sent-then-killed":
        asyncio.run(_sent_then_killed(sys.argv[2]))
    else:
        print(json.dumps(asyncio.run(_child(sys.argv[1:]))))
