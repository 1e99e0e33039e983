"""Tests for typed events and the JSON.stringify-compatible re-serialiser."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from webhook_support import NOW, SECRET, FakeClock, delivery

from dhmad_async.webhooks import (
    EVENT_CLASSES,
    ContractSigned,
    DeliveryRejected,
    EscrowStatusUpdated,
    IdentityVerificationLinked,
    IdentityVerificationUpdated,
    WebhookEvent,
    WebhookVerifier,
    format_timestamp,
    js_stringify,
    sign,
    signed_headers,
)
from dhmad_async.webhooks._jsonjs import js_number


def _verify(payload: dict[str, object], **header_kwargs: str) -> WebhookEvent:
    body = json.dumps(payload).encode()
    headers = signed_headers(
        body,
        SECRET,
        event_type=header_kwargs.get("event_type", ""),
        event_id=header_kwargs.get("event_id", "hdr_id"),
        timestamp=format_timestamp(NOW),
    )
    return WebhookVerifier(SECRET, clock=FakeClock()).verify(body, headers)


def test_contract_signed_exposes_signed_by() -> None:
    """contract.signed gives the signer and the escrow id."""
    event = _verify(
        {
            "id": "e1",
            "type": "contract.signed",
            "data": {"escrow": {"_id": "esc9"}, "contract": {"signedBy": "seller"}},
        }
    )
    assert isinstance(event, ContractSigned)
    assert (event.signed_by, event.escrow_id) == ("seller", "esc9")


def test_event_key_instead_of_type_and_header_fallbacks() -> None:
    """`event` replaces `type`; missing id and timestamp come from the headers."""
    event = _verify({"event": "escrow.status.updated", "data": {"escrow": {"status": "paid"}}})
    assert isinstance(event, EscrowStatusUpdated)
    assert event.id == "hdr_id"
    # The header id is unsigned under the default scheme: it is not part of the dedup key.
    other = _verify(
        {"event": "escrow.status.updated", "data": {"escrow": {"status": "paid"}}},
        event_id="another_id",
    )
    assert event.dedup_key == other.dedup_key
    assert event.timestamp is not None and event.timestamp.timestamp() == NOW
    assert event.status == "paid"


def test_type_only_in_header_routes_to_typed_class() -> None:
    """A body without any type is routed by X-Webhook-Event."""
    event = _verify({"data": {"reason": "broken item"}}, event_type="escrow.delivery.rejected")
    assert isinstance(event, DeliveryRejected)
    assert event.reason == "broken item"


def test_unknown_type_is_generic_event() -> None:
    """An unknown event type parses as a plain WebhookEvent, never rejected."""
    event = _verify({"type": "escrow.teleported", "data": {"x": 1}})
    assert type(event) is WebhookEvent
    assert event.type == "escrow.teleported" and event.data == {"x": 1}


def test_identity_linked_and_top_level_payload() -> None:
    """Identity fields are read from `data.verification`, tolerating snake/camel case."""
    event = _verify(
        {
            "type": "identity.verification.linked",
            "data": {"verification": {"externalUserId": "u1", "linked_user_id": "d2"}},
        }
    )
    assert isinstance(event, IdentityVerificationLinked)
    assert (event.verification.external_user_id, event.verification.linked_user_id) == ("u1", "d2")


def test_amounts_are_decimal_and_bad_fields_are_none() -> None:
    """Amounts keep their exact decimal value; wrong-typed fields read as None."""
    event = _verify({"type": "escrow.updated", "data": {"escrow": {"amount": 0.1, "id": []}}})
    assert event.escrow is not None
    assert event.escrow.amount == Decimal("0.1")
    assert event.escrow.id is None


def test_dedup_key_names_the_event_and_hashes_the_signed_body() -> None:
    """The key reads type:subject:status, then the SHA-256 digest of the signed content."""
    body = b'{"type":"escrow.status.updated","data":{"escrow":{"id":"e1","status":"paid"}}}'
    headers = {"X-Webhook-Signature": sign(body, SECRET)}
    event = WebhookVerifier(SECRET, tolerance=None).verify(body, headers)
    label, digest = event.dedup_key.rsplit(":", 1)
    assert label == "escrow.status.updated:e1:paid" and len(digest) == 64
    assert event.dedup_ambiguous  # no updatedAt, no event timestamp


def test_every_documented_type_has_a_class() -> None:
    """All REFERENCE §4.1 event types map to their own class."""
    documented = {
        "escrow.status.updated", "contract.signed", "escrow.cancellation.requested",
        "escrow.cancellation.rejected", "escrow.cancellation.accepted", "escrow.updated",
        "escrow.deposit_proof.rejected", "escrow.delivery.rejected",
        "identity.verification.updated", "identity.verification.linked", "escrow.proof.required",
        "escrow.proof.submitted", "escrow.proof.needs_review", "escrow.proof.accepted_by_timeout",
    }  # fmt: skip
    assert documented <= set(EVENT_CLASSES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (100.0, "100"),
        (Decimal("12.50"), "12.5"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (0.000001, "0.000001"),
        (-1.5e-10, "-1.5e-10"),
        (-0.0, "0"),
        (2**53 + 1, "9007199254740992"),
        (123.456e5, "12345600"),
    ],
)
def test_js_number_formatting(value: float | int | Decimal, expected: str) -> None:
    """Numbers print as JavaScript's Number#toString does."""
    assert js_number(value) == expected


def test_js_stringify_order_escapes_and_unicode() -> None:
    """Index-like keys come first, control chars use \\u00xx, non-ASCII is kept."""
    parsed = json.loads('{"b":"\\u0001é\\ud800","10":1,"2":true,"a":[null]}', parse_float=Decimal)
    assert js_stringify(parsed) == '{"2":true,"10":1,"b":"\\u0001é\\ud800","a":[null]}'.encode(
        "utf-8", "surrogatepass"
    ).replace(b"\xed\xa0\x80", b"\\ud800")


def test_emulator_style_delivery_round_trips() -> None:
    """The test helper's compact body is already its own JSON.stringify form."""
    body, _ = delivery()
    assert js_stringify(json.loads(body, parse_float=Decimal)) == body


@pytest.mark.parametrize(
    "verification",
    [
        {"id": "v1", "kyc_status": "approved", "claim_status": "pending"},  # REFERENCE's shape
        {"id": "v1", "kycStatus": "approved", "claimStatus": "pending"},
        {"id": "v1", "status": "approved"},
    ],
)
def test_kyc_outcome_is_readable(verification: dict[str, str]) -> None:
    """identity.verification.updated exposes the KYC outcome whichever key carries it."""
    payload = {"type": "identity.verification.updated", "data": {"verification": verification}}
    event = _verify(payload)
    assert isinstance(event, IdentityVerificationUpdated)
    assert event.verification.status == "approved"
    assert event.kyc_status == "approved"
    assert event.approved is True and event.rejected is False
    assert event.verification.id == "v1"


def test_kyc_rejection_and_top_level_shape() -> None:
    """A top-level payload with kyc_status (no data object) reads the same way."""
    event = _verify(
        {
            "type": "identity.verification.updated",
            "id": "v2",
            "kyc_status": "rejected",
            "external_user_id": "seller_42",
        }
    )
    assert isinstance(event, IdentityVerificationUpdated)
    assert (event.kyc_status, event.approved, event.rejected) == ("rejected", False, True)
    assert event.verification.external_user_id == "seller_42"


def test_kyc_linked_exposes_claim_and_linked_user() -> None:
    """identity.verification.linked gives the claim status and the DHMAD user id."""
    event = _verify(
        {
            "type": "identity.verification.linked",
            "data": {
                "verification": {
                    "kyc_status": "approved",
                    "claim_status": "linked",
                    "linked_user_id": "u9",
                    "updated_at": "2026-06-10T09:00:00.000Z",
                }
            },
        }
    )
    assert isinstance(event, IdentityVerificationLinked)
    assert (event.kyc_status, event.verification.claim_status) == ("approved", "linked")
    assert event.linked_user_id == "u9"
    assert event.verification.updated_at is not None
    assert event.verification.updated_at.isoformat() == "2026-06-10T09:00:00+00:00"
