"""Tests for WebhookVerifier: each rejection reason, rotation, schemes and timestamps."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from webhook_support import NOW, SECRET, FakeClock, delivery

from dhmad_async.webhooks import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    MemoryDedupStore,
    SignatureScheme,
    WebhookFailureReason,
    WebhookVerificationError,
    WebhookVerifier,
    format_timestamp,
    js_stringify,
    parse_timestamp,
    sign,
    signed_headers,
)

R = WebhookFailureReason


def _verifier(**kwargs: object) -> WebhookVerifier:
    kwargs.setdefault("clock", FakeClock())
    return WebhookVerifier([SECRET], **kwargs)  # type: ignore[arg-type]


def _reason(verifier: WebhookVerifier, body: bytes, headers: dict[str, str]) -> R:
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(body, headers)
    return info.value.reason


def test_valid_delivery_returns_typed_event() -> None:
    """A correctly signed, fresh delivery verifies and parses into its typed event."""
    body, headers = delivery()
    event = _verifier().verify(body, headers)
    assert event.type == "escrow.status.updated"
    assert event.id == "evt_1"
    assert event.escrow is not None and event.escrow.amount == Decimal("150.5")


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of the body makes the signature fail."""
    body, headers = delivery()
    tampered = body.replace(b"paid", b"paiD")
    assert _reason(_verifier(), tampered, headers) is R.NO_MATCHING_SIGNATURE


def test_tampered_signature_is_rejected() -> None:
    """A well-formed but altered signature does not match."""
    body, headers = delivery()
    sig = headers["X-Webhook-Signature"]
    headers["X-Webhook-Signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert _reason(_verifier(), body, headers) is R.NO_MATCHING_SIGNATURE


def test_malformed_signature_is_rejected() -> None:
    """A signature that is not hex of the right length is MALFORMED_SIGNATURE."""
    body, headers = delivery()
    headers["X-Webhook-Signature"] = "not-a-signature"
    assert _reason(_verifier(), body, headers) is R.MALFORMED_SIGNATURE


def test_wrong_secret_is_rejected() -> None:
    """A delivery signed with another secret does not verify."""
    body, headers = delivery(secret="someone-else")
    assert _reason(_verifier(), body, headers) is R.NO_MATCHING_SIGNATURE


def test_stale_timestamp_is_rejected_before_signature() -> None:
    """A delivery older than the window is TIMESTAMP_TOO_OLD even with a bad signature."""
    body, headers = delivery(when=NOW - 301)
    headers["X-Webhook-Signature"] = "00" * 32
    assert _reason(_verifier(), body, headers) is R.TIMESTAMP_TOO_OLD


def test_future_timestamp_is_rejected() -> None:
    """A delivery dated beyond the window in the future is TIMESTAMP_IN_FUTURE."""
    body, headers = delivery(when=NOW + 301)
    assert _reason(_verifier(), body, headers) is R.TIMESTAMP_IN_FUTURE


def test_window_edges_are_inclusive_and_configurable() -> None:
    """Exactly `tolerance` seconds old passes; a smaller tolerance rejects the same delivery."""
    body, headers = delivery(when=NOW - 300)
    assert _verifier().verify(body, headers).id == "evt_1"
    assert _reason(_verifier(tolerance=10), body, headers) is R.TIMESTAMP_TOO_OLD


def test_tolerance_none_disables_timestamp_check() -> None:
    """With tolerance=None an ancient or absent timestamp is accepted."""
    body, headers = delivery(when=NOW - 10**6)
    assert _verifier(tolerance=None).verify(body, headers).id == "evt_1"
    del headers["X-Webhook-Timestamp"]
    assert _verifier(tolerance=None).verify(body, headers).id == "evt_1"


def test_missing_timestamp_header_is_rejected_when_window_set() -> None:
    """Without X-Webhook-Timestamp and a window set, the reason is MISSING_HEADER."""
    body, headers = delivery()
    del headers["X-Webhook-Timestamp"]
    assert _reason(_verifier(), body, headers) is R.MISSING_HEADER


def test_missing_signature_header_is_rejected() -> None:
    """Without X-Webhook-Signature the reason is MISSING_HEADER."""
    body, headers = delivery()
    del headers["X-Webhook-Signature"]
    assert _reason(_verifier(), body, headers) is R.MISSING_HEADER


def test_malformed_timestamp_is_rejected() -> None:
    """An unparsable timestamp is MALFORMED_TIMESTAMP, not a crash."""
    body, headers = delivery()
    headers["X-Webhook-Timestamp"] = "yesterday-ish"
    assert _reason(_verifier(), body, headers) is R.MALFORMED_TIMESTAMP


def test_no_secret_configured() -> None:
    """A verifier with no (or only empty) secrets rejects everything with NO_SECRET."""
    body, headers = delivery()
    verifier = WebhookVerifier(["", ""], clock=FakeClock())
    assert _reason(verifier, body, headers) is R.NO_SECRET


def test_non_object_body_is_malformed_body() -> None:
    """A correctly signed body that is not a JSON object is MALFORMED_BODY."""
    body = b"[1,2,3]"
    headers = signed_headers(
        body, SECRET, event_type="x", event_id="1", timestamp=format_timestamp(NOW)
    )
    assert _reason(_verifier(), body, headers) is R.MALFORMED_BODY


async def test_duplicate_is_rejected_by_averify() -> None:
    """The second delivery of the same X-Webhook-Id raises DUPLICATE."""
    body, headers = delivery()
    store = MemoryDedupStore()
    verifier = _verifier()
    assert (await verifier.averify(body, headers, dedup=store)).id == "evt_1"
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.averify(body, headers, dedup=store)
    assert info.value.reason is R.DUPLICATE


def test_header_names_are_case_insensitive_and_prefix_accepted() -> None:
    """Lower/upper-case header names and a `sha256=` prefix are accepted."""
    body, headers = delivery()
    mixed = {k.upper() if i % 2 else k.lower(): v for i, (k, v) in enumerate(headers.items())}
    mixed = {
        k: ("sha256=" + v if k.lower() == "x-webhook-signature" else v) for k, v in mixed.items()
    }
    assert _verifier().verify(body, mixed).id == "evt_1"


def test_secret_rotation_accepts_old_and_new() -> None:
    """With two receiver secrets configured, deliveries under either verify."""
    verifier = WebhookVerifier(["new-secret", SECRET], clock=FakeClock())
    for secret in ("new-secret", SECRET):
        body, headers = delivery(secret=secret)
        assert verifier.verify(body, headers).id == "evt_1"


def test_secret_never_in_repr_or_messages() -> None:
    """Neither repr nor any error message reveals the secret."""
    verifier = _verifier()
    assert SECRET not in repr(verifier)
    body, headers = delivery(secret="x")
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(body, headers)
    assert SECRET not in str(info.value)
    with pytest.raises(ValueError) as bad:
        WebhookVerifier(["zz-not-hex-" + SECRET], scheme=SignatureScheme(key="hex"))
    assert SECRET not in str(bad.value)


def test_verify_signature_skips_parsing() -> None:
    """verify_signature accepts a signed non-JSON body because it does not parse it."""
    body = b"\xff not json"
    headers = signed_headers(
        body, SECRET, event_type="x", event_id="1", timestamp=format_timestamp(NOW)
    )
    _verifier().verify_signature(body, headers)


def test_reserialized_fallback_is_opt_in() -> None:
    """A MAC over JSON.stringify of a pretty-printed body verifies only with the option on."""
    payload = {"type": "escrow.updated", "data": {"escrow": {"amount": 1.50, "title": "Café"}}}
    body = json.dumps(payload, indent=2, ensure_ascii=True).encode()
    compact = js_stringify(json.loads(body, parse_float=Decimal))
    assert (
        compact
        == '{"type":"escrow.updated","data":{"escrow":{"amount":1.5,"title":"Café"}}}'.encode()
    )
    headers = signed_headers(
        compact, SECRET, event_type="escrow.updated", event_id="e", timestamp=format_timestamp(NOW)
    )
    assert _reason(_verifier(), body, headers) is R.NO_MATCHING_SIGNATURE
    event = _verifier(allow_reserialized=True).verify(body, headers)
    assert event.escrow is not None and event.escrow.title == "Café"


def test_verify_parsed_dict() -> None:
    """An already-parsed body verifies when the sender signed compact JSON."""
    body, headers = delivery()
    parsed = json.loads(body, parse_float=Decimal)
    assert _verifier().verify_parsed(parsed, headers).id == "evt_1"
    parsed["data"]["escrow"]["status"] = "cancelled"
    with pytest.raises(WebhookVerificationError):
        _verifier().verify_parsed(parsed, headers)


@pytest.mark.parametrize(
    "scheme",
    [
        STANDARD_WEBHOOKS_SCHEME,
        SignatureScheme(name="ts", message="{timestamp}.{body}", encoding="base64"),
        SignatureScheme(name="hexkey", key="hex", digest="sha512"),
    ],
)
def test_alternative_schemes_round_trip(scheme: SignatureScheme) -> None:
    """sign() and the verifier agree for non-default schemes; the default rejects them."""
    secret = "whsec_c2VjcmV0LWtleS1ieXRlcw==" if scheme.key == "whsec" else "a1b2c3d4"
    body = b'{"type":"contract.signed","data":{"contract":{"signedBy":"buyer"}}}'
    ts = format_timestamp(NOW)
    headers = {
        "X-Webhook-Signature": sign(body, secret, timestamp=ts, scheme=scheme, event_id="m1"),
        "X-Webhook-Timestamp": ts,
        "X-Webhook-Id": "m1",
    }
    event = WebhookVerifier([secret], scheme=scheme, clock=FakeClock()).verify(body, headers)
    assert event.type == "contract.signed"
    if scheme.key != "hex":
        with pytest.raises(WebhookVerificationError):
            WebhookVerifier([secret], clock=FakeClock()).verify(body, headers)


def test_standard_webhooks_library_agrees() -> None:
    """Our Standard Webhooks scheme produces the same signature as the standardwebhooks library."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"a":1}'
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC), '{"a":1}')
    ours = sign(
        body, secret, timestamp="1700000000", event_id="msg_1", scheme=STANDARD_WEBHOOKS_SCHEME
    )
    assert ours == expected


def test_sign_requires_timestamp_when_scheme_signs_it() -> None:
    """A scheme that signs the timestamp refuses to sign without one."""
    with pytest.raises(ValueError):
        sign(b"{}", SECRET, scheme=SignatureScheme(message="{timestamp}.{body}"))
    assert sign(b"{}", SECRET) == sign(b"{}", SECRET, scheme=DEFAULT_SCHEME)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T00:00:00.000Z", NOW),
        ("2026-01-01T00:00:00Z", NOW),
        ("2026-01-01T01:00:00+01:00", NOW),
        ("2026-01-01T00:00:00", NOW),
        ("1767225600", NOW),
        ("1767225600000", NOW),
        ("1767225600.5", NOW + 0.5),
    ],
)
def test_timestamp_formats(value: str, expected: float) -> None:
    """ISO 8601 (ms or not, Z or offset) and epoch seconds/milliseconds all parse."""
    assert parse_timestamp(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["", "nan", "inf", "1e999", "2026-13-01T00:00:00Z", "abc", "Z"])
def test_unparsable_timestamps_are_none(value: str) -> None:
    """Garbage timestamps parse to None instead of raising."""
    assert parse_timestamp(value) is None


def test_format_timestamp_matches_js_to_iso_string() -> None:
    """format_timestamp gives JS toISOString() output: milliseconds and Z."""
    assert format_timestamp(NOW + 0.0456) == "2026-01-01T00:00:00.045Z"


async def test_late_retry_of_a_handled_event_is_duplicate_not_too_old() -> None:
    """A retry that kept the first attempt's timestamp, past the window, of a seen event: dup."""
    clock = FakeClock()
    verifier = _verifier(clock=clock)
    store = MemoryDedupStore(clock=clock)
    body, headers = delivery()  # stamped at NOW
    await verifier.averify(body, headers, dedup=store)
    clock.now = NOW + 400  # beyond the 300 s window; same headers, as a retry that kept them
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.averify(body, headers, dedup=store)
    assert info.value.reason is R.DUPLICATE
    # Without a store, or for an event never handled, it is still too old.
    assert _reason(verifier, body, headers) is R.TIMESTAMP_TOO_OLD
    other, other_headers = delivery(event_id="evt_2")
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.averify(other, other_headers, dedup=store)
    assert info.value.reason is R.TIMESTAMP_TOO_OLD


async def test_old_forgery_of_a_handled_body_is_not_reported_duplicate() -> None:
    """The late-duplicate rule needs a valid signature: a forgery cannot probe the store."""
    clock = FakeClock()
    verifier = _verifier(clock=clock)
    store = MemoryDedupStore(clock=clock)
    body, headers = delivery()
    await verifier.averify(body, headers, dedup=store)
    clock.now = NOW + 400
    forged = dict(headers, **{"X-Webhook-Signature": "ab" * 32})
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.averify(body, forged, dedup=store)
    assert info.value.reason is R.TIMESTAMP_TOO_OLD


async def test_receiver_acknowledges_a_late_retry_of_a_handled_event() -> None:
    """Through WebhookReceiver: 200 duplicate for a handled event, 401 for an unseen stale one."""
    from webhook_support import Recorder

    from dhmad_async.webhooks import WebhookReceiver

    clock = FakeClock()
    recorder = Recorder()
    endpoint = WebhookReceiver(
        _verifier(clock=clock), recorder, dedup=MemoryDedupStore(clock=clock)
    )
    body, headers = delivery()
    assert (await endpoint.process(body, headers))[0] == 200
    clock.now = NOW + 1000
    status, answer = await endpoint.process(body, headers)
    assert (status, json.loads(answer)) == (200, {"received": True, "duplicate": True})
    unseen, unseen_headers = delivery(event_id="evt_2")
    assert (await endpoint.process(unseen, unseen_headers))[0] == 401
    assert len(recorder.events) == 1
