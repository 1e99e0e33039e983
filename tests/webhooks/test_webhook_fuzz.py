"""Property tests: valid deliveries verify, and nothing but WebhookVerificationError escapes.

Both directions matter: a verifier that rejects everything would pass a suite that only
checks the exception type, and a verifier that accepts a tampered body would pass a
suite that only checks acceptance.
"""

from __future__ import annotations

import array
import contextlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from webhook_support import (
    NOW,
    SECRET,
    SIGNING_SCHEMES,
    WHSEC,
    FakeClock,
    delivery,
    json_values,
    payloads,
    reference_signature,
)

from dhmad_async.webhooks import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    WebhookFailureReason,
    WebhookVerificationError,
    WebhookVerifier,
    format_timestamp,
    js_stringify,
    sign,
)

_VERIFIER = WebhookVerifier([SECRET], clock=FakeClock(), allow_reserialized=True)
_LENIENT = WebhookVerifier([SECRET], tolerance=None, allow_reserialized=True)
_STANDARD = WebhookVerifier([WHSEC], scheme=STANDARD_WEBHOOKS_SCHEME, clock=FakeClock())
_ALL = (_VERIFIER, _LENIENT, _STANDARD)
_BODY, _HEADERS = delivery()
_NAMES = ["X-Webhook-Signature", "X-Webhook-Timestamp", "X-Webhook-Id", "X-Webhook-Event"]
_STAMP = _HEADERS["X-Webhook-Timestamp"]
_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=2_000
)


header_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(list(_HEADERS.values())),
    st.binary(min_size=32, max_size=32).map(lambda raw: "sha256=" + raw.hex()),
    st.sampled_from(["1767225600", "1767225600000", "1e400", "nan", "-0", "9" * 40, "Z"]),
)
header_names = st.one_of(st.sampled_from(_NAMES), st.sampled_from([n.lower() for n in _NAMES]))
headers_strategy = st.dictionaries(header_names, header_values, max_size=5)


def _released() -> memoryview:
    view = memoryview(b'{"a":1}')
    view.release()
    return view


# Everything a caller might pass as "the body": bytes and the other buffer types,
# including views that hashlib cannot digest directly (strided, multi-byte items).
body_objects = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(bytearray),
    st.binary(max_size=200).map(memoryview),
    st.binary(min_size=2, max_size=200).map(lambda raw: memoryview(raw)[::2]),
    st.lists(st.integers(0, 2**31 - 1), max_size=8).map(
        lambda items: memoryview(array.array("i", items))
    ),
    st.builds(_released),
    st.text(max_size=50),
    st.none(),
    st.integers(),
)


class _ExplodingHeaders(Mapping[str, str]):
    """A header mapping whose look-ups fail, as a broken framework adapter might."""

    def __getitem__(self, key: str) -> str:
        raise RuntimeError("adapter broke")

    def __iter__(self) -> Any:
        raise RuntimeError("adapter broke")

    def __len__(self) -> int:
        return 1


def _readable(body: object) -> bytes | None:
    """The bytes a body object shows, or None when it is not a readable buffer."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        with contextlib.suppress(ValueError, BufferError, TypeError):
            return bytes(body)
    return None


def _expected_payload(raw: bytes) -> dict[str, Any] | None:
    """The JSON object ``raw`` holds (numbers as Decimal), or None when it holds none."""
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def _reason(verifier: WebhookVerifier, body: Any, headers: Any) -> WebhookFailureReason:
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(body, headers)
    return info.value.reason


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name.lower()}


@_SETTINGS
@given(
    payload=payloads,
    scheme_index=st.integers(0, len(SIGNING_SCHEMES) - 1),
    age=st.floats(min_value=-300, max_value=300),
    event_id=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and "," not in s),
    compact=st.booleans(),
)
def test_valid_deliveries_verify(
    payload: dict[str, Any], scheme_index: int, age: float, event_id: str, compact: bool
) -> None:
    """Any JSON object, signed with hmac (not our signer) under any scheme, verifies."""
    scheme, secret = SIGNING_SCHEMES[scheme_index]
    separators = (",", ":") if compact else (", ", ": ")
    body = json.dumps(payload, separators=separators, ensure_ascii=compact).encode()
    timestamp = format_timestamp(NOW - age)
    headers = {
        "X-Webhook-Signature": reference_signature(
            body, scheme, secret, timestamp=timestamp, event_id=event_id
        ),
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Id": event_id,
    }
    verifier = WebhookVerifier([secret], scheme=scheme, clock=FakeClock())
    event = verifier.verify(body, headers)
    assert event.raw == json.loads(body, parse_float=Decimal)
    assert event.dedup_key
    # Also through a memoryview and a bytearray: the same bytes, the same result.
    assert verifier.verify(memoryview(body), headers).dedup_key == event.dedup_key
    assert verifier.verify(bytearray(body), headers).dedup_key == event.dedup_key


@_SETTINGS
@given(payload=payloads)
def test_reserialised_deliveries_verify(payload: dict[str, Any]) -> None:
    """With allow_reserialized, a body whose JSON.stringify form was signed verifies."""
    try:
        canonical = js_stringify(payload)
    except (TypeError, ValueError):
        assume(False)
        return
    pretty = json.dumps(payload, indent=1).encode()
    headers = {
        "X-Webhook-Signature": reference_signature(canonical, DEFAULT_SCHEME, SECRET),
        "X-Webhook-Timestamp": format_timestamp(NOW),
    }
    assume(pretty != canonical)
    event = _VERIFIER.verify(pretty, headers)
    assert js_stringify(event.raw) == canonical


# Each verifier with the secret it holds, to sign deliveries for it independently.
_SIGNERS = ((_VERIFIER, SECRET), (_LENIENT, SECRET), (_STANDARD, WHSEC))
# Random buffers, and (a third of the time) real JSON in any buffer type.
fuzz_bodies = st.one_of(
    body_objects,
    json_values.map(lambda value: json.dumps(value).encode()),
    payloads.map(lambda value: json.dumps(value).encode()),
    payloads.map(lambda value: memoryview(bytearray(json.dumps(value).encode()))),
)


@_SETTINGS
@given(
    body=fuzz_bodies,
    headers=headers_strategy,
    signed=st.booleans(),
    lower=st.booleans(),
    event_id=st.text(min_size=1, max_size=20).filter(lambda s: s.isprintable()),
)
def test_random_deliveries_are_accepted_exactly_when_validly_signed(
    body: Any, headers: dict[str, str], signed: bool, lower: bool, event_id: str
) -> None:
    """Random bodies and headers: accepted exactly when validly signed over a JSON object.

    Unsigned (random header values only), every delivery is refused, and a missing
    signature header is reported as such. Signed (independently, with hmac) over a
    readable body, the signature always checks out, and the delivery verifies to its
    JSON object, or is refused as MALFORMED_BODY when the bytes hold none. A body that
    is not a readable buffer is MALFORMED_BODY.
    """
    raw = _readable(body)
    for verifier, secret in _SIGNERS:
        if not signed:
            reason = _reason(verifier, body, headers)
            if not any(name.lower() == "x-webhook-signature" for name in headers):
                assert reason is WebhookFailureReason.MISSING_HEADER
            continue
        case = str.lower if lower else str
        delivery_headers = dict(headers)
        for name in ("X-Webhook-Signature", "X-Webhook-Timestamp", "X-Webhook-Id"):
            delivery_headers = _without(delivery_headers, name)
        delivery_headers[case("X-Webhook-Timestamp")] = _STAMP
        delivery_headers[case("X-Webhook-Id")] = event_id
        delivery_headers[case("X-Webhook-Signature")] = reference_signature(
            raw or b"", verifier.scheme, secret, timestamp=_STAMP, event_id=event_id
        )
        if raw is None:
            assert _reason(verifier, body, delivery_headers) is WebhookFailureReason.MALFORMED_BODY
            continue
        verifier.verify_signature(body, delivery_headers)  # raises if the MAC did not match
        expected = _expected_payload(raw)
        if expected is None:
            assert _reason(verifier, body, delivery_headers) is WebhookFailureReason.MALFORMED_BODY
        else:
            event = verifier.verify(body, delivery_headers)
            assert event.raw == expected
            assert event.dedup_key


@_SETTINGS
@given(body=body_objects)
def test_validly_signed_buffers_of_any_type_verify(body: Any) -> None:
    """A correct signature over the bytes of any buffer type checks out; others are refused.

    Readable buffers (bytes, bytearray, memoryviews, strided and multi-byte views) pass
    the signature check and then verify, or are MALFORMED_BODY when not a JSON object.
    A released view, a str, None or an int is MALFORMED_BODY.
    """
    raw = _readable(body)
    headers = {
        "X-Webhook-Signature": reference_signature(raw or b"", DEFAULT_SCHEME, SECRET),
        "X-Webhook-Timestamp": _STAMP,
    }
    for verifier in (_VERIFIER, _LENIENT):
        if raw is None:
            assert _reason(verifier, body, headers) is WebhookFailureReason.MALFORMED_BODY
            continue
        verifier.verify_signature(body, headers)
        expected = _expected_payload(raw)
        if expected is None:
            assert _reason(verifier, body, headers) is WebhookFailureReason.MALFORMED_BODY
        else:
            assert verifier.verify(body, headers).raw == expected


@pytest.mark.parametrize(
    "headers", [None, 42, _ExplodingHeaders(), {1: 2}, {"X-Webhook-Signature": 5}]
)
def test_broken_header_mappings_raise_only_verification_errors(headers: Any) -> None:
    """A header object that is not a str mapping, or that fails, is a verification error."""
    for verifier in _ALL:
        with pytest.raises(WebhookVerificationError):
            verifier.verify(_BODY, headers)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount":' + b"9" * 400 + b"}",  # an integer too large for a JS double
        b'{"a":[' * 50_000,  # deeper than the parser's recursion limit
        b'{"a":1e999999999}',
        b"\xff\xfe{}",
    ],
)
def test_hostile_json_raises_only_verification_errors(body: bytes) -> None:
    """Numbers a double cannot hold, deep nesting and bad encodings are clean rejections."""
    headers = {"X-Webhook-Signature": sign(body, "other"), "X-Webhook-Timestamp": _STAMP}
    for verifier in (_VERIFIER, _LENIENT):
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, headers)


def test_verify_parsed_with_a_huge_integer_is_a_verification_error() -> None:
    """verify_parsed re-serialises as JavaScript would: a huge integer is null, not a crash."""
    with pytest.raises(WebhookVerificationError):
        _LENIENT.verify_parsed({"amount": 10**400}, {"X-Webhook-Signature": "ab" * 32})


@_SETTINGS
@given(
    position=st.integers(min_value=0, max_value=len(_BODY) - 1),
    byte=st.integers(min_value=0, max_value=255),
    name=st.sampled_from(_NAMES),
    value=header_values,
)
def test_mutated_valid_delivery(position: int, byte: int, name: str, value: str) -> None:
    """A valid delivery with one body byte and one header changed never verifies wrongly."""
    body = bytearray(_BODY)
    body[position] = byte
    headers = dict(_HEADERS)
    headers[name] = value
    mutated = bytes(body)
    try:
        event = _VERIFIER.verify(mutated, headers)
    except WebhookVerificationError:
        return
    # Accepted only if the signed bytes (or their JSON.stringify form) are untouched.
    assert mutated == _BODY or js_stringify(event.raw) == _BODY


@_SETTINGS
@given(payload=json_values, headers=headers_strategy)
def test_signed_json_with_random_headers(payload: object, headers: dict[str, str]) -> None:
    """Validly signed arbitrary JSON (objects or not) with random extra headers: clean outcome."""
    body = json.dumps(payload).encode()
    merged = {**headers, "X-Webhook-Signature": reference_signature(body, DEFAULT_SCHEME, SECRET)}
    merged.setdefault("X-Webhook-Timestamp", format_timestamp(NOW))
    for verifier in (_VERIFIER, _LENIENT):
        try:
            event = verifier.verify(body, merged)
        except WebhookVerificationError:
            continue
        assert isinstance(payload, dict)
        assert event.raw == json.loads(body, parse_float=Decimal)
