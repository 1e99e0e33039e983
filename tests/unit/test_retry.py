"""Retry maths and the retry loop, driven by an instant fake clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import math

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from dhmad_async import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
)
from dhmad_async._errors import BadRequestError, DhmadError
from dhmad_async._retry import compute_backoff, give_up, retry_call, should_retry

POLICY = RetryPolicy(attempts=4, wait_initial=0.5, wait_max=8.0, wait_jitter=0.0)


class InstantClock:
    """sleep() records the delay, advances time and returns at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """An attempt function that raises the scripted errors, then returns ``"ok"``."""

    def __init__(self, *outcomes: BaseException | str) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[int] = []

    async def __call__(self, number: int) -> str:
        self.calls.append(number)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def _run(
    script: Script,
    *,
    idempotent: bool,
    policy: RetryPolicy = POLICY,
    clock: InstantClock | None = None,
    max_server_wait: float = 120.0,
    uniform: float = 0.0,
) -> str:
    return await retry_call(
        script,
        policy=policy,
        idempotent=idempotent,
        clock=clock or InstantClock(),
        max_server_wait=max_server_wait,
        description="GET /x",
        uniform=lambda: uniform,
    )


def _status(status: int) -> DhmadError:
    if status == 429:
        return RateLimitError(status=429)
    if status >= 500:
        return InternalServerError(status=status)
    return BadRequestError(status=status)


def test_backoff_grows_and_clamps() -> None:
    """Waits double from ``initial`` and stop at ``maximum``."""
    waits = [
        compute_backoff(n, initial=0.5, maximum=8.0, exp_base=2.0, jitter=0.0) for n in range(1, 8)
    ]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_survives_overflow() -> None:
    """Retry number 10_000 neither overflows nor exceeds the cap."""
    for base in (2.0, 2):
        assert compute_backoff(10_000, initial=0.5, maximum=8.0, exp_base=base, jitter=0.0) == 8.0


@given(
    n=st.integers(min_value=0, max_value=20_000),
    u=st.floats(min_value=0.0, max_value=0.999999),
    jitter=st.floats(min_value=0.0, max_value=5.0),
)
def test_backoff_jitter_bounds(n: int, u: float, jitter: float) -> None:
    """The wait always lies in ``[0, maximum + jitter)`` and is finite."""
    wait = compute_backoff(
        n, initial=0.5, maximum=8.0, exp_base=2.0, jitter=jitter, uniform=lambda: u
    )
    assert math.isfinite(wait)
    assert 0.0 <= wait <= 8.0 + jitter
    assert wait >= min(8.0, 0.5 * 2.0 ** max(min(n, 60) - 1, 0))


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_idempotent_retries_retry_statuses(status: int) -> None:
    """GET/PUT retry 429 and 502/503/504."""
    assert should_retry(_status(status), idempotent=True, policy=POLICY, max_server_wait=120)


@pytest.mark.parametrize("status", [400, 404, 500])
def test_idempotent_does_not_retry_others(status: int) -> None:
    """A 400, 404 or 500 is final even for GET."""
    assert not should_retry(_status(status), idempotent=True, policy=POLICY, max_server_wait=120)


def test_post_retries_only_429_and_unsent() -> None:
    """A POST retries on 429 and on a connection error before sending, nothing else."""
    kw = {"idempotent": False, "policy": POLICY, "max_server_wait": 120.0}
    assert should_retry(RateLimitError(status=429), **kw)
    assert should_retry(APIConnectionError(request_sent=False), **kw)
    assert not should_retry(APIConnectionError(request_sent=None), **kw)
    assert not should_retry(APIConnectionError(request_sent=True), **kw)
    assert not should_retry(APITimeoutError(request_sent=None), **kw)
    assert not should_retry(_status(503), **kw)


def test_non_dhmad_errors_are_never_retried() -> None:
    """The predicate is an allow-list: CancelledError, KeyError and the like are final."""
    for exc in (asyncio.CancelledError(), KeyError("x"), TimeoutError()):
        assert not should_retry(exc, idempotent=True, policy=POLICY, max_server_wait=120)


def test_rate_limit_above_cap_is_not_retried() -> None:
    """A Retry-After longer than max_server_wait is not waited for."""
    exc = RateLimitError(status=429, retry_after=3600)
    assert not should_retry(exc, idempotent=True, policy=POLICY, max_server_wait=120)


async def test_cancelled_error_propagates_at_once() -> None:
    """An attempt raising CancelledError is not retried: one call, no sleep."""
    script = Script(asyncio.CancelledError())
    clock = InstantClock()
    with pytest.raises(asyncio.CancelledError):
        await _run(script, idempotent=True, clock=clock)
    assert script.calls == [1]
    assert clock.sleeps == []


async def test_get_retries_until_success_with_backoff() -> None:
    """Two 503s then success: three attempts, waits 0.5 then 1.0."""
    script = Script(_status(503), APIConnectionError(request_sent=None), "done")
    clock = InstantClock()
    assert await _run(script, idempotent=True, clock=clock) == "done"
    assert script.calls == [1, 2, 3]
    assert clock.sleeps == [0.5, 1.0]


async def test_last_error_is_raised_not_retry_error() -> None:
    """After the last attempt the last DhmadError itself is raised."""
    errors = [APITimeoutError(request_sent=None) for _ in range(4)]
    script = Script(*errors)
    with pytest.raises(APITimeoutError) as info:
        await _run(script, idempotent=True)
    assert info.value is errors[-1]
    assert not isinstance(info.value, tenacity.RetryError)
    assert script.calls == [1, 2, 3, 4]


async def test_post_500_is_not_retried() -> None:
    """A POST answered 500 is tried once."""
    script = Script(_status(500))
    with pytest.raises(InternalServerError):
        await _run(script, idempotent=False)
    assert script.calls == [1]


async def test_post_unsent_connection_error_is_retried() -> None:
    """A POST whose connection failed before sending is retried."""
    script = Script(APIConnectionError(request_sent=False), "ok")
    assert await _run(script, idempotent=False) == "ok"
    assert script.calls == [1, 2]


async def test_retry_after_is_honoured_with_positive_jitter() -> None:
    """The server's Retry-After replaces the backoff, plus jitter, never less."""
    script = Script(RateLimitError(status=429, retry_after=7.0), "ok")
    clock = InstantClock()
    policy = RetryPolicy(attempts=3, wait_jitter=0.5)
    assert await _run(script, idempotent=False, clock=clock, policy=policy, uniform=0.6) == "ok"
    assert clock.sleeps == [pytest.approx(7.3)]


async def test_retry_after_above_cap_raises_rate_limit_error() -> None:
    """A 429 asking for more than max_server_wait is raised with its retry_after."""
    script = Script(RateLimitError(status=429, retry_after=3600.0))
    clock = InstantClock()
    with pytest.raises(RateLimitError) as info:
        await _run(script, idempotent=True, clock=clock, max_server_wait=120)
    assert info.value.retry_after == 3600.0
    assert script.calls == [1]
    assert clock.sleeps == []


async def test_policy_timeout_stops_retrying() -> None:
    """The overall retry budget stops the loop before a wait that would exceed it."""
    policy = RetryPolicy(attempts=10, timeout=2.0, wait_initial=1.0, wait_jitter=0.0)
    script = Script(*[_status(503) for _ in range(10)])
    clock = InstantClock()
    with pytest.raises(InternalServerError):
        await _run(script, idempotent=True, clock=clock, policy=policy)
    assert clock.sleeps == [1.0]
    assert script.calls == [1, 2]


async def test_give_up_escapes_the_loop() -> None:
    """An error wrapped with give_up() is raised at once, unwrapped."""
    error = RateLimitError(status=429, retry_after=1.0)
    script = Script(give_up(error))
    with pytest.raises(RateLimitError) as info:
        await _run(script, idempotent=True)
    assert info.value is error
    assert script.calls == [1]


async def test_attempts_one_means_no_retry() -> None:
    """RetryPolicy.disabled() tries exactly once."""
    script = Script(_status(503))
    with pytest.raises(InternalServerError):
        await _run(script, idempotent=True, policy=RetryPolicy.disabled())
    assert script.calls == [1]


async def test_cancelled_error_from_a_later_attempt_is_not_retried() -> None:
    """CancelledError raised by attempt 2 (inside tenacity's loop) is final too."""
    script = Script(APIConnectionError(request_sent=False), asyncio.CancelledError(), "ok")
    clock = InstantClock()
    with pytest.raises(asyncio.CancelledError):
        await _run(script, idempotent=True, clock=clock)
    assert script.calls == [1, 2]
    assert clock.sleeps == [POLICY.wait_initial]


async def test_retry_after_above_the_backoff_cap_is_honoured_in_full() -> None:
    """wait_max bounds the computed backoff only: a 30 s Retry-After waits 30 s, not 8."""
    script = Script(InternalServerError(status=503, retry_after=30.0), "ok")
    clock = InstantClock()
    assert await _run(script, idempotent=True, clock=clock) == "ok"
    assert clock.sleeps == [30.0]
