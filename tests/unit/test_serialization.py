"""The converter: wire names, ids, datetimes, money, open enums, errors and round trips."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_models import load as sample

from dhmad_async import ResponseValidationError
from dhmad_async._serialization import _CONVERTER, make_converter, structure, unstructure
from dhmad_async.models import (
    Balance,
    CheckoutSession,
    DeliveryRejection,
    Escrow,
    EscrowMode,
    EscrowStatus,
    IdentityVerification,
    OAuthToken,
    UserRef,
    WebhookEndpointResult,
)


@attrs.frozen(kw_only=True)
class _Snake:
    """A snake_case model with an explicit wire name."""

    __dhmad_wire_case__: ClassVar[str] = "snake"

    some_field: int
    renamed: str | None = attrs.field(default=None, metadata={"wire": "otherName"})


def escrow_with(**fields: Any) -> Escrow:
    """Structure an escrow body holding ``fields`` plus the required id and status."""
    return structure({"id": "e1", "status": "pending", **fields}, Escrow)


# --- converter --------------------------------------------------------------------------


def test_make_converter_builds_private_converters() -> None:
    """Each call gives a new converter, never cattrs' global one."""
    first, second = make_converter(), make_converter()
    assert first is not second
    assert first is not cattrs.global_converter
    assert _CONVERTER is not cattrs.global_converter


def test_generated_hook_is_cached() -> None:
    """The generated structure function is made once per class, not per call."""
    assert _CONVERTER.get_structure_hook(Escrow) is _CONVERTER.get_structure_hook(Escrow)


# --- names and ids ----------------------------------------------------------------------


def test_camel_case_keys_are_read() -> None:
    """camelCase wire keys fill snake_case attributes."""
    escrow = escrow_with(amountTnd=500, estimatedDeliveryDays=7, createdViaThirdParty=True)
    assert escrow.amount_tnd == Decimal(500)
    assert escrow.estimated_delivery_days == 7
    assert escrow.created_via_third_party is True


def test_snake_case_models_and_explicit_wire_names() -> None:
    """Marked models read snake_case keys; ``metadata={"wire": ...}`` wins over both."""
    assert structure({"some_field": 1, "otherName": "x"}, _Snake) == _Snake(
        some_field=1, renamed="x"
    )
    assert unstructure(_Snake(some_field=1, renamed="x")) == {"some_field": 1, "otherName": "x"}
    verification = structure(
        {**sample("identity_get"), "kyc_status": "approved"}, IdentityVerification
    )
    assert verification.kyc_status == "approved"


@pytest.mark.parametrize("key", ["id", "_id"])
def test_id_or_mongo_id(key: str) -> None:
    """Both ``id`` and ``_id`` fill the ``id`` attribute, on top-level and nested models."""
    escrow = structure({key: "e1", "status": "paid", "buyer": {key: "u1"}}, Escrow)
    assert escrow.id == "e1"
    assert escrow.buyer == UserRef(id="u1")


def test_id_wins_over_mongo_id() -> None:
    """When both keys are present, ``id`` is used."""
    assert structure({"id": "a", "_id": "b", "status": "paid"}, Escrow).id == "a"


def test_unknown_fields_are_ignored() -> None:
    """New fields in a response never break parsing."""
    escrow = escrow_with(brandNewField={"nested": [1, 2]}, status="paid")
    assert escrow.status is EscrowStatus.PAID


def test_missing_required_fields_are_reported_together() -> None:
    """A body without id and status fails once, naming both, with the body attached."""
    body = {"title": "t"}
    with pytest.raises(ResponseValidationError) as info:
        structure(body, Escrow)
    assert sorted(info.value.errors) == [
        "required field missing @ $.id",
        "required field missing @ $.status",
    ]
    assert info.value.body is body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("507f1f77bcf86cd799439013", "507f1f77bcf86cd799439013"),
        ({"_id": "u", "firstName": "J"}, UserRef(id="u", first_name="J")),
    ],
)
def test_party_is_id_object_or_null(value: Any, expected: Any) -> None:
    """``seller``/``buyer`` accept a string id, a user object or null."""
    assert escrow_with(seller=value).seller == expected


def test_party_rejects_other_shapes() -> None:
    """A party that is neither id, object nor null is a validation error."""
    with pytest.raises(ResponseValidationError):
        escrow_with(seller=[1])


def test_numeric_id_is_kept_as_string() -> None:
    """IDs are opaque strings, even if a number arrives."""
    assert structure({"id": 42, "status": "paid"}, Escrow).id == "42"


# --- datetimes --------------------------------------------------------------------------

UTC_10 = dt.datetime(2024, 1, 15, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:00:00Z", UTC_10),
        ("2024-01-15T10:00:00.000Z", UTC_10),
        ("2024-01-15T10:00:00.123Z", UTC_10.replace(microsecond=123000)),
        ("2024-01-15T11:00:00+01:00", UTC_10),
        ("2024-01-15T10:00:00", UTC_10),
        (1705312800, UTC_10),
        (1705312800000, UTC_10),
    ],
)
def test_datetimes(text: Any, expected: dt.datetime) -> None:
    """ISO 8601 with or without milliseconds, Z or offset, naive or epoch: always aware."""
    parsed = escrow_with(createdAt=text).created_at
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


def test_bad_datetime_is_a_validation_error() -> None:
    """A malformed timestamp is reported with its path."""
    with pytest.raises(ResponseValidationError) as info:
        escrow_with(createdAt="yesterday")
    assert info.value.errors[0].endswith("@ $.created_at")


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1500, "1500"),
        (Decimal("1500.50"), "1500.50"),
        (1500.5, "1500.5"),
        (0.1, "0.1"),
        ("1500.50", "1500.50"),
        (" 12.3 ", "12.3"),
    ],
)
def test_amounts_become_exact_decimals(value: Any, expected: str) -> None:
    """int, Decimal, float and str amounts all become the exact Decimal."""
    amount = structure({"available": value, "pending": 0, "escrow": 0}, Balance).available
    assert type(amount) is Decimal
    assert str(amount) == expected


@pytest.mark.parametrize("value", [True, "abc", "NaN", float("inf"), [1], None])
def test_bad_amounts_are_rejected(value: Any) -> None:
    """Booleans, non-numbers and non-finite numbers are not money."""
    with pytest.raises(ResponseValidationError):
        structure({"available": value, "pending": 0, "escrow": 0}, Balance)


# --- open enums -------------------------------------------------------------------------


def test_known_enum_values_become_members() -> None:
    """Known values map to the enum members."""
    escrow = escrow_with(status="delivered", mode="instant")
    assert escrow.status is EscrowStatus.DELIVERED
    assert escrow.mode is EscrowMode.INSTANT


def test_unknown_enum_values_are_kept() -> None:
    """A value added by DHMAD later is kept as a plain string, not an error."""
    escrow = escrow_with(status="disputed_partial", mode="escrow_plus", currency="GBP")
    assert escrow.status == "disputed_partial"
    assert not isinstance(escrow.status, EscrowStatus)
    assert escrow.mode == "escrow_plus"
    assert escrow.currency == "GBP"
    session_body = sample("session_get") | {"action": "new_action", "status": "x"}
    session = structure(session_body, CheckoutSession)
    assert session.action == "new_action"
    hook_body = sample("webhook_create")
    hook_body["webhook"]["events"] = ["escrow.new_event"]
    hook = structure(hook_body, WebhookEndpointResult)
    assert hook.webhook.events == ["escrow.new_event"]


def test_enum_rejects_non_strings() -> None:
    """An enum field holding a number is a validation error."""
    with pytest.raises(ResponseValidationError):
        escrow_with(status=3)


# --- errors -----------------------------------------------------------------------------


def test_errors_are_flattened_and_keep_the_body() -> None:
    """Every bad field is listed with its path; the body rides on the error, not in its text."""
    body = {"id": "e", "status": "paid", "amount": "lots", "createdAt": "never", "title": "secret"}
    with pytest.raises(ResponseValidationError) as info:
        structure(body, Escrow)
    error = info.value
    assert sorted(error.errors) == [
        "invalid value for type, expected datetime.datetime | None @ $.created_at",
        "invalid value for type, expected decimal.Decimal | None @ $.amount",
    ]
    assert error.body is body
    assert "lots" not in str(error) and "secret" not in str(error)
    assert str(error).startswith("Response does not match Escrow:")


def test_error_message_is_bounded() -> None:
    """Many bad fields do not produce an unbounded message."""
    fields = {"paidAt": "x", "deliveredAt": "x", "completedAt": "x", "cancelledAt": "x"}
    fields |= {"expiresAt": "x", "updatedAt": "x", "createdAt": "x"}
    with pytest.raises(ResponseValidationError) as info:
        escrow_with(**fields)
    assert len(info.value.errors) == 7
    assert "and 2 more" in str(info.value)


def test_secret_bodies_are_not_attached() -> None:
    """Models holding secrets never put the raw body or a token in the error."""
    with pytest.raises(ResponseValidationError) as info:
        structure(
            {"access_token": "tok-123", "token_type": "Bearer", "expires_in": "soon", "scope": ""},
            OAuthToken,
        )
    assert info.value.body is None
    assert "tok-123" not in str(info.value)


def test_non_mapping_body() -> None:
    """A list where an object is expected is a validation error, not a crash."""
    with pytest.raises(ResponseValidationError):
        structure([1, 2], Escrow)


# --- unstructure ------------------------------------------------------------------------


def test_unstructure_uses_wire_format() -> None:
    """camelCase keys, Decimals kept, datetimes as ISO 8601 with Z, enums as strings."""
    escrow = Escrow(
        id="e",
        amount_tnd=Decimal("500.10"),
        status=EscrowStatus.PAID,
        created_at=dt.datetime(2024, 1, 15, 11, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        delivery_rejections=[
            DeliveryRejection(rejected_at=UTC_10, reason="r", previous_delivered_at=UTC_10)
        ],
        seller=UserRef(id="u"),
    )
    data = unstructure(escrow)
    assert data["amountTnd"] == Decimal("500.10") and type(data["amountTnd"]) is Decimal
    assert data["createdAt"] == "2024-01-15T10:00:00Z"
    assert data["status"] == "paid" and type(data["status"]) is str
    assert data["deliveryRejections"][0]["reason"] == "r"
    assert data["seller"] == {"id": "u", "email": None, "firstName": None, "lastName": None}


# --- round trips ------------------------------------------------------------------------

aware = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2999, 1, 1), timezones=st.just(dt.UTC)
)
money = st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=0, max_value=10**9)
text = st.text(max_size=20)
party = st.none() | text | st.builds(UserRef, id=text, email=st.none() | text)
escrows = st.builds(
    Escrow,
    id=text,
    title=st.none() | text,
    amount=st.none() | money,
    amount_tnd=st.none() | money,
    status=st.sampled_from(EscrowStatus) | text,
    mode=st.none() | st.sampled_from(EscrowMode) | text,
    seller=party,
    buyer=party,
    estimated_delivery_days=st.none() | st.integers(1, 365),
    created_at=st.none() | aware,
    paid_at=st.none() | aware,
    created_via_third_party=st.none() | st.booleans(),
    delivery_rejections=st.lists(
        st.builds(
            DeliveryRejection,
            rejected_at=aware,
            reason=st.none() | text,
            previous_delivered_at=aware,
        ),
        max_size=2,
    ),
    proof_info=st.none() | st.dictionaries(text, text, max_size=2),
)


@settings(max_examples=60, deadline=None)
@given(escrows)
def test_escrow_round_trip(escrow: Escrow) -> None:
    """structure(unstructure(x)) == x for any escrow."""
    assert structure(unstructure(escrow), Escrow) == escrow


@settings(max_examples=30, deadline=None)
@given(escrows)
def test_escrow_round_trip_through_json_text(escrow: Escrow) -> None:
    """An escrow survives real JSON text, with Decimals written as strings."""
    wire = json.loads(json.dumps(unstructure(escrow), default=str), parse_float=Decimal)
    assert structure(wire, Escrow) == escrow
