"""Verification is a pure function of (body, headers, clock): same delivery, same outcome.

Written while hunting a one-off Hypothesis ``FlakyFailure`` in
``test_valid_deliveries_verify`` (a rejection on the first run of an example, success
on its replay). Each property here pins down one way the verifier could depend on
something other than its inputs: the first call against later calls on one verifier,
a fresh verifier against one reused across examples, the inlined MAC loop against the
general one, and the window edge (where a timestamp rounded one way by the sender and
another by the verifier would be accepted or refused by chance).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_support import (
    NOW,
    SIGNING_SCHEMES,
    FakeClock,
    general_path_verifier,
    payloads,
    reference_signature,
)

from dhmad_async.webhooks import (
    SignatureScheme,
    WebhookFailureReason,
    WebhookVerificationError,
    WebhookVerifier,
    format_timestamp,
)

_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=1_000
)


def _general(scheme: SignatureScheme, secret: str) -> WebhookVerifier:
    return general_path_verifier([secret], scheme=scheme, clock=FakeClock())


# Built once and reused by every example: state kept between calls would show here.
_REUSED_FAST = [WebhookVerifier([s], scheme=sc, clock=FakeClock()) for sc, s in SIGNING_SCHEMES]
_REUSED_GENERAL = [_general(sc, s) for sc, s in SIGNING_SCHEMES]

# Ages across the window, with its edges and the floats next to them drawn often.
_EDGES = [300.0, -300.0, 299.9995, -299.9995, 299.999, -299.999, 0.0, -0.0, 1e-9, -1e-9]
ages = st.one_of(st.floats(min_value=-300, max_value=300), st.sampled_from(_EDGES))
event_ids = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and "," not in s)


def _outcome(verifier: WebhookVerifier, body: Any, headers: dict[str, str]) -> object:
    """(raw payload, dedup key) when accepted, else the failure reason."""
    try:
        event = verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        return exc.reason
    return event.raw, event.dedup_key


def _delivery(
    payload: dict[str, Any], index: int, age: float, event_id: str, compact: bool
) -> tuple[bytes, dict[str, str]]:
    scheme, secret = SIGNING_SCHEMES[index]
    separators = (",", ":") if compact else (", ", ": ")
    body = json.dumps(payload, separators=separators, ensure_ascii=compact).encode()
    timestamp = format_timestamp(NOW - age)
    signature = reference_signature(body, scheme, secret, timestamp=timestamp, event_id=event_id)
    return body, {
        "X-Webhook-Signature": signature,
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Id": event_id,
    }


@_SETTINGS
@given(
    payload=payloads,
    index=st.integers(0, len(SIGNING_SCHEMES) - 1),
    age=ages,
    event_id=event_ids,
    compact=st.booleans(),
)
def test_every_verifier_and_every_call_gives_one_outcome(
    payload: dict[str, Any], index: int, age: float, event_id: str, compact: bool
) -> None:
    """A valid delivery is accepted, identically, however and how often it is verified.

    First and second call on a fresh verifier, a verifier reused across examples, the
    inlined MAC loop and the general one, bytes and memoryview bodies: one outcome.
    """
    scheme, secret = SIGNING_SCHEMES[index]
    body, headers = _delivery(payload, index, age, event_id, compact)
    fresh = WebhookVerifier([secret], scheme=scheme, clock=FakeClock())
    first = _outcome(fresh, body, headers)
    expected = (json.loads(body, parse_float=Decimal), first[1] if type(first) is tuple else "")
    assert first == expected, first
    assert _outcome(fresh, body, headers) == first  # the second call
    assert _outcome(fresh, memoryview(body), headers) == first
    assert _outcome(_REUSED_FAST[index], body, headers) == first
    assert _outcome(_REUSED_GENERAL[index], body, headers) == first
    # Rebuilt from the same inputs, as Hypothesis's replay does: the same bytes.
    assert _delivery(payload, index, age, event_id, compact) == (body, headers)


def _exact_epoch(stamp: str) -> Fraction:
    """Epoch seconds of a toISOString() value, exactly (no float on the way)."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    whole = moment.replace(microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)
    return Fraction(int(whole.total_seconds())) + Fraction(moment.microsecond, 10**6)


@_SETTINGS
@given(
    age=st.one_of(
        st.floats(min_value=-301, max_value=301),
        st.sampled_from(_EDGES),
        st.integers(-301_000, 301_000).map(lambda ms: ms / 1000),
    ),
    index=st.integers(0, len(SIGNING_SCHEMES) - 1),
)
def test_the_window_edge_is_decided_by_the_stamp_alone(age: float, index: int) -> None:
    """At the edge of the window the verdict is the exact age of the stamp as sent.

    The sender's stamp has millisecond precision; the verifier accepts it exactly when
    that stamp is at most 300 s from the clock either way, whichever path parses it.
    """
    body, headers = _delivery({"a": 1}, index, age, "evt_1", True)
    stamp = headers["X-Webhook-Timestamp"]
    exact_age = Fraction(NOW) - _exact_epoch(stamp)
    if exact_age > 300:
        want: object = WebhookFailureReason.TIMESTAMP_TOO_OLD
    elif exact_age < -300:
        want = WebhookFailureReason.TIMESTAMP_IN_FUTURE
    else:
        want = {"a": 1}
    for verifier in (_REUSED_FAST[index], _REUSED_GENERAL[index]):
        got = _outcome(verifier, body, headers)
        assert (got[0] if type(got) is tuple else got) == want, (stamp, got)


def test_verification_reads_no_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an injected clock, verify() never calls time.time or time.monotonic."""
    calls: list[str] = []
    real_time, real_monotonic = time.time, time.monotonic

    def spy_time() -> float:
        calls.append("time")
        return real_time()

    def spy_monotonic() -> float:
        calls.append("monotonic")
        return real_monotonic()

    deliveries = [
        _delivery({"a": [1, 2.5]}, index, age, "evt_9", compact)
        for index in range(len(SIGNING_SCHEMES))
        for age in (300.0, -300.0, 0.0)
        for compact in (True, False)
    ]
    verifiers = [WebhookVerifier([s], scheme=sc, clock=FakeClock()) for sc, s in SIGNING_SCHEMES]
    monkeypatch.setattr(time, "time", spy_time)
    monkeypatch.setattr(time, "monotonic", spy_monotonic)
    for number, (body, headers) in enumerate(deliveries):
        verifier = verifiers[number // 6]  # six deliveries per scheme, in SIGNING_SCHEMES order
        assert verifier.verify(body, headers).raw == {"a": [1, Decimal("2.5")]}
    monkeypatch.undo()
    assert calls == []
