"""The SQLite journal: intent before sending, one claim per escrow, one process at a time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from batch_support import item

from dhmad_async.batch import Journal, JournalBusyError, JournalState
from dhmad_async.batch._items import prepare_items
from dhmad_async.batch._journal import ClaimConflict
from dhmad_async.batch._reconcile import escrow_matches
from dhmad_async.models import Escrow


async def test_states_survive_reopening(tmp_path: Path) -> None:
    """Registered intents and a sent mark are on disk after the journal is closed."""
    prepared = prepare_items([item(0), item(1)])
    journal = await Journal.open(tmp_path / "j.sqlite")
    await journal.register(prepared)
    await journal.mark_sent("order-0", 1000.0)
    await journal.aclose()
    journal = await Journal.open(tmp_path / "j.sqlite")
    try:
        rows = await journal.rows()
    finally:
        await journal.aclose()
    assert [(r.key, r.state, r.attempts, r.floor) for r in rows] == [
        ("order-0", JournalState.SENT, 1, 1000.0),
        ("order-1", JournalState.PENDING, 0, None),
    ]


async def test_an_escrow_id_cannot_be_claimed_twice(tmp_path: Path) -> None:
    """The second item claiming the same escrow id gets ClaimConflict."""
    journal = await Journal.open(tmp_path / "j.sqlite")
    try:
        await journal.register(prepare_items([item(0), item(1)]))
        await journal.mark_created("order-0", "e1", {"id": "e1"}, reconciled=False)
        with pytest.raises(ClaimConflict):
            await journal.mark_created("order-1", "e1", {"id": "e1"}, reconciled=True)
        assert await journal.claimed_ids() == {"e1"}
    finally:
        await journal.aclose()


async def test_second_opener_is_refused(tmp_path: Path) -> None:
    """A journal open in one place cannot be opened again until it is closed."""
    first = await Journal.open(tmp_path / "j.sqlite")
    try:
        with pytest.raises(JournalBusyError):
            await Journal.open(tmp_path / "j.sqlite")
    finally:
        await first.aclose()
    second = await Journal.open(tmp_path / "j.sqlite")
    await second.aclose()


def test_duplicate_external_keys_are_rejected() -> None:
    """A key used twice in one batch is invalid the second time; automatic keys are stable."""
    prepared = prepare_items([item(0), item(1, external_key="order-0"), item(2, external_key=None)])
    assert prepared[0].error is None
    assert prepared[1].error is not None and "more than once" in prepared[1].error
    again = prepare_items([item(0), item(1, external_key="order-0"), item(2, external_key=None)])
    assert prepared[2].key == again[2].key and prepared[2].key.startswith("auto-")


def test_matching_normalises_amounts_and_emails() -> None:
    """500.00 matches 500 and emails compare case-insensitively; another amount does not match."""
    (prepared,) = prepare_items([item(0, amount="25.50", buyer_email="B@Example.com")])
    assert prepared.wire is not None
    escrow = Escrow(
        id="e1",
        status="pending",
        title="Order 0",
        amount=Decimal("25.5"),
        currency="TND",
        mode="quick",
        buyer_email="b@example.com",
        seller_email="seller@example.com",
    )
    assert escrow_matches(prepared.wire, escrow)
    other = Escrow(id="e2", status="pending", title="Order 0", amount=Decimal("26"))
    assert not escrow_matches(prepared.wire, other)
