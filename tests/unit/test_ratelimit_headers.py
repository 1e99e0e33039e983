"""Tests for parsing the server's rate-limit hints (REFERENCE §1.7/§1.8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhmad_async.ratelimit._headers import ServerRateLimit, parse_server_rate_limit

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


def test_body_retry_after_scale_is_configurable() -> None:
    """A different unit for the body field can be configured."""
    info = parse_server_rate_limit(429, {}, {"retryAfter": 3600}, NOW, body_retry_after_scale=0.001)
    assert info is not None and info.retry_after == pytest.approx(3.6)


def test_retry_after_ignored_on_other_statuses() -> None:
    """A 503's Retry-After is the retry policy's business, not the budget's."""
    assert parse_server_rate_limit(503, {"retry-after": "5"}, {"retryAfter": 9}, NOW) is None


def test_bare_429_means_budget_exhausted_unless_disabled() -> None:
    """A 429 with no hints reads as remaining=0, unless that inference is turned off."""
    assert parse({}, status=429) == ServerRateLimit(remaining=0)
    assert parse_server_rate_limit(429, {}, None, NOW, assume_exhausted_on_429=False) is None


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
    assert parse({}, status=429, body=body) == ServerRateLimit(remaining=0)


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
