"""Tests for parsing the server's rate-limit hints (REFERENCE §1.7/§1.8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhmad_async._config import RetryAfterUnit
from dhmad_async.ratelimit._headers import (
    MAX_SERVER_WAIT,
    ServerRateLimit,
    parse_retry_after,
    parse_server_rate_limit,
)

NOW = 1_700_000_000.0


def parse(headers: dict[str, str], *, status: int = 200, body: object = None) -> ServerRateLimit:
    """Parse and insist that something was found."""
    info = parse_server_rate_limit(status, headers, body, NOW)
    assert info is not None
    return info


def test_no_hints_gives_none() -> None:
    """A 200 without any rate-limit header yields None."""
    assert parse_server_rate_limit(200, {"content-type": "application/json"}, {}, NOW) is None


@pytest.mark.parametrize("prefix", ["x-ratelimit-", "ratelimit-"])
def test_separate_headers(prefix: str) -> None:
    """X-RateLimit-* and IETF RateLimit-* triples are read."""
    info = parse({f"{prefix}limit": "100", f"{prefix}remaining": "42", f"{prefix}reset": "30"})
    assert info == ServerRateLimit(limit=100, remaining=42, reset_after=30.0)


def test_ietf_limit_with_policy_list_takes_first_item() -> None:
    """Draft-03 'RateLimit-Limit: 100, 100;w=60' gives limit 100."""
    info = parse({"ratelimit-limit": "100, 100;w=60", "ratelimit-remaining": "5"})
    assert (info.limit, info.remaining) == (100, 5)


def test_combined_field_key_value_form() -> None:
    """'RateLimit: limit=100, remaining=50, reset=30' is read."""
    info = parse({"ratelimit": "limit=100, remaining=50, reset=30"})
    assert info == ServerRateLimit(limit=100, remaining=50, reset_after=30.0)


def test_combined_structured_form_with_policy() -> None:
    """'RateLimit: "default";r=50;t=30' with 'RateLimit-Policy: "default";q=100;w=60'."""
    info = parse({"ratelimit": '"default";r=50;t=30', "ratelimit-policy": '"default";q=100;w=60'})
    assert info == ServerRateLimit(limit=100, remaining=50, reset_after=30.0, window=60.0)


def test_policy_gives_window_and_limit() -> None:
    """'RateLimit-Policy: 100;w=60' gives limit 100 and window 60 s."""
    assert parse({"ratelimit-policy": "100;w=60"}) == ServerRateLimit(limit=100, window=60.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),  # delta seconds
        ("2.5", 2.5),
        (str(int(NOW) + 45), 45.0),  # epoch seconds
        (str(int(NOW * 1000) + 12_000), 12.0),  # epoch milliseconds
        (str(int(NOW) - 10), 0.0),  # epoch in the past clamps to 0
        ("-5", 0.0),  # negative delta clamps to 0
        ("Tue, 14 Nov 2023 22:14:20 GMT", 60.0),  # an HTTP-date (NOW is 22:13:20)
    ],
)
def test_reset_forms_by_magnitude(value: str, expected: float) -> None:
    """Reset as delta, epoch seconds, epoch ms or HTTP-date becomes seconds from now."""
    assert parse({"x-ratelimit-reset": value}).reset_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),
        ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),  # ms wins
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),  # a past date
    ],
)
def test_retry_after_header_on_429(headers: dict[str, str], expected: float) -> None:
    """Retry-After (seconds or HTTP-date) and retry-after-ms are read on a 429."""
    assert parse(headers, status=429).retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Too Many Requests", "message": "Rate limit exceeded.", "retryAfter": 3600},
        {"retryAfter": Decimal("3600")},
        b'{"error":"Too Many Requests","retryAfter":3600}',
        '{"retryAfter": "3600"}',
    ],
)
def test_body_retry_after_on_429(body: object) -> None:
    """The documented 429 body's retryAfter is read as seconds (REFERENCE §1.7)."""
    assert parse({}, status=429, body=body).retry_after == 3600.0


def test_header_retry_after_wins_over_body() -> None:
    """A Retry-After header takes precedence over the body field."""
    assert parse({"retry-after": "5"}, status=429, body={"retryAfter": 3600}).retry_after == 5.0


@pytest.mark.parametrize(
    ("unit", "value", "seconds"),
    [
        ("seconds", 3600, 3600.0),
        ("milliseconds", 3600, 3.6),
        # "auto": longer than the 60 s window, and fits once read as ms -> ms.
        ("auto", 3600, 3.6),
        ("auto", 30, 30.0),  # fits the window as seconds
        ("auto", 60, 60.0),
        ("auto", 600_000, 86_400.0),  # 600 s as ms is still past the window: seconds, clamped
    ],
)
def test_body_retry_after_unit_is_configurable(
    unit: RetryAfterUnit, value: int, seconds: float
) -> None:
    """The body field's unit is undocumented, so it is an option: seconds, ms or auto."""
    info = parse_server_rate_limit(
        429, {}, {"retryAfter": value}, NOW, retry_after_unit=unit, window=60.0
    )
    assert info is not None and info.retry_after == pytest.approx(seconds)


def test_retry_after_unit_does_not_apply_to_headers() -> None:
    """Retry-After (seconds) and retry-after-ms have defined units; the option leaves them alone."""
    units: tuple[RetryAfterUnit, ...] = ("milliseconds", "auto")
    for unit in units:
        info = parse_server_rate_limit(
            429, {"retry-after": "3600"}, {"retryAfter": 5}, NOW, retry_after_unit=unit
        )
        assert info is not None and info.retry_after == 3600.0


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"retry-after": "1e300"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "Infinity"}, None),
        ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, None),
        ({"retry-after": "Sat, 01 Jan 99999 00:00:00 GMT"}, None),
        ({"retry-after-ms": "1e308"}, None),
        ({}, {"retryAfter": Decimal("1E+300")}),
        ({}, {"retryAfter": float("inf")}),
        ({}, b'{"retryAfter": 1e999}'),
    ],
)
def test_absurd_waits_are_clamped_to_the_documented_maximum(
    headers: dict[str, str], body: object
) -> None:
    """Huge, infinite or far-future waits become MAX_SERVER_WAIT (one day), never more."""
    info = parse(headers, status=429, body=body)
    assert info.retry_after == MAX_SERVER_WAIT == 86_400.0


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_nan_wait_is_ignored(value: str) -> None:
    """NaN is not a wait: the header is ignored and the body's value is used instead."""
    info = parse({"retry-after": value}, status=429, body={"retryAfter": 7})
    assert info.retry_after == 7.0
    assert parse({"retry-after": value}, status=429).retry_after is None


def test_absurd_reset_is_clamped() -> None:
    """A reset of 1e300 (or a year-9999 date) is clamped like a wait."""
    assert parse({"x-ratelimit-reset": "1e300"}).reset_after == MAX_SERVER_WAIT
    assert parse_retry_after({"retry-after": "1e300"}, NOW) == MAX_SERVER_WAIT


def test_retry_after_ignored_on_other_statuses() -> None:
    """A 503's Retry-After is the retry policy's business, not the budget's."""
    assert parse_server_rate_limit(503, {"retry-after": "5"}, {"retryAfter": 9}, NOW) is None


def test_bare_429_means_budget_exhausted_unless_disabled() -> None:
    """A 429 with no hints reads as remaining=0, unless that inference is turned off."""
    assert parse({}, status=429) == ServerRateLimit(remaining=0, rejected=True)
    assert parse_server_rate_limit(
        429, {}, None, NOW, assume_exhausted_on_429=False
    ) == ServerRateLimit(rejected=True)


def test_negative_remaining_clamps_to_zero() -> None:
    """A negative remaining means nothing is left."""
    assert parse({"x-ratelimit-remaining": "-1"}).remaining == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "1.5", "x-ratelimit-reset": "nan"},
        {"ratelimit-limit": "0", "ratelimit-reset": "inf", "ratelimit-policy": "x;w=-1"},
        {"ratelimit": "garbage;;==,,r=,t=soon", "ratelimit-remaining": ""},
        {"x-ratelimit-reset": "Mon, 99 Foo 2023 99:99:99 GMT"},
        {"ratelimit-policy": ";w=nope"},
    ],
)
def test_garbage_is_ignored(headers: dict[str, str]) -> None:
    """Unparseable values are dropped, never raised."""
    assert parse_server_rate_limit(200, headers, None, NOW) is None


@pytest.mark.parametrize("body", [None, [], "not json", b"\xff", {"retryAfter": "soon"}, 42])
def test_garbage_body_on_429_is_ignored(body: object) -> None:
    """A 429 body that is not the documented shape only yields remaining=0."""
    assert parse({}, status=429, body=body) == ServerRateLimit(remaining=0, rejected=True)


@given(
    status=st.integers(100, 599),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "ratelimit",
                "ratelimit-policy",
                "ratelimit-reset",
                "retry-after",
                "retry-after-ms",
            ]
        ),
        st.text(max_size=40),
    ),
    body=st.one_of(
        st.none(),
        st.text(max_size=40),
        st.dictionaries(st.just("retryAfter"), st.one_of(st.floats(), st.text(), st.integers())),
    ),
)
def test_never_raises_and_never_negative(
    status: int, headers: dict[str, str], body: object
) -> None:
    """Any input parses without raising, and durations are never negative."""
    info = parse_server_rate_limit(status, headers, body, NOW)
    if info is not None:
        for value in (info.reset_after, info.retry_after, info.window, info.remaining):
            assert value is None or value >= 0
