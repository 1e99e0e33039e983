"""Property tests: no input makes verify() raise anything but WebhookVerificationError."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_support import NOW, SECRET, FakeClock, delivery

from dhmad_async.webhooks import (
    STANDARD_WEBHOOKS_SCHEME,
    WebhookVerificationError,
    WebhookVerifier,
    js_stringify,
)

_VERIFIER = WebhookVerifier([SECRET], clock=FakeClock(), allow_reserialized=True)
_LENIENT = WebhookVerifier([SECRET], tolerance=None, allow_reserialized=True)
_STANDARD = WebhookVerifier(["whsec_c2VjcmV0"], scheme=STANDARD_WEBHOOKS_SCHEME, clock=FakeClock())
_BODY, _HEADERS = delivery()
_NAMES = ["X-Webhook-Signature", "X-Webhook-Timestamp", "X-Webhook-Id", "X-Webhook-Event"]

header_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(list(_HEADERS.values())),
    st.binary(min_size=32, max_size=32).map(lambda raw: "sha256=" + raw.hex()),
    st.sampled_from(["1767225600", "1767225600000", "1e400", "nan", "-0", "9" * 40, "Z"]),
)
header_names = st.one_of(st.sampled_from(_NAMES), st.sampled_from([n.lower() for n in _NAMES]))
headers_strategy = st.dictionaries(header_names, header_values, max_size=5)


def _check(verifier: WebhookVerifier, body: bytes, headers: dict[str, str]) -> None:
    with contextlib.suppress(WebhookVerificationError):
        verifier.verify(body, headers)


@settings(max_examples=4_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=200), headers=headers_strategy)
def test_random_bodies_and_headers(body: bytes, headers: dict[str, str]) -> None:
    """Random bodies and headers only ever raise WebhookVerificationError."""
    for verifier in (_VERIFIER, _LENIENT, _STANDARD):
        _check(verifier, body, headers)


@settings(max_examples=4_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
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


@settings(max_examples=2_500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    payload=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=10,
    ),
    headers=headers_strategy,
)
def test_signed_json_with_random_headers(payload: object, headers: dict[str, str]) -> None:
    """Validly signed arbitrary JSON with random extra headers parses or is rejected cleanly."""
    import json

    from dhmad_async.webhooks import format_timestamp, sign

    body = json.dumps(payload).encode()
    merged = {**headers, "X-Webhook-Signature": sign(body, SECRET)}
    merged.setdefault("X-Webhook-Timestamp", format_timestamp(NOW))
    for verifier in (_VERIFIER, _LENIENT):
        _check(verifier, body, merged)
