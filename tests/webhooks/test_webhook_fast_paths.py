"""The verifier's fast paths give exactly what the general paths give, and fall back when needed.

Each fast path (HMAC from precomputed pads, inlined header look-ups, the inlined
timestamp window and hex decoding, the shared JSON decoder, direct envelope
look-ups, the lazily computed dedup digest) is checked against an independent
computation or against the general path forced by disabling the fast one.
"""

from __future__ import annotations

import base64
import hmac
import json
import pickle
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_support import NOW, SECRET, FakeClock, delivery, general_path_verifier

from dhmad_async.webhooks import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    SignatureScheme,
    WebhookEvent,
    WebhookFailureReason,
    WebhookVerificationError,
    WebhookVerifier,
    candidate_schemes,
    format_timestamp,
    parse_timestamp,
    signed_headers,
)
from dhmad_async.webhooks import _events as events_module
from dhmad_async.webhooks import _scheme as scheme_module
from dhmad_async.webhooks._events import build_event, dedup_key_for
from dhmad_async.webhooks._verifier import parse_body

_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=300
)
_WHSEC = "whsec_" + base64.b64encode(b"fast-path-key-0123456789").decode()


# -- HMAC from precomputed pads ------------------------------------------------


# RFC 4231 known answers for HMAC-SHA256: case 1 (short key), case 6 (a key longer
# than the 64-byte block, hashed first), case 2 (a key shorter than the block).
_RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(("key", "message", "expected"), _RFC4231)
@pytest.mark.parametrize("native", [True, False])
def test_prepared_key_matches_rfc4231(
    key: bytes, message: bytes, expected: str, native: bool
) -> None:
    prepared = scheme_module.PreparedKey(DEFAULT_SCHEME, key, native=native)
    assert (prepared.pads is not None) is native
    assert prepared.mac(message).hex() == expected


@given(key=st.binary(min_size=1, max_size=300), message=st.binary(max_size=3000))
@_SETTINGS
def test_pads_mac_equals_hmac_new_for_every_digest(key: bytes, message: bytes) -> None:
    for digest in ("sha256", "sha512", "sha1"):
        scheme = SignatureScheme(digest=digest)
        want = hmac.new(key, message, digest).digest()
        assert scheme_module.PreparedKey(scheme, key).mac(message) == want
        assert scheme_module.PreparedKey(scheme, key, native=False).mac(message) == want


def test_pads_mac_equals_hmac_new_on_every_candidate_scheme() -> None:
    for scheme in candidate_schemes():
        for length in (1, 20, 64, 65, 128, 129, 200):
            key = bytes(range(length % 256)) * (length // 256 + 1)
            key = (key + b"k" * length)[:length]
            message = scheme.signed_message(b'{"a":1}', timestamp="1700000000", event_id="e")
            want = hmac.new(key, message, scheme.digest).digest()
            for native in (True, False):
                prepared = scheme_module.PreparedKey(scheme, key, native=native)
                assert prepared.mac(b'{"a":1}', "1700000000", "e") == want, scheme.name


def test_hmac_pads_is_none_for_a_digest_without_fixed_output() -> None:
    assert scheme_module.hmac_pads(b"key", "shake_128") is None
    assert scheme_module.hmac_pads(b"key", "no-such-digest") is None


# -- the verifier's fast path against its general path -----------------------------


def _pair(secrets: list[str], **options: Any) -> tuple[WebhookVerifier, WebhookVerifier]:
    """(fast, general): the same verifier built with and without HMAC pads."""
    fast = WebhookVerifier(secrets, clock=FakeClock(), **options)
    return fast, general_path_verifier(secrets, clock=FakeClock(), **options)


def _outcome(verifier: WebhookVerifier, body: Any, headers: Mapping[str, Any]) -> object:
    try:
        return verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        return exc.reason


def _variants(body: bytes, headers: dict[str, str]) -> list[tuple[Any, Mapping[str, Any]]]:
    """Deliveries the fast path handles and deliveries it must hand to the general path."""
    sig = headers["X-Webhook-Signature"]
    lower = {k.lower(): v for k, v in headers.items()}
    raw = {k.lower(): v.encode("latin-1") for k, v in headers.items()}

    class Raising(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("exotic mapping")

    out: list[tuple[Any, Mapping[str, Any]]] = [
        (body, headers),  # the fast path
        (body, lower),  # lower-case names: general header look-up
        (body, raw),  # bytes values (ASGI): general header look-up
        (body, Raising(headers)),  # a mapping whose get raises: MISSING_HEADER
        (bytearray(body), headers),
        (memoryview(body), headers),
        (body + b" ", headers),  # tampered: NO_MATCHING_SIGNATURE
        (body, {**headers, "X-Webhook-Signature": sig.upper()}),  # upper-case hex
        (body, {**headers, "X-Webhook-Signature": "sha256=" + sig}),  # prefixed
        (body, {**headers, "X-Webhook-Signature": "00" * 32 + " " + sig}),  # two, rotation
        (body, {**headers, "X-Webhook-Signature": "zz" * 32}),  # 64 chars, not hex
        (body, {**headers, "X-Webhook-Signature": sig[:-2] + " a"}),  # 64 chars, with space
        (body, {**headers, "X-Webhook-Signature": "00" * 32}),  # well-formed, wrong
        (body, {**headers, "X-Webhook-Signature": ""}),
        (body, {k: v for k, v in headers.items() if k != "X-Webhook-Signature"}),
        (body, {k: v for k, v in headers.items() if k != "X-Webhook-Timestamp"}),
        (body, {**headers, "X-Webhook-Timestamp": "2026-13-01T00:00:00.000Z"}),  # 24, bad
        (body, {**headers, "X-Webhook-Timestamp": "2026-01-01T00:00:00Z"}),  # other ISO
        (body, {**headers, "X-Webhook-Timestamp": str(int(NOW))}),  # epoch seconds
        (body, {**headers, "X-Webhook-Timestamp": format_timestamp(NOW - 301)}),  # too old
        (body, {**headers, "X-Webhook-Timestamp": format_timestamp(NOW + 301)}),  # future
        (body, {**headers, "X-Webhook-Timestamp": "yesterday"}),
        ("not bytes", headers),
    ]
    return out


def test_fast_and_general_paths_agree_on_every_outcome() -> None:
    body, headers = delivery()
    fast, general = _pair([SECRET])
    assert fast._fast_keys is not None
    assert general._fast_keys is None  # the fallback was taken
    fast_outcomes = [_outcome(fast, b, h) for b, h in _variants(body, headers)]
    general_outcomes = [_outcome(general, b, h) for b, h in _variants(body, headers)]
    assert fast_outcomes == general_outcomes
    reasons = {o for o in fast_outcomes if isinstance(o, WebhookFailureReason)}
    assert {
        WebhookFailureReason.NO_MATCHING_SIGNATURE,
        WebhookFailureReason.MALFORMED_SIGNATURE,
        WebhookFailureReason.MISSING_HEADER,
        WebhookFailureReason.MALFORMED_TIMESTAMP,
        WebhookFailureReason.TIMESTAMP_TOO_OLD,
        WebhookFailureReason.TIMESTAMP_IN_FUTURE,
        WebhookFailureReason.MALFORMED_BODY,
    } <= reasons
    assert sum(isinstance(o, WebhookEvent) for o in fast_outcomes) >= 8


def test_std_scheme_and_several_secrets_agree_with_the_general_path() -> None:
    """A templated scheme and several secrets: fast and general loops agree."""
    body, _ = delivery()
    for scheme, secrets in (
        (STANDARD_WEBHOOKS_SCHEME, [_WHSEC]),
        (DEFAULT_SCHEME, ["old-secret", SECRET]),  # rotation: the second key matches
    ):
        headers = signed_headers(
            body,
            secrets[-1],
            event_type="escrow.status.updated",
            event_id="evt_1",
            timestamp=str(int(NOW))
            if scheme is STANDARD_WEBHOOKS_SCHEME
            else format_timestamp(NOW),
            scheme=scheme,
        )
        fast, general = _pair(secrets, scheme=scheme)
        assert fast._fast_keys is not None  # templated schemes take the fast loop too
        assert general._fast_keys is None
        good = fast.verify(body, headers)
        assert good == general.verify(body, headers)
        assert _outcome(fast, body + b" ", headers) == _outcome(general, body + b" ", headers)
        assert _outcome(fast, body + b" ", headers) is WebhookFailureReason.NO_MATCHING_SIGNATURE
        others: list[Mapping[str, Any]] = [
            {k.lower(): v for k, v in headers.items()},
            {k: v for k, v in headers.items() if k != "X-Webhook-Id"},
            {**headers, "X-Webhook-Id": "evt_2"},  # the id is signed under the std scheme
            {**headers, "X-Webhook-Id": b"evt_1"},
        ]
        for other in others:
            assert _outcome(fast, body, other) == _outcome(general, body, other)


def test_reserialized_fallback_after_the_fast_path_misses() -> None:
    """A MAC over JSON.stringify(body): the plain fast path misses, the fallback matches."""
    pretty = b'{ "id": "evt_9", "type": "escrow.status.updated", "data": {"escrow": {"id": "e1"}} }'
    compact = json.dumps(json.loads(pretty), separators=(",", ":")).encode()
    headers = signed_headers(
        compact, SECRET, event_type="escrow.status.updated", event_id="evt_9",
        timestamp=format_timestamp(NOW),
    )  # fmt: skip
    fast, general = _pair([SECRET], allow_reserialized=True)
    event = fast.verify(pretty, headers)
    assert event == general.verify(pretty, headers)
    assert event.dedup_key == fast.verify(compact, headers).dedup_key  # keyed on signed form


# -- JSON: one shared decoder ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": 1500.50, "n": 1, "s": "\\u00e9"}',
        '{"a": 1.10}'.encode("utf-16"),  # BOM
        '{"a": 1.10}'.encode("utf-16-le"),  # "{" then NUL: not the utf-8 shortcut
        '{"a": 1.10}'.encode("utf-16-be"),
        '{"a": 1.10}'.encode("utf-32"),
        '{"a": 1.10}'.encode("utf-8-sig"),
        b'  {"a": 2.5}  ',
        b"{",
        b"{}",
        b'{"a": 1}',
    ],
)
def test_parse_body_equals_json_loads_with_decimals(raw: bytes) -> None:
    try:
        want: object = json.loads(raw, parse_float=Decimal)
    except ValueError:
        want = WebhookFailureReason.MALFORMED_BODY
    try:
        got: object = parse_body(raw)
    except WebhookVerificationError as exc:
        got = exc.reason
    assert got == want
    if isinstance(want, dict):
        assert all(type(a) is type(b) for a, b in zip(got.values(), want.values(), strict=True))  # type: ignore[union-attr]


@given(st.binary(max_size=64))
@_SETTINGS
def test_parse_body_utf_detection_equals_json_loads(tail: bytes) -> None:
    for raw in (b"{" + tail, tail):
        try:
            want: object = json.loads(raw, parse_float=Decimal)
        except (ValueError, RecursionError, TypeError):
            want = "malformed"
        try:
            got: object = parse_body(raw)
        except WebhookVerificationError:
            got = "malformed"
        if not isinstance(want, dict):
            want = "malformed"
        assert got == want


def test_parse_body_text_and_other_types() -> None:
    assert parse_body('{"a": 1.5}') == {"a": Decimal("1.5")}  # type: ignore[arg-type]
    for bad in ("\ufeff{}", 42, None, ["{}"]):
        with pytest.raises(WebhookVerificationError) as caught:
            parse_body(bad)  # type: ignore[arg-type]
        assert caught.value.reason is WebhookFailureReason.MALFORMED_BODY


# -- timestamps: toISOString values parsed directly -----------------------------------


@given(st.integers(min_value=-2_208_988_800_000, max_value=4_102_444_799_999))  # 1900-2099
@_SETTINGS
def test_iso_fast_path_equals_the_epoch_round_trip(epoch_ms: int) -> None:
    text = format_timestamp(epoch_ms / 1000)
    assert len(text) == 24
    general = datetime.fromtimestamp(parse_timestamp(text + " ") or 0.0, UTC)  # " ": general
    assert events_module._datetime(text) == general
    assert events_module._datetime(text).tzinfo is UTC  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text", ["2026-13-01T00:00:00.000Z", "2026-01-01T00:00:00.00xZ", "2026-01-01T25:00:00.000Z"]
)
def test_iso_fast_path_falls_back_on_invalid_values(text: str) -> None:
    assert len(text) == 24
    assert events_module._datetime(text) is None
    assert parse_timestamp(text) is None


# -- the dedup key, computed on first read ----------------------------------------------


def test_lazy_dedup_key_equals_the_eager_computation() -> None:
    body, headers = delivery()
    verifier = WebhookVerifier([SECRET], clock=FakeClock())
    event = verifier.verify(body, headers)
    eager, ambiguous = dedup_key_for(json.loads(body, parse_float=Decimal), signed_body=body)
    assert event.dedup_ambiguous is ambiguous
    assert event.dedup_key == eager
    assert event.dedup_key is event.dedup_key  # stored once computed


def test_lazy_dedup_key_uses_the_signed_id_when_the_scheme_signs_it() -> None:
    body, _ = delivery()
    headers = signed_headers(
        body, _WHSEC, event_type="escrow.status.updated", event_id="evt_1",
        timestamp=str(int(NOW)), scheme=STANDARD_WEBHOOKS_SCHEME,
    )  # fmt: skip
    event = WebhookVerifier([_WHSEC], scheme=STANDARD_WEBHOOKS_SCHEME, clock=FakeClock()).verify(
        body, headers
    )
    eager, _ = dedup_key_for(json.loads(body), signed_body=body, signed_id="evt_1")
    assert event.dedup_key == eager
    assert eager != dedup_key_for(json.loads(body), signed_body=body)[0]


def test_lazy_dedup_key_behaves_like_a_field() -> None:
    body, headers = delivery()
    verifier = WebhookVerifier([SECRET], clock=FakeClock())
    expected = verifier.verify(body, headers).dedup_key
    # Equality, asdict, evolve and pickling read the attribute: the computed string.
    assert verifier.verify(body, headers) == verifier.verify(body, headers)
    assert attrs.asdict(verifier.verify(body, headers))["dedup_key"] == expected
    assert attrs.evolve(verifier.verify(body, headers), id="other").dedup_key == expected
    assert pickle.loads(pickle.dumps(verifier.verify(body, headers))).dedup_key == expected
    event = verifier.verify(body, headers)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.dedup_key = "forged"  # type: ignore[misc]
    assert "dedup" not in repr(event)
    # Built by hand, the field is a plain value as before.
    manual = WebhookEvent(id="e", type="t", timestamp=None, data={}, raw={}, dedup_key="k")
    assert manual.dedup_key == "k"
    assert WebhookEvent(id="e", type="t", timestamp=None, data={}, raw={}).dedup_key == ""


def test_lazy_dedup_key_is_captured_at_verification() -> None:
    """Labels come from the payload as verified, not as a handler may have changed it."""
    body, headers = delivery()
    verifier = WebhookVerifier([SECRET], clock=FakeClock())
    expected = verifier.verify(body, headers).dedup_key
    event = verifier.verify(body, headers)
    event.raw["type"] = "changed"  # type: ignore[index]
    event.raw["data"]["escrow"]["status"] = "changed"  # type: ignore[index]
    assert event.dedup_key == expected


# -- envelope look-ups: direct for the usual shape, alias chains otherwise ---------------


@pytest.mark.parametrize(
    ("payload", "want_type", "want_id", "want_time"),
    [
        (
            {
                "type": "escrow.status.updated",
                "id": "evt_1",
                "createdAt": "2026-01-01T00:00:00.000Z",
            },
            "escrow.status.updated",
            "evt_1",
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        (  # aliases: the direct look-ups miss, the chains find them
            {"event": "contract.signed", "eventId": 7, "timestamp": "1767225600"},
            "contract.signed",
            "7",
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        (  # non-string type and id, null createdAt: the chains go on
            {
                "type": 5,
                "id": None,
                "event_id": "evt_x",
                "createdAt": None,
                "created_at": 1767225600,
            },
            "5",
            "evt_x",
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        ({}, "header.type", "hdr", datetime(2026, 1, 1, tzinfo=UTC)),  # headers fill in
        ({"type": "", "id": ""}, "header.type", "hdr", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_build_event_look_ups(
    payload: dict[str, Any], want_type: str, want_id: str, want_time: datetime
) -> None:
    event = build_event(
        payload,
        body=b"{}",
        header_type="header.type",
        header_id="hdr",
        header_timestamp="2026-01-01T00:00:00.000Z",
    )
    assert (event.type, event.id, event.timestamp) == (want_type, want_id, want_time)
    assert event.dedup_key == dedup_key_for(payload, signed_body=b"{}")[0]


# -- epoch-seconds timestamps, single base64 signatures, dedup inputs ---------------------


@given(st.integers(min_value=0, max_value=10**15))
@_SETTINGS
def test_epoch_digits_fast_path_equals_the_numeric_branch(number: int) -> None:
    text = str(number)
    assert parse_timestamp(text) == parse_timestamp(f" {text} ")  # padded: general branch
    assert parse_timestamp("0" + text) == parse_timestamp(f"+{text}")


def test_non_ascii_digits_take_the_general_branch() -> None:
    arabic = "١٧٦٧٢٢٥٦٠٠"  # Arabic-Indic digits: str.isdigit, not ASCII
    assert parse_timestamp(arabic) == parse_timestamp(f" {arabic} ") == NOW
    assert parse_timestamp("²") is None


@given(mac=st.binary(min_size=32, max_size=32), prefix=st.sampled_from(["v1,", "V1,", ""]))
@_SETTINGS
def test_single_base64_fast_path_equals_the_token_loop(mac: bytes, prefix: str) -> None:
    scheme = STANDARD_WEBHOOKS_SCHEME
    for encoded in (base64.b64encode(mac).decode(), base64.urlsafe_b64encode(mac).decode()):
        header = prefix + encoded
        # A second, malformed token forces the general loop; it adds nothing.
        assert scheme.decode_signatures(header) == scheme.decode_signatures(header + " v1,!!")
        if prefix:
            assert scheme.decode_signatures(header) == [mac]


@pytest.mark.parametrize(
    ("payload", "label", "ambiguous"),
    [
        (
            {"type": "escrow.status.updated", "data": {"escrow": {"id": "e1", "status": "paid"}}},
            "escrow.status.updated:e1:paid:",
            True,
        ),
        (  # aliases only: every direct look-up misses
            {"event": "contract.signed", "data": {"escrow": {"_id": 42, "status": None}}},
            "contract.signed:42:-:",
            True,
        ),
        (
            {
                "type": "identity.verification.updated",
                "created_at": "x",
                "data": {"verification": {"verificationId": "v1", "kyc_status": "approved"}},
            },
            "identity.verification.updated:v1:approved:",
            False,
        ),
        ({"id": "e2", "status": "paid", "updated_at": "x"}, "-:e2:paid:", False),  # top level
        ({"status": "paid", "createdAt": "x"}, "-:-:paid:", True),  # not enveloped: no version
    ],
)
def test_dedup_inputs_follow_the_alias_chains(
    payload: dict[str, Any], label: str, ambiguous: bool
) -> None:
    key, is_ambiguous = dedup_key_for(payload, signed_body=b"{}")
    assert key.startswith(label)
    assert is_ambiguous is ambiguous


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !",
        min_size=44,
        max_size=44,
    )
)
@_SETTINGS
def test_single_base64_fast_path_equals_the_token_loop_on_any_44_characters(token: str) -> None:
    scheme = STANDARD_WEBHOOKS_SCHEME
    header = "v1," + token
    assert scheme.decode_signatures(header) == scheme.decode_signatures(header + " v1,!!")
