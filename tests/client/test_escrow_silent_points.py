"""
Where the escrow docs are silent, the SDK's decisions: update amounts in TND, autoSign, description.

See docs/inferences.md for why each choice was made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from client_fakes import RecordingTransport, make_client, response, sample

from dhmad_async import DhmadClient, InvalidParamsError
from dhmad_async.testing import Emulator

ESCROW_ID = "507f1f77bcf86cd799439011"
BUYER = "buyer@example.com"


def fake() -> tuple[DhmadClient, RecordingTransport]:
    """A client over a recording transport answering the documented update/create examples."""
    transport = RecordingTransport(response(200, sample("escrow_update")))
    return make_client(transport), transport


# -- PUT amount is TND ------------------------------------------------------------------------


async def test_an_update_amount_without_its_currency_is_refused_and_nothing_is_sent() -> None:
    """The docs say the update amount is TND; without amount_currency="TND" nothing goes out."""
    client, transport = fake()
    with pytest.raises(InvalidParamsError) as caught:
        await client.escrows.update(ESCROW_ID, amount=Decimal("120"))
    assert set(caught.value.errors) == {"amount"}
    rule = caught.value.errors["amount"]
    assert "TND" in rule and "amount_currency='TND'" in rule and "USD or EUR" in rule
    assert "§" not in str(caught.value)  # the rule in words, not a section number
    assert transport.sent == []


@pytest.mark.parametrize("currency", ["USD", "EUR", "tnd"])
async def test_an_update_amount_in_another_currency_is_refused(currency: Any) -> None:
    """Only TND can be sent; the message says to convert first."""
    client, transport = fake()
    with pytest.raises(InvalidParamsError, match="convert the amount to TND first") as caught:
        await client.escrows.update(ESCROW_ID, amount=Decimal("120"), amount_currency=currency)
    assert "amount_currency" in caught.value.errors
    assert transport.sent == []


async def test_amount_currency_without_an_amount_is_refused() -> None:
    """A stray confirmation is a mistake worth naming."""
    client, transport = fake()
    with pytest.raises(InvalidParamsError, match="only applies together with amount"):
        await client.escrows.update(ESCROW_ID, title="New", amount_currency="TND")
    assert transport.sent == []


async def test_a_confirmed_tnd_amount_is_sent_as_the_amount_alone() -> None:
    """amount_currency is a client-side confirmation: the wire carries only the amount."""
    client, transport = fake()
    result = await client.escrows.update(
        ESCROW_ID, amount=Decimal("1500.00"), amount_currency="TND"
    )
    assert transport.last.json() == {"amount": Decimal("1500.00")}
    assert result.escrow.amount == Decimal("1500.00")


async def test_title_description_and_days_need_no_confirmation() -> None:
    """Only money is guarded; other fields update as before."""
    client, transport = fake()
    await client.escrows.update(ESCROW_ID, title="New", description="d", estimated_delivery_days=3)
    assert transport.last.json() == {"title": "New", "description": "d", "estimatedDeliveryDays": 3}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator."""
    async with Emulator() as e:
        yield e


async def test_a_usd_escrow_keeps_its_amount_when_an_unconfirmed_update_is_refused(
    emu: Emulator,
) -> None:
    """
    End to end: 100 USD would have become 120 TND; now the update is refused before sending.

    Before, ``update(amount=120)`` on a USD escrow was sent and the server read 120 TND.
    """
    async with DhmadClient(emu.api_key, base_url=emu.base_url) as client:
        created = await client.escrows.create(
            title="Dollar deal",
            amount=Decimal("100"),
            currency="USD",
            buyer_email=BUYER,
            contract_terms="Terms.",
            estimated_delivery_days=5,
        )
        before = emu.request_count("PUT")
        with pytest.raises(InvalidParamsError):
            await client.escrows.update(created.escrow.id, amount=Decimal("120"))
        assert emu.request_count("PUT") == before
    # The server's own record: the documented GET example shows no currency.
    stored = emu.escrow(created.escrow.id)
    assert Decimal(str(stored["amount"])) == Decimal("100") and stored["currency"] == "USD"


# -- autoSign and description on create -------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("standard", {"contract_terms": "Terms."}), ("quick", {"seller_email": "s@example.com"})],
)
async def test_auto_sign_false_is_left_off_the_wire(mode: str, extra: dict[str, Any]) -> None:
    """
    autoSign is sent only when true: the docs forbid the field on quick and instant escrows.

    Before, ``auto_sign=False`` sent ``"autoSign": false``, which a server that
    enforces "not allowed for quick" may refuse.
    """
    transport = RecordingTransport(response(201, sample("escrow_create")))
    client = make_client(transport)
    await client.escrows.create(
        title="Kilim",
        amount=Decimal("100"),
        buyer_email=BUYER,
        mode=mode,
        estimated_delivery_days=5,
        auto_sign=False,
        **extra,
    )
    assert "autoSign" not in transport.last.json()


async def test_auto_sign_true_is_sent() -> None:
    """The one case the field is needed."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    client = make_client(transport)
    await client.escrows.create(
        title="Kilim",
        amount=Decimal("100"),
        buyer_email=BUYER,
        contract_terms="Terms.",
        estimated_delivery_days=5,
        auto_sign=True,
    )
    assert transport.last.json()["autoSign"] is True


async def test_description_on_create_is_sent_only_when_given() -> None:
    """The create page does not list description: it is never sent unless the caller gave it."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    client = make_client(transport)
    fields: dict[str, Any] = {
        "title": "Kilim",
        "amount": Decimal("100"),
        "buyer_email": BUYER,
        "contract_terms": "Terms.",
        "estimated_delivery_days": 5,
    }
    await client.escrows.create(**fields)
    assert "description" not in transport.last.json()
    await client.escrows.create(**fields, description="Hand-woven")
    assert transport.last.json()["description"] == "Hand-woven"
