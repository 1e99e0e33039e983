"""Tests for the fake clock that drives time-dependent code in tests."""

from __future__ import annotations

import asyncio

import pytest

from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async.testing._fake_clock import FakeClock


def test_starts_at_given_times_and_time_moves_with_monotonic() -> None:
    """monotonic() and time() start where asked and move together."""
    clock = FakeClock(start_monotonic=5.0, start_time=1000.0)
    assert (clock.monotonic(), clock.time()) == (5.0, 1000.0)


async def test_sleeper_wakes_only_when_time_reaches_deadline() -> None:
    """A sleeper stays parked until advance() reaches its deadline."""
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await clock.advance(4.9)
    assert not task.done()
    assert clock.pending_sleepers == 1
    await clock.advance(0.1)
    assert task.done()
    assert clock.pending_sleepers == 0
    assert clock.monotonic() == pytest.approx(5.0)
    assert clock.time() == pytest.approx(1_700_000_005.0)


async def test_sleepers_fire_in_deadline_order_at_their_deadline() -> None:
    """Due sleepers wake in deadline order and each sees its own deadline as now."""
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.advance(0)
    await clock.advance(10)
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    await asyncio.gather(*tasks)


async def test_sleeper_that_sleeps_again_within_interval_is_woken_again() -> None:
    """A task that re-sleeps during one advance() is woken again within it."""
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.advance(0)
    await clock.advance(3)
    assert ticks == [1.0, 2.0, 3.0]
    await task


async def test_cancelled_sleeper_is_dropped() -> None:
    """Cancelling a sleeper removes it from pending_sleepers and advance() skips it."""
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(1))
    await clock.advance(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_sleepers == 0
    await clock.advance(2)
    assert clock.monotonic() == 2.0


async def test_zero_sleep_returns_without_advancing() -> None:
    """sleep(0) and negative sleeps only yield to the loop."""
    clock = FakeClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.monotonic() == 0.0


async def test_advance_backwards_is_refused() -> None:
    """Time never moves backwards."""
    with pytest.raises(ValueError, match="backwards"):
        await FakeClock().advance(-1)


async def test_system_clock_satisfies_protocol() -> None:
    """SYSTEM_CLOCK reads real time and its sleep(0) returns."""
    clock: Clock = SYSTEM_CLOCK
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before
    assert clock.time() > 1_600_000_000
    assert repr(clock) == "SYSTEM_CLOCK"
