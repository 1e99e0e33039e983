"""
Retries: when to try again and how long to wait. Sleeps only through the injected clock.

tenacity is used here and nowhere else; no tenacity type leaks into a public
signature. The decision is an allow-list (:func:`should_retry`): anything that
is not a :class:`~dhmad_async.DhmadError` — ``asyncio.CancelledError`` above
all (jd/tenacity#529) — is never retried.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from dhmad_async._clock import Clock
from dhmad_async._config import RetryPolicy
from dhmad_async._errors import (
    APIConnectionError,
    APIStatusError,
    DhmadError,
    RateLimitError,
)
from dhmad_async._redact import redact

if TYPE_CHECKING:  # pragma: no cover
    import tenacity as _t

__all__ = ["compute_backoff", "retry_call", "should_retry"]

_T = TypeVar("_T")
_log = logging.getLogger("dhmad_async")


def compute_backoff(
    retry_number: int,
    *,
    initial: float,
    maximum: float,
    exp_base: float,
    jitter: float,
    uniform: Callable[[], float] = random.random,
) -> float:
    """
    Seconds to wait before retry ``retry_number`` (1 for the first retry).

    ``min(maximum, initial * exp_base ** (retry_number - 1))`` plus a random
    ``[0, jitter)``; clamped, and safe from overflow at any retry number.
    """
    try:
        base = initial * exp_base ** max(retry_number - 1, 0)
    except OverflowError:
        base = maximum
    if not math.isfinite(base):
        base = maximum
    return min(maximum, base) + jitter * uniform()


def should_retry(
    exc: BaseException, *, idempotent: bool, policy: RetryPolicy, max_server_wait: float
) -> bool:
    """
    Whether the failed attempt may be sent again.

    Idempotent requests: connection errors, timeouts and ``policy.retry_statuses``.
    Non-idempotent requests (POST; DHMAD has no idempotency keys): only a 429,
    or a connection failure that certainly happened before the request was sent.
    """
    if not isinstance(exc, DhmadError):
        return False
    if isinstance(exc, RateLimitError):
        # Rejected by the server's limiter: nothing took effect, any method may retry,
        # unless the server asks for a longer wait than we accept.
        return 429 in policy.retry_statuses and (
            exc.retry_after is None or exc.retry_after <= max_server_wait
        )
    if isinstance(exc, APIConnectionError):
        return idempotent or exc.request_sent is False
    if isinstance(exc, APIStatusError):
        return (
            idempotent
            and exc.status in policy.retry_statuses
            and (exc.retry_after is None or exc.retry_after <= max_server_wait)
        )
    return False


class _GiveUp(Exception):
    """Strictly private: carries an error that must not be retried out of the loop."""

    def __init__(self, error: DhmadError) -> None:
        super().__init__()
        self.error = error


def give_up(error: DhmadError) -> _GiveUp:
    """Wrap ``error`` so the retry loop raises it at once (e.g. a local rate-limit refusal)."""
    return _GiveUp(error)


async def retry_call(
    attempt: Callable[[int], Awaitable[_T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    clock: Clock,
    max_server_wait: float,
    description: str,
    uniform: Callable[[], float] = random.random,
) -> _T:
    """
    Run ``attempt(n)`` (n = 1, 2, …) until it succeeds or may not be retried.

    The last :class:`~dhmad_async.DhmadError` is raised, never
    ``tenacity.RetryError``. A server ``Retry-After`` replaces the computed
    backoff, plus positive jitter so it is never shorter than asked.

    The first attempt runs directly: most calls succeed, and building the
    tenacity machinery (and importing tenacity) only when one fails keeps the
    common path as cheap as a bare request.
    """
    started = clock.monotonic()

    def retry_predicate(exc: BaseException) -> bool:
        return should_retry(
            exc, idempotent=idempotent, policy=policy, max_server_wait=max_server_wait
        )

    try:
        return await attempt(1)
    except _GiveUp as wrapped:
        raise wrapped.error from None
    except DhmadError as exc:
        if policy.attempts <= 1 or not retry_predicate(exc):
            raise
        first_failure = exc

    import tenacity as _t

    def wait(state: _t.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, APIStatusError) and exc.retry_after is not None:
            return exc.retry_after + policy.wait_jitter * uniform()
        return compute_backoff(
            state.attempt_number,
            initial=policy.wait_initial,
            maximum=policy.wait_max,
            exp_base=policy.wait_exp_base,
            jitter=policy.wait_jitter,
            uniform=uniform,
        )

    def stop(state: _t.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        if policy.timeout is None:
            return False
        next_sleep = state.upcoming_sleep or 0.0
        return clock.monotonic() - started + next_sleep > policy.timeout

    def before_sleep(state: _t.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _log.info(
            "retrying %s in %.2f s (attempt %d of %d failed: %s)",
            description,
            state.upcoming_sleep,
            state.attempt_number,
            policy.attempts,
            redact(str(exc)) if exc is not None else "unknown error",
        )

    retrying = _t.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=_t.retry_if_exception(retry_predicate),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt_manager in retrying:
            with attempt_manager:
                number = attempt_manager.retry_state.attempt_number
                if number == 1:
                    # Replay the failure that already happened, so tenacity decides
                    # its wait, stop and log exactly as for any later attempt.
                    raise first_failure
                return await attempt(number)
    except _GiveUp as wrapped:
        raise wrapped.error from None
    raise AssertionError("unreachable: tenacity stops by returning or raising")  # pragma: no cover
