"""Behavioural tests of the client-side limiter, driven by a fake clock."""

from __future__ import annotations

import asyncio
import bisect
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhmad_async._config import RateLimit
from dhmad_async._errors import ClientClosedError, RateLimitError
from dhmad_async.ratelimit._headers import ServerRateLimit
from dhmad_async.ratelimit._local import (
    NullLimiter,
    RateLimiter,
    SlidingWindowLimiter,
    create_limiter,
)
from dhmad_async.testing._fake_clock import FakeClock

T = TypeVar("T")


class SlidingWindowServer:
    """A fake server that rejects a request when `limit` already arrived in the last `per` s."""

    def __init__(self, limit: int, per: float) -> None:
        self.limit = limit
        self.per = per
        self.accepted: list[float] = []
        self.rejected: list[float] = []

    def hit(self, now: float) -> None:
        """Record a request arriving at `now`; a request at t counts during [t, t + per)."""
        times = self.accepted
        if len(times) >= self.limit and times[-self.limit] + self.per > now:
            self.rejected.append(now)
        else:
            times.append(now)

    def max_in_any_window(self) -> int:
        """The largest number of accepted requests inside any window [t, t + per)."""
        times = self.accepted
        return max(
            (bisect.bisect_left(times, t + self.per) - i for i, t in enumerate(times)),
            default=0,
        )


def make(clock: FakeClock, **policy: float) -> SlidingWindowLimiter:
    """A limiter on `clock` with no jitter unless asked."""
    policy.setdefault("pause_jitter", 0.0)
    return SlidingWindowLimiter(RateLimit(**policy), clock=clock)  # type: ignore[arg-type]


def spawn(limiter: RateLimiter, n: int) -> list[asyncio.Task[None]]:
    """Start `n` tasks that each acquire once."""
    return [asyncio.create_task(limiter.acquire()) for _ in range(n)]


def done(tasks: list[asyncio.Task[None]]) -> list[bool]:
    """Which tasks have finished."""
    return [task.done() for task in tasks]


async def test_burst_then_drip() -> None:
    """After idling, `burst` go at once, then one every per/requests seconds."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=3, margin=0.0)
    tasks = spawn(limiter, 6)
    await clock.advance(0)
    assert sum(done(tasks)) == 3
    await clock.advance(0.999)
    assert sum(done(tasks)) == 3
    await clock.advance(0.001)
    assert sum(done(tasks)) == 4
    await clock.advance(2)
    assert all(done(tasks))
    await limiter.aclose()


async def test_burst_refills_after_idle() -> None:
    """A bucket drained by a burst is full again after burst * per/requests idle seconds."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=3, margin=0.0)
    await asyncio.gather(*spawn(limiter, 3))
    await clock.advance(3)
    tasks = spawn(limiter, 4)
    await clock.advance(0)
    assert done(tasks) == [True, True, True, False]
    await clock.advance(1)
    assert all(done(tasks))
    await limiter.aclose()


async def test_sliding_log_caps_window_with_full_burst() -> None:
    """With burst == requests, the log stops the 11th request until the first leaves the window."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=10, margin=0.5)
    tasks = spawn(limiter, 11)
    await clock.advance(0)
    assert sum(done(tasks)) == 10
    await clock.advance(10.49)
    assert sum(done(tasks)) == 10
    await clock.advance(0.01)
    assert all(done(tasks))
    await limiter.aclose()


async def test_fifo_order() -> None:
    """Waiters are admitted strictly in arrival order."""
    clock = FakeClock()
    limiter = make(clock, requests=5, per=5.0, burst=1, margin=0.0)
    order: list[int] = []

    async def worker(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    tasks = [asyncio.create_task(worker(i)) for i in range(8)]
    await clock.advance(0)
    await clock.advance(20)
    await asyncio.gather(*tasks)
    assert order == list(range(8))
    await limiter.aclose()


async def test_cancelled_waiter_gives_back_its_place_and_consumes_nothing() -> None:
    """A waiter cancelled in the queue is skipped and its slot goes to the next one."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1, margin=0.0)
    a, b, c, d = spawn(limiter, 4)
    await clock.advance(0)
    assert done([a, b, c, d]) == [True, False, False, False]
    c.cancel()
    await clock.advance(1)
    assert (b.done(), d.done()) == (True, False)
    await clock.advance(1)
    assert d.done() and c.cancelled()
    assert "admitted_in_window=3 waiters=0" in repr(limiter)
    await limiter.aclose()


class StepClock:
    """A clock whose sleepers are released by hand, to stage a grant-then-cancel race."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[asyncio.Future[None]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append(future)
        await future

    def release(self, now: float) -> None:
        """Move time to `now` and wake every sleeper."""
        self.now = now
        for future in self.sleepers:
            if not future.done():
                future.set_result(None)
        self.sleepers.clear()


async def test_waiter_cancelled_after_grant_refunds_its_slot() -> None:
    """A waiter granted a slot but cancelled before it resumed gives the slot back."""
    clock = StepClock()
    limiter = SlidingWindowLimiter(
        RateLimit(requests=2, per=10.0, burst=2, margin=0.0, pause_jitter=0.0), clock=clock
    )
    await limiter.acquire()
    clock.now = 5.0
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    clock.release(10.0)  # the admission at 0 leaves the window
    await asyncio.sleep(0)  # the timer runs and grants `waiter`...
    waiter.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert "admitted_in_window=1 waiters=0" in repr(limiter)  # only the one at 5 s
    await limiter.acquire()  # the refunded slot is free at once
    assert "admitted_in_window=2" in repr(limiter)
    await limiter.aclose()


async def run_demand(
    policy: RateLimit, demand: list[tuple[float, int]], clock: FakeClock
) -> SlidingWindowServer:
    """Feed bursts of demand (gap, count) through a limiter into a fake server; drain."""
    limiter = SlidingWindowLimiter(policy, clock=clock)
    server = SlidingWindowServer(policy.requests, policy.per)

    async def request() -> None:
        await limiter.acquire()
        server.hit(clock.monotonic())

    tasks: list[asyncio.Task[None]] = []
    for gap, count in demand:
        await clock.advance(gap)
        tasks += [asyncio.create_task(request()) for _ in range(count)]
    await clock.advance(0)
    while not all(task.done() for task in tasks):
        await clock.advance(policy.per)
    await asyncio.gather(*tasks)
    await limiter.aclose()
    return server


async def test_never_more_than_requests_in_any_window_over_long_random_run() -> None:
    """Random bursts over a long run: the sliding-window server never rejects one."""
    rng = random.Random(20240601)
    demand = [(rng.uniform(0, 8), rng.choice([0, 1, 3, 10, 40])) for _ in range(300)]
    policy = RateLimit(requests=10, per=6.0, burst=4, margin=0.0, pause_jitter=0.0)
    server = await run_demand(policy, demand, FakeClock())
    assert server.rejected == []
    assert server.max_in_any_window() == 10
    assert len(server.accepted) == sum(count for _, count in demand)


async def test_saturating_demand_uses_the_whole_budget() -> None:
    """Under constant overload, throughput is close to requests per (per + margin)."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10, margin=0.5)
    tasks = spawn(limiter, 1000)
    await clock.advance(0)
    await clock.advance(600)
    admitted = sum(done(tasks))
    assert admitted >= 0.97 * 1000  # 100 per 60.5 s over 600 s is ~991
    await limiter.aclose()
    await asyncio.gather(*tasks, return_exceptions=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=st.integers(1, 12),
    per=st.floats(0.5, 10.0),
    burst_fraction=st.floats(0.0, 1.0),
    margin=st.sampled_from([0.0, 0.25]),
    demand=st.lists(st.tuples(st.floats(0.0, 5.0), st.integers(0, 15)), min_size=1, max_size=15),
)
def test_property_no_window_overflow(
    requests: int,
    per: float,
    burst_fraction: float,
    margin: float,
    demand: list[tuple[float, int]],
) -> None:
    """For any policy and demand, no window of `per` seconds holds more than `requests`."""
    burst = max(1, round(burst_fraction * requests))
    policy = RateLimit(requests=requests, per=per, burst=burst, margin=margin, pause_jitter=0.0)
    server = asyncio.run(run_demand(policy, demand, FakeClock()))
    assert server.rejected == []
    assert server.max_in_any_window() <= requests


async def test_429_pauses_everyone_until_retry_after_plus_jitter() -> None:
    """A 429 stops queued and new callers until retry_after + jitter, never earlier."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(
        RateLimit(requests=100, per=60.0, burst=5, pause_jitter=0.5),
        clock=clock,
        random_source=lambda: 0.5,
    )
    await limiter.acquire()
    await limiter.observe(ServerRateLimit(retry_after=5.0))
    tasks = spawn(limiter, 3)
    await clock.advance(5.0)
    assert not any(done(tasks))
    await clock.advance(0.249)
    assert not any(done(tasks))
    await clock.advance(0.001)
    assert all(done(tasks))
    await limiter.aclose()


@given(st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 100.0))
def test_property_pause_jitter_never_early(draw: float, retry_after: float) -> None:
    """Whatever the random draw, the pause lasts at least retry_after."""

    async def scenario() -> None:
        clock = FakeClock()
        limiter = SlidingWindowLimiter(
            RateLimit(pause_jitter=2.0, max_server_wait=1000.0),
            clock=clock,
            random_source=lambda: draw,
        )
        await limiter.observe(ServerRateLimit(retry_after=retry_after))
        task = asyncio.create_task(limiter.acquire())
        await clock.advance(0)
        if retry_after > 0:
            await clock.advance(retry_after - min(retry_after, 1e-6))
            assert not task.done()
        await clock.advance(2.01)  # past retry_after + the largest jitter
        assert task.done()
        await limiter.aclose()

    asyncio.run(scenario())


async def test_pause_longer_than_max_server_wait_raises_at_once() -> None:
    """A server pause beyond max_server_wait raises RateLimitError with retry_after."""
    clock = FakeClock()
    limiter = make(clock, max_server_wait=120.0)
    await limiter.observe(ServerRateLimit(retry_after=3600.0))  # REFERENCE §1.7 example
    with pytest.raises(RateLimitError, match="max_server_wait") as caught:
        await limiter.acquire()
    assert caught.value.retry_after == pytest.approx(3600.0)
    await clock.advance(3600)
    await limiter.acquire()  # the pause is over
    await limiter.aclose()


async def test_long_pause_fails_queued_waiters() -> None:
    """Callers already queued when a too-long pause arrives get RateLimitError."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1, margin=0.0, max_server_wait=30.0)
    first, second = spawn(limiter, 2)
    await clock.advance(0)
    await limiter.observe(ServerRateLimit(retry_after=60.0))
    await clock.advance(0)
    assert first.done() and first.exception() is None
    with pytest.raises(RateLimitError):
        await second
    await limiter.aclose()


async def test_max_wait_raises_at_once_when_certain() -> None:
    """A caller whose wait would certainly exceed max_wait is refused immediately."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1, margin=0.0, max_wait=2.5)
    tasks = spawn(limiter, 3)  # waits of 0, 1 and 2 s
    await clock.advance(0)
    with pytest.raises(RateLimitError, match="max_wait") as caught:
        await limiter.acquire()  # would wait 3 s
    assert caught.value.retry_after == pytest.approx(3.0)
    await clock.advance(2)
    assert all(done(tasks))
    await limiter.aclose()


async def test_max_wait_expires_a_queued_caller_at_its_deadline() -> None:
    """A queued caller whose wait grows past max_wait fails exactly at its deadline."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1, margin=0.0, max_wait=5.0)
    await limiter.acquire()
    task = asyncio.create_task(limiter.acquire())
    await clock.advance(0.5)
    await limiter.observe(ServerRateLimit(retry_after=30.0))
    await clock.advance(4.49)
    assert not task.done()
    await clock.advance(0.01)
    assert isinstance(task.exception(), RateLimitError)
    await limiter.aclose()


async def test_remaining_below_local_count_is_spent_now() -> None:
    """A lower server `remaining` (others share the IP) is recorded as used now."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=10, margin=0.0)
    await asyncio.gather(*spawn(limiter, 2))
    await limiter.observe(ServerRateLimit(limit=10, remaining=3))
    tasks = spawn(limiter, 4)
    await clock.advance(0)
    assert sum(done(tasks)) == 3
    await clock.advance(9.99)
    assert sum(done(tasks)) == 3
    await clock.advance(0.01)
    assert all(done(tasks))
    await limiter.aclose()


async def test_remaining_above_local_count_never_loosens_the_local_rule() -> None:
    """A generous server `remaining` does not let more than `requests` through."""
    clock = FakeClock()
    limiter = make(clock, requests=3, per=10.0, burst=3, margin=0.0)
    await limiter.observe(ServerRateLimit(limit=1000, remaining=999))
    tasks = spawn(limiter, 4)
    await clock.advance(0)
    assert sum(done(tasks)) == 3
    await limiter.aclose()


async def test_remaining_zero_explained_by_our_own_log_is_not_a_pause() -> None:
    """At the limit, remaining=0 with a rounded reset does not stall the next slot."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=10, margin=0.0)
    await asyncio.gather(*spawn(limiter, 10))
    # The server, rounding up, says "nothing left, reset in 10 s"; our log knows
    # the oldest admission leaves the window at t = 10.
    await clock.advance(5.0)
    await limiter.observe(ServerRateLimit(remaining=0, reset_after=10.0))
    task = asyncio.create_task(limiter.acquire())
    await clock.advance(4.99)
    assert not task.done()
    await clock.advance(0.01)
    assert task.done()
    await limiter.aclose()


async def test_remaining_zero_spent_by_others_fills_the_window() -> None:
    """remaining=0 while our log is empty: others spent the budget, so nothing goes for a window."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=10, margin=0.0)
    await limiter.observe(ServerRateLimit(remaining=0, reset_after=4.0))
    task = asyncio.create_task(limiter.acquire())
    await clock.advance(9.99)
    assert not task.done()
    await clock.advance(0.01)
    assert task.done()
    await limiter.aclose()


async def test_aclose_fails_waiters_and_later_calls() -> None:
    """Closing fails queued callers and later acquire() with ClientClosedError."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1)
    tasks = spawn(limiter, 2)
    await clock.advance(0)
    await limiter.aclose()
    await limiter.aclose()
    assert isinstance(tasks[1].exception(), ClientClosedError)
    assert clock.pending_sleepers == 0
    with pytest.raises(ClientClosedError):
        await limiter.acquire()


async def test_repr_shows_live_state() -> None:
    """The repr reports admissions in the window, waiters and the pause."""
    clock = FakeClock()
    limiter = make(clock, requests=10, per=10.0, burst=1)
    tasks = spawn(limiter, 3)
    await clock.advance(0)
    await limiter.observe(ServerRateLimit(retry_after=2.0))
    text = repr(limiter)
    assert "admitted_in_window=1" in text
    assert "waiters=2" in text
    assert "paused 2.000s more" in text
    await limiter.aclose()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_create_limiter_builds_or_passes_through() -> None:
    """create_limiter builds a SlidingWindowLimiter, a NullLimiter, or returns a given limiter."""
    clock = FakeClock()
    assert isinstance(create_limiter(RateLimit(), clock=clock), SlidingWindowLimiter)
    null = create_limiter(RateLimit.disabled(), clock=clock)
    assert isinstance(null, NullLimiter)
    await null.acquire()
    await null.observe(ServerRateLimit(retry_after=1e9))
    await null.aclose()
    mine = NullLimiter()
    assert create_limiter(mine, clock=clock) is mine
    assert isinstance(mine, RateLimiter)


# --- the margin scales with the window ----------------------------------------------------


def test_default_margin_is_a_sixtieth_of_the_window() -> None:
    """1 s on DHMAD's 60 s window (as before), 1/60 s on a 1 s window; explicit values win."""
    assert RateLimit().effective_margin == 1.0
    assert RateLimit().counted_window == 61.0
    assert RateLimit(requests=10, per=1.0).effective_margin == pytest.approx(1 / 60)
    assert RateLimit(per=1.0, margin=0.5).effective_margin == 0.5
    assert RateLimit(margin=0.0).counted_window == 60.0
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="margin"):
            RateLimit(margin=bad)


async def test_short_window_runs_at_full_speed_with_the_default_margin() -> None:
    """
    RateLimit(requests=10, per=1.0) admits about 10 per second, not 5.

    Before, the absolute 1 s margin made the counted window 2 s: half speed.
    The server's window is still never overrun.
    """
    clock = FakeClock()
    limiter = SlidingWindowLimiter(RateLimit(requests=10, per=1.0, pause_jitter=0.0), clock=clock)
    server = SlidingWindowServer(limit=10, per=1.0)

    async def sender() -> None:
        while True:
            await limiter.acquire()
            server.hit(clock.monotonic())

    senders = [asyncio.create_task(sender()) for _ in range(20)]
    await clock.advance(0)
    for _ in range(100):
        await clock.advance(0.1)
    admitted = len(server.accepted)
    for task in senders:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    await limiter.aclose()
    assert server.rejected == []
    assert server.max_in_any_window() <= 10
    assert admitted >= 95  # ~10 per 1.017 s over 10 s; half speed gave ~55


# --- a pause longer than max_server_wait: fail fast, one probe per window -------------------


async def in_task(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a task of its own (the limiter tells probes apart by task)."""
    return await asyncio.create_task(coro)


async def send(limiter: SlidingWindowLimiter, answer: ServerRateLimit | None) -> None:
    """One request as the client makes it: acquire, then (if answered) observe, in one task."""
    await limiter.acquire()
    if answer is not None:
        await limiter.observe(answer)


async def test_long_pause_admits_one_probe_per_window_and_its_answer_lifts_it() -> None:
    """Calls fail fast; after one window one call goes; its non-429 answer ends the pause."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10)
    await in_task(send(limiter, ServerRateLimit(retry_after=3600.0, rejected=True)))
    await clock.advance(59.9)
    with pytest.raises(RateLimitError):
        await in_task(send(limiter, None))
    await clock.advance(0.1)
    await in_task(send(limiter, ServerRateLimit()))  # the probe, answered 200
    for _ in range(5):
        await in_task(send(limiter, None))  # no longer paused
    await limiter.aclose()


async def test_a_refused_probe_keeps_the_pause_and_the_next_probe_waits_a_window() -> None:
    """A probe answered 429 again: calls keep failing fast; exactly one probe per window."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10)
    await in_task(send(limiter, ServerRateLimit(retry_after=3600.0, rejected=True)))
    admitted = 0
    for _ in range(3 * 12):  # three windows, a call every 5 s
        await clock.advance(5)
        try:
            await in_task(send(limiter, ServerRateLimit(remaining=0, rejected=True)))
        except RateLimitError:
            continue
        admitted += 1
    assert admitted == 3
    await limiter.aclose()


async def test_a_probe_refused_with_a_short_wait_replaces_the_long_pause() -> None:
    """The probe's 429 is the server's latest word: retryAfter 5 means 5 s, not the old hour."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10)
    await in_task(send(limiter, ServerRateLimit(retry_after=3600.0, rejected=True)))
    await clock.advance(60)
    await in_task(send(limiter, ServerRateLimit(retry_after=5.0, rejected=True)))
    waiting = asyncio.create_task(limiter.acquire())  # a short pause is waited out, not refused
    await clock.advance(4.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert waiting.done() and waiting.exception() is None
    await limiter.aclose()


async def test_answers_to_requests_sent_before_the_pause_do_not_lift_it() -> None:
    """Only the probe's answer lifts a pause; a 200 to an older request in flight does not."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10)
    earlier = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await asyncio.gather(*earlier)
    await in_task(limiter.observe(ServerRateLimit(retry_after=3600.0, rejected=True)))
    for _ in range(3):
        await in_task(limiter.observe(ServerRateLimit(remaining=50)))  # the others' 200s
    with pytest.raises(RateLimitError, match="max_server_wait"):
        await limiter.acquire()
    await limiter.aclose()


async def test_a_probe_that_got_no_answer_does_not_count_as_a_later_one() -> None:
    """A probe whose request failed leaves no trace: the next window probes again."""
    clock = FakeClock()
    limiter = make(clock, requests=100, per=60.0, burst=10)

    async def worker() -> list[str]:
        # One task making calls in sequence, like a batch worker.
        outcomes: list[str] = []
        await limiter.acquire()
        await limiter.observe(ServerRateLimit(retry_after=3600.0, rejected=True))
        await clock.sleep(60)
        await limiter.acquire()  # the probe; its connection fails: no observe
        outcomes.append("probe sent")
        await clock.sleep(1)
        try:
            await limiter.acquire()
        except RateLimitError:
            outcomes.append("refused")
        await limiter.observe(ServerRateLimit())  # an answer, but not to a probe
        try:
            await limiter.acquire()
        except RateLimitError:
            outcomes.append("still refused")
        await clock.sleep(60)
        await limiter.acquire()
        outcomes.append("next probe sent")
        return outcomes

    task = asyncio.create_task(worker())
    for _ in range(130):
        await clock.advance(1)
    assert await task == ["probe sent", "refused", "still refused", "next probe sent"]
    await limiter.aclose()
