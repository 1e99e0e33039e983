"""Create-escrow checks the mode rules of REFERENCE §3.3 before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from client_fakes import RecordingTransport, make_client, response, sample

from dhmad_async import EscrowParams, InvalidParamsError

STANDARD: dict[str, Any] = {
    "title": "Logo",
    "amount": Decimal("100"),
    "buyer_email": "buyer@example.com",
    "estimated_delivery_days": 7,
    "contract_terms": "Deliver a logo.",
}
QUICK: dict[str, Any] = {
    "title": "Phone",
    "amount": Decimal("100"),
    "buyer_email": "buyer@example.com",
    "seller_email": "seller@example.com",
    "mode": "quick",
    "estimated_delivery_days": 3,
}
INSTANT: dict[str, Any] = {
    "title": "Ticket",
    "amount": Decimal("1"),
    "buyer_email": "buyer@example.com",
    "mode": "instant",
}


@pytest.mark.parametrize(
    ("base", "changes", "field", "words"),
    [
        (QUICK, {"contract_terms": "x"}, "contract_terms", "mode='quick'"),
        (INSTANT, {"contract_terms": "x"}, "contract_terms", "mode='instant'"),
        (STANDARD, {"amount": Decimal("0")}, "amount", "greater than 0"),
        (STANDARD, {"amount": Decimal("-5")}, "amount", "greater than 0"),
        (STANDARD, {"amount": Decimal("4.99")}, "amount", "at least 5"),
        (STANDARD, {"amount": 10.5}, "amount", "floats"),
        (INSTANT, {"seller_email": "s@example.com"}, "seller_email", "mode='instant'"),
        (STANDARD, {"contract_terms": None}, "contract_terms", "required with mode='standard'"),
        (STANDARD, {"estimated_delivery_days": None}, "estimated_delivery_days", "required"),
        (QUICK, {"auto_sign": True}, "auto_sign", "not allowed with mode='quick'"),
        (INSTANT, {"auto_sign": True}, "auto_sign", "not allowed"),
        (
            STANDARD,
            {"fulfillment_policy": {"type": "purchase_proof_required"}},
            "fulfillment_policy",
            "only valid with mode='quick'",
        ),
        (
            QUICK,
            {"fulfillment_policy": {"type": "x", "proof_upload_deadline_hours": 100}},
            "fulfillment_policy.type",
            "purchase_proof_required",
        ),
        (STANDARD, {"title": "x" * 201}, "title", "at most 200"),
        (STANDARD, {"title": "  "}, "title", "required"),
        (STANDARD, {"mode": "express"}, "mode", "one of"),
        (STANDARD, {"currency": "GBP"}, "currency", "one of"),
        (STANDARD, {"buyer_email": "nobody"}, "buyer_email", "e-mail"),
        (STANDARD, {"contract_terms": "x" * 10_001}, "contract_terms", "10000"),
        (STANDARD, {"developer_fee_percentage": 5}, "developer_fee_percentage", "third party"),
    ],
)
async def test_rule_violations_send_nothing(
    base: dict[str, Any], changes: dict[str, Any], field: str, words: str
) -> None:
    """A broken rule raises a ValueError naming the field and rule; no request is made."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    client = make_client(transport)
    with pytest.raises(ValueError) as info:
        await client.escrows.create(**{**base, **changes})
    assert isinstance(info.value, InvalidParamsError)
    assert field in info.value.errors
    assert words in info.value.errors[field]
    assert field in str(info.value)
    assert transport.sent == []


async def test_all_violations_reported_together() -> None:
    """Several broken rules are listed in one error."""
    client = make_client(transport := RecordingTransport())
    with pytest.raises(InvalidParamsError) as info:
        await client.escrows.create(**{**QUICK, "contract_terms": "x", "title": "", "amount": 0})
    assert {"contract_terms", "title", "amount"} <= set(info.value.errors)
    assert transport.sent == []


@pytest.mark.parametrize("params", [STANDARD, QUICK, INSTANT])
async def test_valid_modes_are_sent(params: dict[str, Any]) -> None:
    """Each mode's minimal valid parameters pass and are sent once."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    await make_client(transport).escrows.create(**params)
    assert len(transport.sent) == 1


async def test_validate_false_leaves_checks_to_server() -> None:
    """validate=False sends even a rule-breaking request."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    await make_client(transport).escrows.create(**{**QUICK, "contract_terms": "x"}, validate=False)
    assert transport.last.json()["contractTerms"] == "x"


def test_escrow_params_from_mapping() -> None:
    """from_mapping takes snake or camel keys and refuses unknown or missing ones."""
    params = EscrowParams.from_mapping({**STANDARD, "buyerEmail": "b@example.com"})
    assert params.buyer_email == "b@example.com"
    with pytest.raises(InvalidParamsError, match="not a create-escrow parameter"):
        EscrowParams.from_mapping({**STANDARD, "colour": "red"})
    with pytest.raises(InvalidParamsError, match="required"):
        EscrowParams.from_mapping({"title": "x"})


def test_to_wire_keeps_exact_amounts() -> None:
    """Strings and ints become exact Decimals in the wire body."""
    wire = EscrowParams.from_mapping({**STANDARD, "amount": "1500.505"}).to_wire()
    assert wire["amount"] == Decimal("1500.505")
    assert str(wire["amount"]) == "1500.505"


# Amounts are bounded before any Decimal arithmetic: a huge exponent used to
# build a 10 MB body ("1e9999999") or crash with decimal.Overflow.
HUGE = ["1e9999999", "1E+99999999", Decimal("1e99999999"), "-1e99999999", 10**40]
TOO_LARGE = ["1000000000", Decimal("1000000000.000"), 10**9, *HUGE]
TOO_FINE = ["10.0001", Decimal("10.0001"), "1e-99999999", Decimal("5.0000000001")]
# Trailing zeros past the third place are exact (a NUMERIC(12,4) column gives 10.0000).
BOUNDARY_OK = [
    "999999999.999",
    Decimal("999999999.999"),
    "10.001",
    "10.000",
    "10.0000",
    Decimal("10.00000000"),
    5,
    "1E+2",
    " 7.5 ",
]


@pytest.mark.parametrize("amount", TOO_LARGE, ids=repr)
async def test_amount_above_the_bound_is_refused(amount: object) -> None:
    """Amounts at or above 10^9 are refused, naming the bound; nothing is sent."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    with pytest.raises(InvalidParamsError) as info:
        await make_client(transport).escrows.create(**{**STANDARD, "amount": amount})
    rule = info.value.errors["amount"]
    assert "at most 999999999.999" in rule or "greater than 0" in rule
    assert len(str(info.value)) < 300
    assert transport.sent == []


@pytest.mark.parametrize("amount", TOO_FINE, ids=repr)
async def test_amount_finer_than_a_millime_is_refused(amount: object) -> None:
    """At most 3 decimal places (1 millime = 0.001 TND); the SDK never rounds money."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    with pytest.raises(InvalidParamsError) as info:
        await make_client(transport).escrows.create(**{**STANDARD, "amount": amount})
    assert "at most 3 decimal places" in info.value.errors["amount"]
    assert transport.sent == []


@pytest.mark.parametrize("amount", BOUNDARY_OK, ids=repr)
async def test_amounts_within_bounds_are_sent_exactly(amount: object) -> None:
    """The largest and finest allowed amounts go out with their exact digits."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    await make_client(transport).escrows.create(**{**STANDARD, "amount": amount})
    assert transport.last.json()["amount"] == Decimal(str(amount).strip())


@pytest.mark.parametrize("amount", [*HUGE, "10.0001", "1e-99999999"], ids=repr)
async def test_update_amount_is_bounded_too(amount: object) -> None:
    """``escrows.update(amount=...)`` follows the same bounds."""
    transport = RecordingTransport(response(200, sample("escrow_update")))
    with pytest.raises(InvalidParamsError, match="amount"):
        await make_client(transport).escrows.update("e1", amount=amount)  # type: ignore[arg-type]
    assert transport.sent == []


@pytest.mark.parametrize(
    ("fee", "words"),
    [
        ("1e-99999999", "at most 3 decimal places"),
        ("2.0001", "at most 3 decimal places"),
        ("1e99999999", "from 0 to 100"),
        ("100.001", "from 0 to 100"),
        ("-1", "from 0 to 100"),
        ("NaN", "from 0 to 100"),
        (2.5, "from 0 to 100"),
    ],
)
async def test_developer_fee_percentage_is_bounded(fee: object, words: str) -> None:
    """The fee is a percentage from 0 to 100 with at most 3 decimal places."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    params = {**QUICK, "developer_fee_percentage": fee}
    with pytest.raises(InvalidParamsError) as info:
        await make_client(transport).escrows.create(**params)
    assert words in info.value.errors["developer_fee_percentage"]
    assert transport.sent == []


async def test_developer_fee_percentage_within_bounds_is_sent() -> None:
    """A valid fee goes out exactly."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    await make_client(transport).escrows.create(**{**QUICK, "developer_fee_percentage": "2.125"})
    assert transport.last.json()["developerFeePercentage"] == Decimal("2.125")


async def test_validate_false_still_cannot_build_a_huge_body() -> None:
    """Without validation the encoder still refuses a number it would write as megabytes."""
    transport = RecordingTransport(response(201, sample("escrow_create")))
    with pytest.raises(ValueError, match="digits"):
        await make_client(transport).escrows.create(
            **{**STANDARD, "amount": "1e9999999"}, validate=False
        )
    assert transport.sent == []
