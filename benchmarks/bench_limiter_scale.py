"""
Figure 3, limiter scale: CPU per acquisition of ``SlidingWindowLimiter`` against a no-op FIFO.

N tasks (1,000, 10,000 and 50,000) call ``acquire()`` at once, in one fresh event loop
per run, on either:

* ``limiter`` — a ``SlidingWindowLimiter`` of 20,000 requests/s (burst 100), real clock,
  so almost every task really queues in its FIFO behind its single timer; or
* ``no-op FIFO`` — the baseline: the same N tasks, each waiting on its own
  ``asyncio.Event`` in a FIFO that one callback sets in order, admitting everyone at once.

Both create the same tasks and keep them alive while queued, so CPython's cyclic
garbage collector walking tens of thousands of live tasks and futures costs both; the
ratio limiter / no-op at the same N is what the limiter itself adds. Each size runs
at least 5 times, limiter and no-op interleaved (order alternating), after a
``gc.collect()``; the figure is the median CPU time (``process_time``) per
acquisition. CPU time inside the collector (``gc.callbacks``) is recorded too.
Target: the limiter within 1.2x the no-op baseline at every size. No I/O.

    .venv/bin/python -m benchmarks.bench_limiter_scale [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from benchmarks._common import median
from dhmad_async import RateLimit
from dhmad_async.ratelimit import SlidingWindowLimiter

__all__ = ["NoopFifo", "main"]

SIZES = (1_000, 10_000, 50_000)
RUNS = 5
TARGET = 1.2  # limiter CPU per acquisition at most 1.2x the no-op FIFO's, at every size
# 20,000 requests per second: 50k tasks finish in a few seconds, and most of
# them really queue (burst 100), so the FIFO and the single timer are exercised.
POLICY = RateLimit(requests=5_000, per=0.25, burst=100, margin=0.0, pause_jitter=0.0)
LIMITER, NOOP = "limiter", "no-op FIFO"


class _Acquirer(Protocol):
    async def acquire(self) -> None: ...


class NoopFifo:
    """Admits everyone in arrival order: one ``asyncio.Event`` per caller, set by one callback."""

    def __init__(self) -> None:
        self._waiters: deque[asyncio.Event] = deque()
        self._scheduled = False

    async def acquire(self) -> None:
        """Queue behind earlier callers, then return (no rate, no wait beyond the queue)."""
        event = asyncio.Event()
        self._waiters.append(event)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._admit_all)
        await event.wait()

    def _admit_all(self) -> None:
        self._scheduled = False
        waiters = self._waiters
        while waiters:
            waiters.popleft().set()


class _GcTimer:
    """CPU seconds spent inside the cyclic collector while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections += 1


async def _run(make: Callable[[], _Acquirer], n: int) -> dict[str, float]:
    gate = make()
    gc_timer = _GcTimer()
    gc.callbacks.append(gc_timer)
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(gate.acquire() for _ in range(n)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        gc.callbacks.remove(gc_timer)
    if isinstance(gate, SlidingWindowLimiter):
        await gate.aclose()
    return {
        "wall_s": wall,
        "cpu_us_per_acq": cpu / n * 1e6,
        "gc_us_per_acq": gc_timer.seconds / n * 1e6,
        "gc_collections": gc_timer.collections,
    }


def _measure(variant: str, n: int) -> dict[str, float]:
    make: Callable[[], _Acquirer] = (
        (lambda: SlidingWindowLimiter(POLICY)) if variant == LIMITER else NoopFifo
    )
    gc.collect()  # every run starts from the same heap, not the previous run's garbage
    return asyncio.run(_run(make, n))


def main(*, quick: bool = False) -> dict[str, Any]:
    """Run every size (median of ``RUNS``), print a table and return the rows."""
    sizes = (1_000, 10_000) if quick else SIZES
    runs = 3 if quick else RUNS
    _measure(LIMITER, 1_000)  # warm-up: imports, code paths, allocator arenas
    _measure(NOOP, 1_000)
    rows: list[dict[str, Any]] = []
    for n in sizes:
        samples: dict[str, list[dict[str, float]]] = {LIMITER: [], NOOP: []}
        for r in range(runs):
            order = (LIMITER, NOOP) if r % 2 == 0 else (NOOP, LIMITER)
            for variant in order:
                samples[variant].append(_measure(variant, n))
        row: dict[str, Any] = {"tasks": n, "runs": runs}
        for variant, name in ((LIMITER, "limiter"), (NOOP, "noop")):
            s = samples[variant]
            row[f"{name}_cpu_us"] = median([x["cpu_us_per_acq"] for x in s])
            row[f"{name}_gc_us"] = median([x["gc_us_per_acq"] for x in s])
            row[f"{name}_wall_s"] = median([x["wall_s"] for x in s])
            row[f"{name}_cpu_samples_us"] = [x["cpu_us_per_acq"] for x in s]
        row["ratio"] = row["limiter_cpu_us"] / row["noop_cpu_us"]
        row["ideal_wall_s"] = max(0.0, (n - POLICY.burst) * POLICY.per / POLICY.requests)
        rows.append(row)
    worst = max(row["ratio"] for row in rows)
    first, last = rows[0], rows[-1]
    result: dict[str, Any] = {
        "policy": {"requests": POLICY.requests, "per": POLICY.per, "burst": POLICY.burst},
        "rows": rows,
        "worst_ratio": worst,
        "target": TARGET,
        "met": worst <= TARGET,
        # Growth from the smallest to the largest size, for each variant (information).
        "limiter_growth": last["limiter_cpu_us"] / first["limiter_cpu_us"],
        "noop_growth": last["noop_cpu_us"] / first["noop_cpu_us"],
    }
    print(f"policy: {POLICY.requests} per {POLICY.per} s, burst {POLICY.burst}; median of {runs}")
    print(f"{'tasks':>8} {'limiter µs':>11} {'no-op µs':>9} {'ratio':>6} "
          f"{'lim gc µs':>10} {'no-op gc µs':>12} {'lim wall s':>11}")  # fmt: skip
    for row in rows:
        print(
            f"{row['tasks']:>8} {row['limiter_cpu_us']:>11.2f} {row['noop_cpu_us']:>9.2f} "
            f"{row['ratio']:>6.2f} {row['limiter_gc_us']:>10.2f} {row['noop_gc_us']:>12.2f} "
            f"{row['limiter_wall_s']:>11.3f}"
        )
    print(f"worst limiter / no-op: {worst:.2f}x (target ≤ {TARGET}x)")
    return result


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
