"""
``with_options()`` and per-call options: a light copy that shares the session and the budget.

Before this there was no way to change the timeout, retries, rate limit or
headers for one call (openai's ``with_options()``, stripe's ``options=``).
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from client_fakes import InstantClock, RecordingTransport, make_client, response, sample

from dhmad_async import (
    ClientClosedError,
    DhmadClient,
    InternalServerError,
    InvalidParamsError,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from dhmad_async import resources as resources_pkg
from dhmad_async.ratelimit._headers import ServerRateLimit
from dhmad_async.resources._base import Resource


class GateLimiter:
    """A shared limiter whose acquire waits for ``gate``; counts what it saw."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.acquired = 0
        self.waiting = 0
        self.observed = 0
        self.closed = 0

    async def acquire(self) -> None:
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        self.acquired += 1

    async def observe(self, info: ServerRateLimit) -> None:
        self.observed += 1

    async def aclose(self) -> None:
        self.closed += 1


def _client(
    transport: RecordingTransport, limiter: GateLimiter, clock: InstantClock | None = None
) -> DhmadClient:
    return make_client(transport, rate_limit=limiter, clock=clock or InstantClock())


async def _until(condition: object, *, turns: int = 500) -> None:
    for _ in range(turns):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


ME = sample("me")


async def test_copy_shares_the_transport_and_changes_only_its_own_options() -> None:
    """Timeout and headers apply to the copy's requests only; both use one transport."""
    transport = RecordingTransport(response(200, ME))
    client = _client(transport, GateLimiter())
    patient = client.with_options(timeout=120, extra_headers={"X-Trace": "t-1"})
    await patient.account.me()
    await client.account.me()
    copy_sent, original_sent = transport.sent
    assert copy_sent.timeout == Timeout.from_value(120)
    assert copy_sent.headers["X-Trace"] == "t-1"
    assert original_sent.timeout == Timeout()
    assert "X-Trace" not in original_sent.headers
    assert patient.extra_headers == {"X-Trace": "t-1"} and client.extra_headers == {}
    assert copy_sent.headers["Authorization"] == original_sent.headers["Authorization"]


async def test_max_retries_and_retry_apply_to_the_copy_only() -> None:
    """max_retries=0 makes one attempt; the original keeps its four."""
    transport = RecordingTransport(response(503, {"error": "Service Unavailable"}))
    client = _client(transport, GateLimiter())
    with pytest.raises(InternalServerError):
        await client.with_options(max_retries=0).account.me()
    assert len(transport.sent) == 1
    with pytest.raises(InternalServerError):
        await client.with_options(retry=RetryPolicy(attempts=2, wait_jitter=0)).account.me()
    assert len(transport.sent) == 3
    with pytest.raises(InternalServerError):
        await client.account.me()
    assert len(transport.sent) == 7
    assert client.with_options(retry=RetryPolicy(attempts=9), max_retries=1).retry.attempts == 2


async def test_per_call_timeout_and_headers_merge_over_the_client() -> None:
    """A call's extra_headers are added after the copy's; its timeout wins for that call."""
    transport = RecordingTransport(response(200, ME))
    client = _client(transport, GateLimiter()).with_options(extra_headers={"X-A": "1", "X-B": "1"})
    await client.account.me(timeout=3, extra_headers={"X-B": "2"})
    sent = transport.last
    assert (sent.headers["X-A"], sent.headers["X-B"]) == ("1", "2")
    assert sent.timeout == Timeout.from_value(3)


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"Authorization": "Bearer other"}, "may not set Authorization"),
        ({"x-api-key": "sk_live_x"}, "may not set x-api-key"),
        ({"Content-Type": "text/plain"}, "may not set Content-Type"),
        ({"X-Evil": "a\r\nInjected: 1"}, "without line breaks"),
        ({"Bad Name": "x"}, "not a valid header name"),
        ({"X-Number": 5}, "without line breaks"),
    ],
)
async def test_headers_the_sdk_sets_or_bad_values_are_refused(
    headers: dict[str, object], rule: str
) -> None:
    """Per call and in with_options: the credential cannot be replaced; nothing is sent."""
    transport = RecordingTransport(response(200, ME))
    client = _client(transport, GateLimiter())
    with pytest.raises(InvalidParamsError, match=rule):
        await client.account.me(extra_headers=headers)  # type: ignore[arg-type]
    with pytest.raises(InvalidParamsError, match=rule):
        client.with_options(extra_headers=headers)  # type: ignore[arg-type]
    assert transport.sent == []


def test_every_resource_method_takes_keyword_timeout_and_extra_headers() -> None:
    """Every public coroutine of a resource takes keyword-only timeout= and extra_headers=."""
    checked = 0
    for cls in vars(resources_pkg).values():
        if not (inspect.isclass(cls) and issubclass(cls, Resource) and cls is not Resource):
            continue
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or not inspect.iscoroutinefunction(method):
                continue
            params = inspect.signature(method).parameters
            for option in ("timeout", "extra_headers"):
                assert option in params, f"{cls.__name__}.{name} lacks {option}="
                assert params[option].kind is inspect.Parameter.KEYWORD_ONLY
            checked += 1
    assert checked >= 20


async def test_copy_rate_limit_is_stricter_and_never_bypasses_the_shared_budget() -> None:
    """A copy's local budget makes it wait; every request still passes the shared limiter."""
    transport = RecordingTransport(response(200, ME))
    shared = GateLimiter()
    clock = InstantClock()
    client = _client(transport, shared, clock)
    slow = client.with_options(rate_limit=RateLimit(requests=1, per=60, burst=1, margin=0))
    for _ in range(3):
        await slow.account.me()
    assert shared.acquired == 3 and shared.observed == 3
    assert sum(clock.sleeps) >= 119  # the local budget held the 2nd and 3rd for a minute each
    unlimited = client.with_options(rate_limit=RateLimit.disabled())
    shared.gate.clear()  # the shared budget is exhausted
    call = asyncio.create_task(unlimited.account.me())
    await _until(lambda: shared.waiting == 1)
    assert len(transport.sent) == 3  # waiting for the shared budget, not sent
    shared.gate.set()
    await call
    assert shared.acquired == 4


async def test_closing_a_copy_leaves_the_session_and_limiter_to_the_original() -> None:
    """The copy's waiting calls fail; the original's carry on; nothing shared is closed."""
    transport = RecordingTransport(response(200, ME))
    shared = GateLimiter()
    client = make_client(transport, rate_limit=shared, own_rate_limit=True)
    copy = client.with_options(timeout=5)
    shared.gate.clear()
    through_copy = asyncio.create_task(copy.account.me())
    through_original = asyncio.create_task(client.account.me())
    await _until(lambda: shared.waiting == 2)
    await copy.aclose()
    with pytest.raises(ClientClosedError):
        await through_copy
    assert copy.is_closed and not client.is_closed
    assert transport.closed == 0 and shared.closed == 0
    shared.gate.set()
    assert (await through_original).developer.id
    with pytest.raises(ClientClosedError):
        await copy.account.me()
    assert len(transport.sent) == 1
    await client.aclose()
    assert transport.closed == 1 and shared.closed == 1


async def test_closing_the_original_ends_every_copy() -> None:
    """A copy's waiting call fails with ClientClosedError when the original closes."""
    transport = RecordingTransport(response(200, ME))
    shared = GateLimiter()
    client = _client(transport, shared)
    copy = client.with_options(extra_headers={"X-Trace": "1"}).with_options(timeout=9)
    shared.gate.clear()
    waiting = asyncio.create_task(copy.account.me())
    await _until(lambda: shared.waiting == 1)
    async with client:
        pass  # leaving the block closes the original
    with pytest.raises(ClientClosedError):
        await waiting
    assert copy.is_closed and "CLOSED" in repr(copy)
    with pytest.raises(ClientClosedError):
        await copy.account.me()
    with pytest.raises(ClientClosedError):
        client.with_options(timeout=1)
    assert transport.sent == [] and transport.closed == 1


async def test_bad_options_are_refused() -> None:
    """max_retries must be a count; rate_limit a RateLimit (a limiter would replace the budget)."""
    client = _client(RecordingTransport(), GateLimiter())
    with pytest.raises(InvalidParamsError, match="max_retries"):
        client.with_options(max_retries=-1)
    with pytest.raises(InvalidParamsError, match="rate_limit"):
        client.with_options(rate_limit=GateLimiter())  # type: ignore[arg-type]
