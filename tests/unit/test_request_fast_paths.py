"""Shortcuts on the per-request path give exactly what the general code gives."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhmad_async import ClientClosedError, InvalidParamsError, Timeout
from dhmad_async._sansio import NOT_JSON, decode_json, parse_body
from dhmad_async._transport import AiohttpTransport
from dhmad_async.ratelimit._headers import RATE_LIMIT_HEADERS, parse_server_rate_limit
from dhmad_async.resources._base import _segment_problem, path_id


def reference_path_id(name: str, value: object) -> str:
    """path_id without its shortcut for plain ids."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidParamsError("request", {name: "must be a non-empty id string"})
    text = value.strip()
    problem = _segment_problem(text)
    if problem is not None:
        raise InvalidParamsError("request", {name: problem})
    return quote(text, safe="")


def reference_parse_body(body: bytes) -> Any:
    """parse_body as it was: whitespace checks first, then json.loads(parse_float=Decimal)."""
    if not body.strip():
        return None
    if body.lstrip()[:1] not in (b"{", b"["):
        return NOT_JSON
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except InvalidParamsError as exc:
        return ("error", exc.errors)


_id_chars = st.sampled_from(list("0123456789abcdefABCDEF_-.;/\\% \t\u2025\u200b\x00é~+"))


@given(st.text(_id_chars, max_size=12) | st.text(max_size=12))
def test_path_id_shortcut_matches_the_full_checks(value: str) -> None:
    """Plain ids take the shortcut; every id gives the same segment or the same refusal."""
    assert outcome(path_id, "escrow_id", value) == outcome(reference_path_id, "escrow_id", value)


@pytest.mark.parametrize(
    "value", ["507f1f77bcf86cd799439011", "a" * 256, "a" * 257, "..", "a%2F", " x ", "-_"]
)
def test_path_id_edge_cases(value: str) -> None:
    """Length limit, dots, escapes and surrounding spaces agree with the full checks."""
    assert outcome(path_id, "escrow_id", value) == outcome(reference_path_id, "escrow_id", value)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(_json_values), default=str)
    text = draw(st.sampled_from(["", " ", "\n", "\ufeff"])) + text
    text += draw(st.sampled_from(["", " ", "x", "}"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-8-sig"]))
    return text.encode(encoding)


@given(_bodies() | st.binary(max_size=12))
def test_parse_body_shortcut_matches_the_general_path(body: bytes) -> None:
    """Leading whitespace, BOMs, UTF-16/32, garbage: the same value or the same NOT_JSON."""
    assert parse_body({}, body) == reference_parse_body(body)


def test_decode_json_keeps_exact_decimals() -> None:
    """The shared decoder still reads every non-integer number as an exact Decimal."""
    data = decode_json(b'{"a": 1500.50, "b": [0.1, 2], "c": 1e2}')
    assert data == {"a": Decimal("1500.50"), "b": [Decimal("0.1"), 2], "c": Decimal("1e2")}
    assert str(data["a"]) == "1500.50"


class _RecordingHeaders(dict[str, str]):
    """Response headers that remember every name looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize("status", [200, 201, 404, 500, 503])
def test_rate_limit_skip_list_covers_every_header_the_parser_reads(status: int) -> None:
    """The client skips the parse only when none of the names the parser reads is present."""
    headers = _RecordingHeaders({"content-type": "application/json"})
    assert parse_server_rate_limit(status, headers, {"retryAfter": 5}, 0.0) is None
    assert headers.read <= RATE_LIMIT_HEADERS


@given(
    st.dictionaries(
        st.sampled_from(["content-type", "retry-after", "x-request-id", "date", "retry-after-ms"]),
        st.sampled_from(["1", "30", "application/json", "Wed, 21 Oct 2015 07:28:00 GMT"]),
    ),
    st.sampled_from([200, 204, 400, 500, 503]),
)
def test_responses_without_rate_limit_headers_carry_no_hint(
    headers: dict[str, str], status: int
) -> None:
    """What the skipped parse would have said: nothing (outside a 429)."""
    assert RATE_LIMIT_HEADERS.isdisjoint(headers)
    assert parse_server_rate_limit(status, headers, {"retryAfter": 5}, 0.0) is None


def test_client_timeout_is_reused_only_for_the_same_timeout() -> None:
    """The cached aiohttp timeouts always belong to the Timeout of this attempt."""
    transport = AiohttpTransport()
    first = Timeout(total=5, connect=1, read=2)
    second = Timeout(total=5, connect=3, read=4)
    assert transport._client_timeout(first) is transport._client_timeout(first)
    assert (
        transport._client_timeout(second).sock_connect,
        transport._client_timeout(second).sock_read,
    ) == (3, 4)
    assert (
        transport._client_timeout(first).sock_connect,
        transport._client_timeout(first).sock_read,
    ) == (1, 2)
    assert transport._client_timeout(first).total is None  # the whole attempt is asyncio.timeout's


async def test_connection_slots_bound_concurrency_and_nest() -> None:
    """max_connections tasks hold a slot at once; a task inside its slot re-enters freely."""
    transport = AiohttpTransport(max_connections=2)
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        # The second entry is a re-entry: no deadlock, no extra slot.
        async with transport.connection_slot(), transport.connection_slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(6)))
    assert most == 2
    assert transport._semaphore is not None and transport._semaphore._value == 2  # all returned
    await transport.aclose()
    with pytest.raises(ClientClosedError):
        async with transport.connection_slot():
            pass  # pragma: no cover
    assert transport._semaphore._value == 2  # a refused entry keeps no slot
