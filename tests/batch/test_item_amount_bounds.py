"""An out-of-bounds amount fails its own batch item; the other items are still created."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from batch_support import item

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator

POST = ("POST", "/api/v1/escrows")


@pytest.mark.parametrize(
    ("amount", "rule"),
    [
        ("1e99999999", "at most 999999999.999"),  # crashed the batch with decimal.Overflow
        (Decimal("1e99999999"), "at most 999999999.999"),
        ("1e-99999999", "at most 3 decimal places"),
        ("10.0001", "at most 3 decimal places"),
    ],
)
async def test_one_bad_amount_fails_only_its_item(
    emu: Emulator,
    make_client: Callable[..., DhmadClient],
    tmp_path: Path,
    amount: object,
    rule: str,
) -> None:
    """The bad item is reported failed, naming amount and the rule; the others are created."""
    client = make_client()
    items = [item(0), item(1, amount=amount), item(2)]
    report = await client.escrows.create_many(items, journal=tmp_path / "j.sqlite")
    assert [o.status for o in report] == ["created", "failed", "created"]
    error = report.outcomes[1].error or ""
    assert "amount" in error and rule in error
    assert emu.request_count(*POST) == 2
    assert sorted(e["title"] for e in emu.escrows()) == ["Order 0", "Order 2"]
