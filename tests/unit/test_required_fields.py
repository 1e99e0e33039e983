"""
Required model fields follow the documented examples, and every model has ``to_dict()``.

A field is required exactly when every REFERENCE example of its object has it
(``tests/samples``), except where the docs say in words that it may be absent
(``OPTIONAL_BY_THE_DOCS``). Before, nearly every field was Optional, so
``mypy`` accepted ``escrow.status.upper()`` only after a None check, and a
body without ``status`` parsed silently into ``None``.
"""

from __future__ import annotations

import collections
import json
import types
import typing
from decimal import Decimal
from typing import Any

import attrs
import pytest
from test_models import SAMPLE_MODELS, load

from dhmad_async._serialization import _declared_fields, structure, wire_name
from dhmad_async.models import WireModel

# Present in every example, yet optional because the docs say they may be missing.
OPTIONAL_BY_THE_DOCS: dict[str, set[str]] = {
    # Users are embedded without id or name in some bodies (webhook payloads carry only _id).
    "UserRef": {"id"},
    # The buyer's reason is optional when rejecting a delivery.
    "DeliveryRejection": {"reason"},
    # The only example is a request body; no response example shows the policy.
    "FulfillmentPolicy": {
        "type",
        "proofUploadDeadlineHours",
        "buyerReviewDeadlineHours",
        "allowedProofTypes",
    },
    # Only when the openid scope was requested.
    "OAuthToken": {"id_token"},
    # Scope-dependent claims; only sub and kyc_verified are always included.
    "UserInfo": {
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "kyc_status",
    },
    # The secret is returned by create and regenerate only, never by list or get.
    "WebhookEndpoint": {"secret"},
}


def _models_in(tp: Any) -> list[tuple[type[Any], bool]]:
    """The attrs classes a field type holds, each with whether it sits in a list."""
    origin = typing.get_origin(tp)
    if origin is list:
        return [(cls, True) for cls, _ in _models_in(typing.get_args(tp)[0])]
    if origin is typing.Union or origin is types.UnionType:
        return [found for arg in typing.get_args(tp) for found in _models_in(arg)]
    return [(tp, False)] if attrs.has(tp) else []


def _walk(cls: type[Any], data: Any, seen: dict[type[Any], list[set[str]]]) -> None:
    """Record the keys of every object of every model class found in ``data``."""
    if not isinstance(data, dict):
        return
    keys = set(data) | ({"id"} if "_id" in data else set())
    seen[cls].append(keys)
    hints = typing.get_type_hints(cls)
    for field in _declared_fields(cls):
        value = data.get(wire_name(cls, field))
        for inner, is_list in _models_in(hints[field.name]):
            for item in (value or []) if is_list else [value]:
                _walk(inner, item, seen)


def _occurrences() -> dict[type[Any], list[set[str]]]:
    seen: dict[type[Any], list[set[str]]] = collections.defaultdict(list)
    for stem, (cls, _) in SAMPLE_MODELS.items():
        _walk(cls, load(stem), seen)
    return seen


OCCURRENCES = _occurrences()


@pytest.mark.parametrize("cls", sorted(OCCURRENCES, key=lambda c: c.__name__), ids=repr)
def test_required_exactly_when_every_example_has_the_field(cls: type[Any]) -> None:
    """Required wire keys == keys in every example of the object, minus those the docs excuse."""
    declared = {wire_name(cls, f) for f in _declared_fields(cls)}
    always = set.intersection(*OCCURRENCES[cls]) & declared
    required = {wire_name(cls, f) for f in _declared_fields(cls) if f.default is attrs.NOTHING}
    excused = OPTIONAL_BY_THE_DOCS.get(cls.__name__, set())
    assert required == always - excused
    assert not (excused - always), "an excuse for a field that is not always sent"


@pytest.mark.parametrize("stem", sorted(SAMPLE_MODELS))
def test_to_dict_round_trips_and_keeps_unknown_fields(stem: str) -> None:
    """to_dict() gives wire keys, extra included; the model reads it back as an equal one."""
    cls = SAMPLE_MODELS[stem][0]
    data = load(stem)
    data["addedLater"] = {"nested": [Decimal("1.50")]}
    model = structure(data, cls)
    assert isinstance(model, WireModel)
    assert model.extra["addedLater"] == {"nested": [Decimal("1.50")]}
    out = model.to_dict()
    assert out["addedLater"] == {"nested": [Decimal("1.50")]}
    assert structure(out, cls) == model
    text = model.to_json()
    assert '"addedLater":{"nested":[1.50]}' in text  # exact digits, not a float
    assert structure(json.loads(text, parse_float=Decimal), cls) == model
