"""The generated fast path builds exactly the model the lenient converter builds, or steps aside."""

from __future__ import annotations

import datetime as dt
import inspect
import math
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_models import SAMPLE_MODELS, load

from dhmad_async import ResponseValidationError, models
from dhmad_async import _serialization as serialization
from dhmad_async._serialization import _structure_lenient, fast_structurer, structure
from dhmad_async.models import Escrow, EscrowStatus, UserRef

MODEL_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(models, inspect.isclass)
        if attrs.has(cls) and cls is not models.Unknown
    ),
    key=lambda cls: cls.__name__,
)


def same(a: Any, b: Any, path: str = "$") -> None:
    """Assert ``a`` and ``b`` are equal *and* of the same types all the way down.

    ``==`` alone is not enough: ``EscrowStatus.PAID == "paid"`` and
    ``Decimal("1.0") == Decimal("1.00")``, and ``extra``/``_request_id`` take no
    part in a model's equality.
    """
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if attrs.has(type(a)):
        for field in attrs.fields(type(a)):
            same(getattr(a, field.name), getattr(b, field.name), f"{path}.{field.name}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys differ"
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple(), f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, dt.datetime):
        assert a == b and a.tzinfo == b.tzinfo, f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def outcome(data: Any, cls: type[Any], fn: Any) -> Any:
    """The model ``fn`` builds, or the error messages it raises."""
    try:
        return fn(data, cls)
    except ResponseValidationError as exc:
        return ("error", exc.errors)


def check_equivalent(data: Any, cls: type[Any]) -> None:
    """structure() (fast path first) and the lenient converter agree on ``data``."""
    fast = fast_structurer(cls)
    assert fast is not None
    lenient = outcome(data, cls, _structure_lenient)
    same(outcome(data, cls, structure), lenient)
    try:
        built = fast(data)
    except Exception:
        return  # stepping aside is always allowed; structure() then used the lenient path
    same(built, lenient)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_model_has_a_fast_path(cls: type[Any]) -> None:
    """No model silently falls back to the slow converter for every body."""
    assert fast_structurer(cls) is not None


@pytest.mark.parametrize("stem", sorted(SAMPLE_MODELS))
def test_fast_path_matches_lenient_on_every_sample(stem: str) -> None:
    """Each documented example gives the same model, value for value and type for type."""
    cls = SAMPLE_MODELS[stem][0]
    data = load(stem)
    fast = fast_structurer(cls)
    assert fast is not None
    same(fast(data), _structure_lenient(data, cls))  # the sample itself never falls back
    check_equivalent(data, cls)


def test_sample_body_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The get-escrow example never reaches the lenient converter."""
    calls: list[type[Any]] = []

    def spy(data: Any, cls: type[Any]) -> Any:
        calls.append(cls)
        return _structure_lenient(data, cls)

    monkeypatch.setattr(serialization, "_structure_lenient", spy)
    escrow = structure(load("escrow_get"), Escrow)
    assert escrow.status is EscrowStatus.PAID
    assert calls == []


class _Status(str):
    """A str subclass: the lenient open-enum hook takes it, the fast path does not."""


@pytest.mark.parametrize(
    ("change", "expect_error"),
    [
        ({"status": _Status("paid")}, False),  # a str subclass
        ({"deliveryRejections": ()}, False),  # a tuple where a list is declared
        ({"seller": ["not", "an", "object"]}, True),
        ({"id": None}, True),
        ({"signatures": "signed"}, True),
        ({"amount": Decimal("NaN")}, True),
        ({"expiresAt": "next tuesday"}, True),
    ],
)
def test_unexpected_shapes_fall_back_to_the_lenient_converter(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], expect_error: bool
) -> None:
    """A shape the fast path does not handle is decided (and reported) by the lenient converter."""
    calls: list[type[Any]] = []

    def spy(data: Any, cls: type[Any]) -> Any:
        calls.append(cls)
        return _structure_lenient(data, cls)

    monkeypatch.setattr(serialization, "_structure_lenient", spy)
    data = {**load("escrow_get"), **change}
    if expect_error:
        with pytest.raises(ResponseValidationError) as caught:
            structure(data, Escrow)
        assert caught.value.errors  # the lenient converter's detailed messages
    else:
        structure(data, Escrow)
    assert calls == [Escrow]
    check_equivalent(data, Escrow)


@pytest.mark.parametrize(
    "change",
    [
        {"expiresAt": "2024-02-15T10:00:00"},  # naive: read as UTC
        {"expiresAt": "2024-02-15T10:00:00.123+01:00"},
        {"expiresAt": 1_707_991_200},  # epoch seconds
        {"expiresAt": 1_707_991_200_000},  # epoch milliseconds
        {"amount": "1500.50"},
        {"amount": 1500},
        {"amount": 1500.5},
        {"amount": Decimal("1E+3")},
        {"estimatedDeliveryDays": Decimal("7.0")},
        {"estimatedDeliveryDays": "7"},
        {"title": 42},
        {"status": "completed"},
        {"status": "frozen"},  # unknown: kept as str
        {"mode": None, "currency": "EUR"},
        {"seller": "507f1f77bcf86cd799439013", "buyer": None},
        {"seller": {"id": "u1", "_id": "u2"}},
        {"proofInfo": {"phase": "awaiting_proof", "n": [1, Decimal("2.5")]}},
        {
            "deliveryRejections": [
                {"rejectedAt": "2024-01-18T10:00:00Z", "previousDeliveredAt": "2024-01-17T10:00:00"}
            ]
        },
        {"fulfillmentPolicy": {"allowedProofTypes": ["image", "hologram"]}},
        {"fulfillmentPolicy": {"allowedProofTypes": None}},
        {"createdViaThirdParty": None},
    ],
)
def test_fast_path_matches_lenient_on_alternative_values(change: dict[str, Any]) -> None:
    """Every form a simple hook accepts gives the same value, type and time zone."""
    data = {**load("escrow_get"), **change}
    check_equivalent(data, Escrow)
    fast = fast_structurer(Escrow)
    assert fast is not None
    same(fast(data), _structure_lenient(data, Escrow))  # all of these take the fast path


def test_extra_keys_null_arrays_unknown_enums_and_mongo_ids() -> None:
    """The lenient behaviours hold on the fast path: extra, [] for null, unknown values, _id."""
    data = {
        "_id": "e1",
        "status": "teleported",
        "currency": "XTS",
        "deliveryRejections": None,
        "riskScore": Decimal("0.5"),
        "seller": {"_id": "u1", "nickname": "jo"},
    }
    fast = fast_structurer(Escrow)
    assert fast is not None
    escrow = fast(data)
    assert escrow.id == "e1"
    assert escrow.status == "teleported" and type(escrow.status) is str
    assert escrow.currency == "XTS"
    assert escrow.delivery_rejections == []
    assert escrow.extra == {"riskScore": Decimal("0.5")}  # "_id" was read as the id
    assert isinstance(escrow.seller, UserRef) and escrow.seller.extra == {"nickname": "jo"}
    assert escrow._request_id is None
    same(escrow, _structure_lenient(data, Escrow))


def test_fresh_containers_per_model() -> None:
    """Defaults made by factories are never shared between two models."""
    fast = fast_structurer(Escrow)
    assert fast is not None
    first, second = fast({"id": "a", "status": "paid"}), fast({"id": "b", "status": "paid"})
    assert first.delivery_rejections is not second.delivery_rejections
    assert first.extra is not second.extra


# --- hypothesis: variants of every sample ----------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.decimals(allow_nan=True, allow_infinity=True, places=2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["paid", "pending", "TND", "2024-01-15T10:00:00Z", "2024-01-15T10:00:00", "7"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _variant(draw: st.DrawFn, data: Any) -> Any:
    """``data`` with keys dropped, replaced by arbitrary values, or added, at any depth."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace", "null"]))
            if action == "keep":
                out[key] = draw(_variant(value))
            elif action == "replace":
                out[key] = draw(_values)
            elif action == "null":
                out[key] = None
        if draw(st.booleans()):
            out[draw(st.text(max_size=10))] = draw(_values)
        return out
    if isinstance(data, list):
        return [draw(_variant(item)) for item in data]
    return data


@pytest.mark.parametrize("stem", sorted(SAMPLE_MODELS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_matches_lenient_on_variants(stem: str, data: st.DataObject) -> None:
    """Dropped, nulled, retyped and added keys: the same model or the same errors."""
    cls = SAMPLE_MODELS[stem][0]
    check_equivalent(data.draw(_variant(load(stem))), cls)
