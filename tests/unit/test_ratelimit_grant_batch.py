"""The limiter's one-pass grant admits exactly whom the one-waiter-per-step loop admitted.

``SlidingWindowLimiter._grant_ready`` grants every ready head at one clock reading.
The reference below grants only the head and lets the timer loop recompute the full
delay before the next one, which is how the timer worked before; with a fake clock
both must admit the same callers at the same instants, in the same order, and fail
the same callers, for any policy, demand, cancellations and ``max_wait``.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhmad_async._config import RateLimit
from dhmad_async._errors import RateLimitError
from dhmad_async.ratelimit._local import SlidingWindowLimiter
from dhmad_async.testing._fake_clock import FakeClock


class OneAtATime(SlidingWindowLimiter):
    """The reference: one grant per pass of the timer loop (the general path)."""

    __slots__ = ("passes",)

    def __init__(self, policy: RateLimit, *, clock: FakeClock) -> None:
        super().__init__(policy, clock=clock)
        self.passes = 0

    def _grant_ready(self, now: float) -> None:
        self.passes += 1
        waiters = self._waiters
        while waiters and waiters[0][1].done():
            waiters.popleft()
        _, head = waiters.popleft()
        self._live_waiters -= 1
        self._admit(now)
        head.set_result(now)


class Counting(SlidingWindowLimiter):
    """The real one-pass grant, counting its passes."""

    __slots__ = ("passes",)

    def __init__(self, policy: RateLimit, *, clock: FakeClock) -> None:
        super().__init__(policy, clock=clock)
        self.passes = 0

    def _grant_ready(self, now: float) -> None:
        self.passes += 1
        super()._grant_ready(now)


async def _run(
    cls: type[OneAtATime] | type[Counting],
    policy: RateLimit,
    demand: list[tuple[float, int, int]],
) -> tuple[list[tuple[int, str, float]], int]:
    """Feed (gap, count, cancel every k-th) through a limiter; return outcomes, passes."""
    clock = FakeClock()
    limiter = cls(policy, clock=clock)
    outcomes: list[tuple[int, str, float]] = []

    async def caller(i: int) -> None:
        try:
            await limiter.acquire()
        except RateLimitError:
            outcomes.append((i, "refused", clock.monotonic()))
        else:
            outcomes.append((i, "admitted", clock.monotonic()))

    tasks: list[asyncio.Task[None]] = []
    for gap, count, cancel_every in demand:
        await clock.advance(gap)
        start = len(tasks)
        tasks += [asyncio.create_task(caller(start + j)) for j in range(count)]
        await clock.advance(0)
        if cancel_every:
            for task in tasks[start::cancel_every]:
                task.cancel()
    for _ in range(1000):
        if all(task.done() for task in tasks):
            break
        await clock.advance(policy.per / 4)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    outcomes += [(i, "cancelled", -1.0) for i, r in enumerate(results) if r is not None]
    await limiter.aclose()
    return sorted(outcomes, key=lambda o: (o[2], o[1], o[0])), limiter.passes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=st.integers(1, 12),
    per=st.sampled_from([0.5, 1.0, 6.0, 0.3]),
    burst_fraction=st.floats(0.0, 1.0),
    margin=st.sampled_from([0.0, 0.25]),
    max_wait=st.sampled_from([None, 0.5, 3.0]),
    demand=st.lists(
        st.tuples(st.floats(0.0, 3.0), st.integers(0, 30), st.sampled_from([0, 0, 2, 5])),
        min_size=1,
        max_size=8,
    ),
)
def test_one_pass_grant_admits_what_the_per_head_loop_admits(
    requests: int,
    per: float,
    burst_fraction: float,
    margin: float,
    max_wait: float | None,
    demand: list[tuple[float, int, int]],
) -> None:
    burst = max(1, round(burst_fraction * requests))
    policy = RateLimit(
        requests=requests, per=per, burst=burst, margin=margin, pause_jitter=0.0, max_wait=max_wait
    )
    fast, fast_passes = asyncio.run(_run(Counting, policy, demand))
    general, general_passes = asyncio.run(_run(OneAtATime, policy, demand))
    assert fast == general
    assert fast_passes <= general_passes


def test_one_pass_grant_serves_a_burst_in_one_pass() -> None:
    """Ten waiters become ready at one instant (the log's ten entries expire): one pass."""
    policy = RateLimit(requests=10, per=10.0, burst=10, margin=0.0, pause_jitter=0.0)
    demand = [(0.0, 30, 0)]  # 10 go at once, 10 at t=10, 10 at t=20
    fast, fast_passes = asyncio.run(_run(Counting, policy, demand))
    general, general_passes = asyncio.run(_run(OneAtATime, policy, demand))
    assert fast == general
    assert [t for _, _, t in fast] == [0.0] * 10 + [10.0] * 10 + [20.0] * 10
    assert general_passes == 20  # one per grant
    assert fast_passes == 2  # one per instant


def test_acquire_rebinds_to_a_new_loop_through_the_inlined_check() -> None:
    """acquire() compares the running loop inline and binds through _bind_loop on a change."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(
        RateLimit(requests=5, per=1.0, burst=5, margin=0.0, pause_jitter=0.0), clock=clock
    )

    async def once() -> asyncio.AbstractEventLoop:
        await limiter.acquire()
        return asyncio.get_running_loop()

    first = asyncio.run(once())
    assert limiter._loop is first
    second = asyncio.run(once())
    assert second is not first
    assert limiter._loop is second
    assert len(limiter._log) == 2
