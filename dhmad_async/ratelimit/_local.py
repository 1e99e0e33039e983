"""
The client-side request budget: a sliding log plus a small burst, and a pause gate. Timer only.

DHMAD allows 100 requests per *sliding* minute per IP, so a
plain token bucket of 100 would trip the server after every idle period (a
full bucket spent at once, then refilled, puts nearly 200 requests in one
sliding minute). The
:class:`SlidingWindowLimiter` admits a request only when both hold:

- fewer than ``requests`` were admitted in the last ``per + margin`` seconds
  (a sliding log of admission times: exact, memory O(requests)); and
- a GCRA bucket of ``burst`` tokens refilled at ``requests / per`` allows it
  (so after idling ``burst`` go at once, then one every ``per / requests`` s).

Waiters queue strictly FIFO and one timer task serves the whole limiter. A
429 observed by any task pauses everyone (the pause gate). A pause longer
than ``max_server_wait`` is not waited out: calls fail at once, except one
*probe* per window (``per`` seconds) whose answer tells whether the server's
block is over; a probe that is not refused lifts the pause.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import warnings
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async._config import RateLimit
from dhmad_async._errors import ClientClosedError, RateLimitError
from dhmad_async.ratelimit._headers import ServerRateLimit

__all__ = [
    "LIMITER_REUSED_ACROSS_LOOPS_WARNING",
    "NullLimiter",
    "RateLimiter",
    "SlidingWindowLimiter",
    "create_limiter",
]

LIMITER_REUSED_ACROSS_LOOPS_WARNING: Final = (
    "This rate limiter was used in another event loop; it now serves the current loop only. "
    "Create one limiter (or client) per event loop."
)


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a limiter (local, Redis-shared, or none)."""

    async def acquire(self) -> None:
        """Wait for a slot (FIFO) or raise :class:`~dhmad_async.RateLimitError`."""
        ...

    async def observe(self, info: ServerRateLimit) -> None:
        """Take in what the server said after a response."""
        ...

    async def aclose(self) -> None:
        """Release timers and connections; waiting callers are failed."""
        ...


class NullLimiter:
    """A limiter that never waits (``RateLimit(enabled=False)``)."""

    __slots__ = ()

    async def acquire(self) -> None:
        """Return at once."""

    async def observe(self, info: ServerRateLimit) -> None:
        """Ignore the server's hints."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "<NullLimiter>"


class SlidingWindowLimiter:
    """
    A sliding-log limiter with a small GCRA burst and a shared pause gate.

    :param policy: The budget (see :class:`~dhmad_async.RateLimit`).
    :param clock: Where time and sleeping come from.
    :param random_source: Returns a float in ``[0, 1)``; scales ``pause_jitter``.
        Injected so tests can pin the jitter.

    Example::

        limiter = SlidingWindowLimiter(RateLimit(requests=100, per=60, burst=10))
        await limiter.acquire()          # returns when a request may be sent
        ...                              # send it
        await limiter.observe(info)      # feed back the server's headers
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_emission",
        "_live_waiters",
        "_log",
        "_loop",
        "_next_probe_at",
        "_paused_until",
        "_probe_task",
        "_random",
        "_tat",
        "_tolerance",
        "_waiters",
        "_waker",
        "_window",
        "policy",
    )

    def __init__(
        self,
        policy: RateLimit,
        *,
        clock: Clock = SYSTEM_CLOCK,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.policy: RateLimit = policy  #: The configured budget.
        self._clock = clock
        self._random = random_source
        self._window = policy.counted_window
        # GCRA: one request "costs" ``_emission`` seconds; ``_tolerance`` lets
        # ``burst`` requests through back to back; ``_tat`` is the theoretical
        # arrival time of the next request (-inf: the bucket is full).
        self._emission = policy.per / policy.requests
        self._tolerance = (policy.burst - 1) * self._emission
        self._tat = -math.inf
        # Admission times (monotonic), oldest first; never longer than ``requests``.
        self._log: collections.deque[float] = collections.deque()
        self._paused_until = -math.inf
        # During a pause longer than max_server_wait: when the next probe may go,
        # and the task whose request is the probe (its observe() decides).
        self._next_probe_at = -math.inf
        self._probe_task: asyncio.Task[object] | None = None
        # FIFO of (deadline, future); a future's result is its admission time.
        # Cancelled ones stay until they reach the head (skipping them there is
        # O(1)); ``_live_waiters`` counts the others. ``max_wait`` is the same
        # for everyone, so FIFO order is also deadline order and the one timer
        # only ever has to look at the head.
        self._waiters: collections.deque[tuple[float, asyncio.Future[float]]] = collections.deque()
        self._live_waiters = 0
        self._waker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- time arithmetic (pure, given ``now``) --------------------------------

    def _prune(self, now: float) -> None:
        """Forget admissions that have left the window."""
        log = self._log
        window = self._window
        # Same expression as in ``_local_delay`` so float rounding cannot make
        # the timer wake at a deadline that still looks "not yet".
        while log and log[0] + window <= now:
            log.popleft()

    def _local_delay(self, now: float) -> float:
        """Seconds until the local rules (log and bucket) admit one more request."""
        self._prune(now)
        delay = self._tat - self._tolerance - now
        if len(self._log) >= self.policy.requests:
            delay = max(delay, self._log[0] + self._window - now)
        return delay

    def _delay(self, now: float) -> float:
        """Seconds until a request may go: the local rules and the server pause."""
        return max(self._local_delay(now), self._paused_until - now)

    def _admit(self, now: float) -> None:
        """Record one admission at ``now`` (the caller checked ``_delay(now) <= 0``)."""
        self._log.append(now)
        self._tat = max(self._tat, now) + self._emission

    def _server_wait_error(self, wait: float) -> RateLimitError:
        return RateLimitError(
            f"The server asked to pause requests for {wait:.1f} s more, longer than "
            f"RateLimit.max_server_wait ({self.policy.max_server_wait:g} s); not waiting.",
            retry_after=wait,
        )

    def _local_wait_error(self, wait: float) -> RateLimitError:
        return RateLimitError(
            f"The client-side rate limit needs a wait of about {wait:.1f} s, longer than "
            f"RateLimit.max_wait ({self.policy.max_wait:g} s); not waiting.",
            retry_after=wait,
        )

    # -- the event-loop side ---------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """Bind to the running loop on first use (never in ``__init__``)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and (self._waker is not None or self._live_waiters):
                warnings.warn(LIMITER_REUSED_ACROSS_LOOPS_WARNING, RuntimeWarning, stacklevel=3)
                self._waiters.clear()
                self._live_waiters = 0
                self._waker = None
            self._loop = loop
        return loop

    async def acquire(self) -> None:
        """
        Wait until one request may be sent, in FIFO order.

        Raises :class:`~dhmad_async.RateLimitError` at once when the server's
        pause still to run exceeds ``max_server_wait`` (except for the one
        probe per window, which is admitted), or when the local wait
        certainly exceeds ``max_wait``; a caller whose wait grows past
        ``max_wait`` while queued gets the same error at its deadline.
        """
        if self._closed:
            raise ClientClosedError("This rate limiter was closed; create a new one.")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            loop = self._bind_loop()
        policy = self.policy
        now = self._clock.monotonic()
        # current_task() only when a probe is involved: it is per-call work that
        # the common path (no pause) never needs.
        if self._probe_task is not None and self._probe_task is asyncio.current_task():
            # The probe's task asks again: its probe is over (answered or failed).
            self._probe_task = None
        pause = self._paused_until - now
        if pause > policy.max_server_wait:
            if now >= self._next_probe_at and self._local_delay(now) <= 0:
                # One request per window asks the server whether its block is over.
                self._next_probe_at = now + policy.per
                self._probe_task = asyncio.current_task()
                self._admit(now)
                return
            raise self._server_wait_error(pause)
        live = self._live_waiters
        delay = 0.0
        if live == 0:
            delay = self._delay(now)
            if delay <= 0:
                self._admit(now)
                return
        deadline = math.inf
        if policy.max_wait is not None:
            if live:  # behind others: the head's delay (computed only when it is used)
                delay = max(self._delay(now), 0.0)
            # A lower bound of our wait: the head's delay, then the bucket's rate
            # for everyone ahead beyond one burst. Raise now only when certain.
            estimate = delay + max(0, live - policy.burst + 1) * self._emission
            if estimate > policy.max_wait:
                raise self._local_wait_error(estimate)
            deadline = now + policy.max_wait
        future: asyncio.Future[float] = loop.create_future()
        self._waiters.append((deadline, future))
        self._live_waiters = live + 1
        if self._waker is None:
            self._waker = loop.create_task(self._wake_waiters())
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():
                # Dropped while queued: it consumed nothing; the timer skips it.
                self._live_waiters = max(0, self._live_waiters - 1)
            elif future.exception() is None:
                # Granted, then cancelled before we resumed: give the slot back.
                self._refund(future.result())
            raise

    def _refund(self, admitted_at: float) -> None:
        """Undo one admission made at ``admitted_at`` whose caller never sent."""
        # O(len(log)), but only on the rare grant-then-cancel race. Equal
        # timestamps are interchangeable, so removing any one is exact; a
        # ValueError means it already left the window: nothing to give back.
        with contextlib.suppress(ValueError):
            self._log.remove(admitted_at)
        # The log is the hard guarantee; the bucket only shapes bursts, so a
        # plain roll-back of one emission interval is enough here.
        self._tat -= self._emission
        self._kick()

    def _ensure_waker(self) -> None:
        if self._waker is None:
            self._waker = asyncio.get_running_loop().create_task(self._wake_waiters())

    def _kick(self) -> None:
        """Restart the timer because the state became more permissive."""
        if self._waker is not None:
            self._waker.cancel()
            self._waker = None
        if self._live_waiters:
            self._ensure_waker()

    async def _wake_waiters(self) -> None:
        """The one timer: grant the head of the queue whenever it may go."""
        waiters = self._waiters
        clock = self._clock
        try:
            while True:
                while waiters and waiters[0][1].done():
                    waiters.popleft()
                if not waiters:
                    return
                now = clock.monotonic()
                delay = self._delay(now)
                if delay <= 0:
                    self._grant_ready(now)
                    continue
                deadline, head = waiters[0]
                if deadline <= now:
                    waiters.popleft()
                    self._live_waiters -= 1
                    head.set_exception(self._local_wait_error(delay))
                    continue
                pause = self._paused_until - now
                if pause > self.policy.max_server_wait:
                    self._fail_all(self._server_wait_error(pause))
                    return
                await clock.sleep(min(delay, deadline - now))
        finally:
            if self._waker is asyncio.current_task():
                self._waker = None

    def _grant_ready(self, now: float) -> None:
        """Grant, at ``now``, every waiter from the head that the rules admit (at least one).

        The caller checked ``_delay(now) <= 0``. This is the per-head loop ``grant,
        recompute _delay(now), repeat`` with the recomputation reduced to what can
        change within one instant: the log was pruned at ``now`` and an admission
        at ``now`` leaves it only after the (positive) window, so the log rule
        binds exactly when it is full; the pause cannot change; the bucket
        advances by one emission per grant, with ``_admit``'s arithmetic. One
        clock reading and no function call per grant instead of four.
        """
        waiters = self._waiters
        log = self._log
        limit = self.policy.requests
        emission = self._emission
        tolerance = self._tolerance
        tat = self._tat
        granted = 0
        try:
            while waiters:
                head = waiters[0][1]
                if head.done():  # cancelled while queued: it consumed nothing
                    waiters.popleft()
                    continue
                # _local_delay's expressions exactly, so float rounding agrees with it.
                if granted and (tat - tolerance - now > 0 or len(log) >= limit):
                    break
                waiters.popleft()
                granted += 1
                log.append(now)
                tat = max(tat, now) + emission
                head.set_result(now)
        finally:
            self._tat = tat
            self._live_waiters -= granted

    def _fail_all(self, error: RateLimitError) -> None:
        """Fail every queued caller (their wait became longer than allowed)."""
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_exception(error)
        self._live_waiters = 0

    async def observe(self, info: ServerRateLimit) -> None:
        """
        Fold the server's hints into the budget.

        - ``retry_after`` (a 429): pause everyone until now + retry_after +
          uniform ``[0, pause_jitter)`` (jitter only ever delays). If the pause
          is longer than ``max_server_wait``, its first probe goes one window later.
        - the answer to a probe: not refused (no 429) lifts the pause; a 429
          replaces the pause with the one it states (the server's latest word).
        - ``remaining`` lower than our own count of free slots (``0`` included):
          other processes share the IP; the difference is recorded as
          admissions made now, so we never send more than the server has left
          (and never more than the local rule). A ``remaining`` of 0 that our
          own full log explains changes nothing: see ``ServerRateLimit.pause_for``.
        """
        now = self._clock.monotonic()
        policy = self.policy
        probe = self._probe_task is not None and self._probe_task is asyncio.current_task()
        if probe:
            self._probe_task = None
            if not info.rejected:
                # The probe got through: the server's block is over.
                self._paused_until = -math.inf
                self._next_probe_at = -math.inf
                self._kick()
        pause_for = info.pause_for
        if pause_for is not None:
            until = now + pause_for + policy.pause_jitter * self._random()
            self._paused_until = until if probe else max(self._paused_until, until)
            # No probe before one window has passed since the server's refusal.
            self._next_probe_at = max(self._next_probe_at, now + policy.per)
        elif info.remaining is not None:
            self._prune(now)
            free_locally = policy.requests - len(self._log)
            missing = free_locally - info.remaining
            # Appending "now" keeps the log sorted: the clock is monotonic.
            for _ in range(max(0, missing)):
                self._log.append(now)
        if self._live_waiters and self._paused_until - now > policy.max_server_wait:
            self._fail_all(self._server_wait_error(self._paused_until - now))

    async def aclose(self) -> None:
        """Stop the timer and fail waiting callers with ClientClosedError; idempotent."""
        self._closed = True
        waker, self._waker = self._waker, None
        error = ClientClosedError("The rate limiter was closed while this request waited.")
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_exception(error)
        self._live_waiters = 0
        if waker is not None and not waker.done():
            waker.cancel()
            try:
                await waker
            except asyncio.CancelledError:
                # Our own cancellation of the timer, unless we are being cancelled too.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    def __repr__(self) -> str:
        now = self._clock.monotonic()
        self._prune(now)
        paused = self._paused_until - now
        state = f"paused {paused:.3f}s more" if paused > 0 else "not paused"
        return (
            f"<SlidingWindowLimiter {self.policy.requests}/{self.policy.per:g}s "
            f"burst={self.policy.burst} admitted_in_window={len(self._log)} "
            f"waiters={self._live_waiters} {state}>"
        )


def create_limiter(
    rate_limit: RateLimit | RateLimiter, *, clock: Clock = SYSTEM_CLOCK
) -> RateLimiter:
    """Build the limiter for a client option: a ``RateLimit`` or a ready limiter."""
    if isinstance(rate_limit, RateLimit):
        if not rate_limit.enabled:
            return NullLimiter()
        return SlidingWindowLimiter(rate_limit, clock=clock)
    return rate_limit
