"""
Listing escrows while they are being created, against the emulator over HTTP.

Before, ``await client.escrows.list()`` raised (a pager is not awaitable), and
an escrow pushed onto the next page by a create came back twice, silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dhmad_async import DhmadClient, PaginationDriftWarning
from dhmad_async.models import EscrowPage
from dhmad_async.testing import Emulator

INSTANT = {"amount": "10", "buyer_email": "buyer@example.com", "mode": "instant"}


@pytest.fixture
async def client() -> AsyncIterator[tuple[DhmadClient, Emulator]]:
    async with (
        Emulator(time_scale=60) as emu,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        for n in range(5):
            await client.escrows.create(title=f"Order {n}", **INSTANT)
        yield client, emu


async def test_await_list_gives_the_first_page(client: tuple[DhmadClient, Emulator]) -> None:
    """``await client.escrows.list(limit=2)`` is page 1, with its pagination."""
    api, _ = client
    page = await api.escrows.list(limit=2)
    assert isinstance(page, EscrowPage)
    assert len(page.escrows) == 2 and page.pagination.total == 5


async def test_creates_while_listing_are_reported_and_never_duplicated(
    client: tuple[DhmadClient, Emulator],
) -> None:
    """A create between pages: each escrow once, a warning, and the counters say why."""
    api, _ = client
    pager = api.escrows.list(limit=2)
    seen: list[str] = []
    with pytest.warns(PaginationDriftWarning):
        async for escrow in pager:
            seen.append(escrow.id)
            if len(seen) == 2:  # between page 1 and page 2
                await api.escrows.create(title="Late order", **INSTANT)
    assert len(seen) == len(set(seen)) == 5
    assert pager.duplicates == 1 and pager.total_changes == 1


async def test_until_stable_sees_every_escrow(client: tuple[DhmadClient, Emulator]) -> None:
    """With until_stable=True the late escrow is found by a second pass, at one pass's cost."""
    api, emu = client
    pager = api.escrows.list(limit=2, until_stable=True)
    seen: list[str] = []
    before = emu.request_counts["GET /api/v1/escrows"]
    async for escrow in pager:
        seen.append(escrow.id)
        if len(seen) == 2:
            await api.escrows.create(title="Late order", **INSTANT)
    assert pager.passes == 2
    assert emu.request_counts["GET /api/v1/escrows"] - before == 3 + 3
    everything = [e.id async for e in api.escrows.list(limit=100)]
    assert sorted(seen) == sorted(everything) and len(everything) == 6
