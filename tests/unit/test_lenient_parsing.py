"""
Parsing that a forward-compatible SDK owes a server which answers only what the docs show.

Each documented example (tests/samples/) is bent the ways the docs leave
open: ``null`` for an empty array, a nested user without ``_id``, a populated
``contract.escrow``, the ``{"data": …}`` envelope, fields this SDK does not
know. Before this change each of them failed the whole response.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from test_models import SAMPLE_MODELS, SAMPLES, load

from dhmad_async._serialization import structure, structure_response, unstructure
from dhmad_async.models import (
    Contract,
    Escrow,
    EscrowPage,
    EscrowResult,
    IdentityVerificationList,
    Proof,
    UserRef,
    WebhookEndpoint,
    WireModel,
)

ESCROW_ID = "507f1f77bcf86cd799439011"


def nulled_lists(data: Any) -> tuple[Any, int]:
    """A copy of ``data`` with every JSON array replaced by null, and how many there were."""
    count = 0

    def walk(value: Any) -> Any:
        nonlocal count
        if isinstance(value, list):
            count += 1
            return None
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(data), count


def lists_of(model: Any) -> list[list[Any]]:
    """Every list attribute in a model tree."""
    found: list[list[Any]] = []
    stack = [model]
    while stack:
        obj = stack.pop()
        if isinstance(obj, WireModel):
            for name in type(obj).__attrs_attrs__:  # type: ignore[attr-defined]
                value = getattr(obj, name.name)
                if isinstance(value, list):
                    found.append(value)
                    stack.extend(value)
                elif isinstance(value, WireModel):
                    stack.append(value)
    return found


# -- null arrays -------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", sorted(s for s in SAMPLE_MODELS if nulled_lists(load(s))[1] > 0))
def test_null_arrays_read_as_empty(stem: str) -> None:
    """deliveryRejections, pdfVersions, submissions, attachments, checkoutActions, events, ..."""
    data, _ = nulled_lists(load(stem))
    model = structure(data, SAMPLE_MODELS[stem][0])
    assert all(found == [] for found in lists_of(model))


def test_null_arrays_nested_inside_lists_read_as_empty() -> None:
    """A submission whose attachments are null, inside a filled submissions list."""
    proof = copy.deepcopy(load("proof_get"))
    proof["submissions"][0]["attachments"] = None
    proof["checkoutActions"] = None
    parsed = structure(proof, Proof)
    assert parsed.submissions[0].attachments == [] and parsed.checkout_actions == []
    assert parsed.submissions[0].note == "Receipt from Apple Store"


# -- nested users without an id, a populated contract.escrow ----------------------------------


def test_a_nested_user_without_an_id_is_kept() -> None:
    """A seller object that lacks _id still parses; its id is None and the e-mail is there."""
    page = copy.deepcopy(load("escrow_list"))
    del page["escrows"][0]["seller"]["_id"]
    escrow = structure(page, EscrowPage).escrows[0]
    assert isinstance(escrow.seller, UserRef)
    assert escrow.seller.id is None and escrow.seller_id is None
    assert escrow.seller.email == "seller@example.com"


def test_contract_escrow_may_be_an_id_or_the_escrow_object() -> None:
    """contract.escrow is an id in the docs; a populated escrow object parses too."""
    as_id = structure(load("contract_get"), Contract)
    assert as_id.escrow == ESCROW_ID and as_id.escrow_id == ESCROW_ID
    populated = copy.deepcopy(load("contract_get"))
    populated["escrow"] = load("escrow_get")
    contract = structure(populated, Contract)
    assert isinstance(contract.escrow, Escrow)
    assert contract.escrow_id == ESCROW_ID and contract.escrow.title == "Web Development Service"


# -- the {"data": ...} envelope ------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem", sorted(s for s in SAMPLE_MODELS if SAMPLE_MODELS[s][1][:1] != ("data",))
)
def test_every_response_is_accepted_inside_a_data_envelope(stem: str) -> None:
    """{"data": body} parses exactly like body, with or without the resource envelope."""
    cls, path = SAMPLE_MODELS[stem]
    body = json.loads((SAMPLES / f"{stem}.json").read_text(), parse_float=Decimal)
    key = path[0] if path else None
    plain = structure_response(body, cls, key=key)
    assert structure_response({"data": body}, cls, key=key) == plain
    if key is not None:  # the envelope around the resource itself
        assert structure_response({"data": body[key]}, cls, key=key) == plain


def test_a_body_that_fits_is_not_unwrapped() -> None:
    """A model that fits by itself keeps its own keys even if one of them were named data."""
    body = {"id": ESCROW_ID, "status": "paid", "title": "t", "data": {"id": "other"}}
    escrow = structure_response(body, Escrow)
    assert escrow.id == ESCROW_ID and escrow.extra == {"data": {"id": "other"}}


# -- unknown fields stay readable -------------------------------------------------------------


def test_unknown_fields_are_kept_in_extra_at_every_level() -> None:
    """New top-level and nested fields are readable as model.extra, values as received."""
    body = copy.deepcopy(load("escrow_get"))
    body["riskScore"] = Decimal("0.25")
    body["seller"]["phone"] = "+21612345678"
    body["extra"] = "a field named extra"
    escrow = structure(body, Escrow)
    assert escrow.extra == {"riskScore": Decimal("0.25"), "extra": "a field named extra"}
    assert isinstance(escrow.seller, UserRef)
    assert escrow.seller.extra == {"phone": "+21612345678"}
    assert "_id" not in escrow.extra  # an alias of id, not an unknown field
    assert structure(load("escrow_create"), EscrowResult).escrow.extra == {}


def test_unknown_fields_survive_a_round_trip() -> None:
    """unstructure writes extra back, so structure(unstructure(x)) == x."""
    body = copy.deepcopy(load("escrow_get"))
    body["riskScore"] = 3
    body["signatures"]["witness"] = {"name": "N"}
    escrow = structure(body, Escrow)
    wire = unstructure(escrow)
    assert wire["riskScore"] == 3 and wire["signatures"]["witness"] == {"name": "N"}
    assert structure(wire, Escrow) == escrow


def test_extra_never_shows_in_repr_and_secret_models_keep_it_out_of_errors() -> None:
    """extra may hold anything the server sent, so it stays out of repr."""
    secrets = {"secret": "whsec_123", "signingKeyV2": "also secret"}
    body = load("webhook_create")["webhook"] | secrets
    hook = structure(body, WebhookEndpoint)
    assert hook.extra == {"signingKeyV2": "also secret"}
    assert "also secret" not in repr(hook)
    listed = structure({"verifications": None}, IdentityVerificationList)
    assert listed.verifications == []
