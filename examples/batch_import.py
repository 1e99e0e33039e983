"""
Import orders as escrows with ``create_many``: resumable, reconciled, at the rate limit.

Run against the local emulator (``python -m dhmad_async emulator`` prints a key and URL)::

    DHMAD_API_KEY=sk_sandbox_... DHMAD_BASE_URL=http://127.0.0.1:PORT/api/v1 \\
        python examples/batch_import.py

Run it twice: the second run finds every item in the journal and sends nothing.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from dhmad_async import DhmadClient
from dhmad_async.batch import BatchProgress


def orders() -> list[dict[str, object]]:
    """Stand-in for rows from your order database; ``external_key`` is the order id."""
    return [
        {
            "external_key": f"order-{n}",
            "title": f"Order #{n}",
            "amount": Decimal("49.900"),
            "buyer_email": f"customer{n}@example.com",
            "seller_email": "shop@example.com",
            "mode": "quick",
            "estimated_delivery_days": 3,
        }
        for n in range(1, 51)
    ]


def show(progress: BatchProgress) -> None:
    """Print a line every ten items."""
    if progress.done % 10 == 0 or progress.done == progress.total:
        print(f"{progress.done}/{progress.total}: {progress.created} created")


async def main() -> None:
    """Create the escrows and print the ones that need attention."""
    async with DhmadClient.from_env() as client:
        report = await client.escrows.create_many(
            orders(), journal="orders.sqlite", on_progress=show
        )
    for outcome in report:
        if outcome.status != "created":
            print(outcome.external_key, outcome.status, outcome.error)
    report.write("orders-report.csv")
    print(report.counts)


if __name__ == "__main__":
    asyncio.run(main())
