"""
Scale benchmark of SlidingWindowLimiter: does the cost per acquisition stay flat with contention?

Runs 1,000, 10,000 and 50,000 tasks that all call ``acquire()`` at once on a
high-rate limiter (real clock), and reports wall and CPU time per acquisition
and the 50k/1k ratio (about 1.0 means O(1) work per acquisition; an O(n) scan
per wake-up would show a ratio near 50). Not part of the test suite::

    .venv/bin/python benchmarks/bench_limiter_scale.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dhmad_async._config import RateLimit
from dhmad_async.ratelimit._local import SlidingWindowLimiter

SIZES = (1_000, 10_000, 50_000)
# 20,000 requests per second: 50k tasks finish in a few seconds, and most of
# them really queue (burst 100), so the FIFO and the single timer are exercised.
POLICY = RateLimit(requests=5_000, per=0.25, burst=100, margin=0.0, pause_jitter=0.0)


async def _run(n: int) -> dict[str, float]:
    limiter = SlidingWindowLimiter(POLICY)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(limiter.acquire() for _ in range(n)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await limiter.aclose()
    ideal = max(0.0, (n - POLICY.burst) * POLICY.per / POLICY.requests)
    return {
        "tasks": n,
        "wall_s": wall,
        "ideal_wall_s": ideal,
        "wall_us_per_acq": wall / n * 1e6,
        "cpu_us_per_acq": cpu / n * 1e6,
    }


def main() -> dict[str, Any]:
    """Run every size, print a table and return the results."""
    rows = [asyncio.run(_run(n)) for n in SIZES]
    first, last = rows[0], rows[-1]
    ratio = last["cpu_us_per_acq"] / first["cpu_us_per_acq"]
    print(f"policy: {POLICY.requests} per {POLICY.per} s, burst {POLICY.burst}")
    print(f"{'tasks':>8} {'wall s':>8} {'ideal s':>8} {'wall us/acq':>12} {'cpu us/acq':>11}")
    for row in rows:
        print(
            f"{row['tasks']:>8} {row['wall_s']:>8.3f} {row['ideal_wall_s']:>8.3f} "
            f"{row['wall_us_per_acq']:>12.1f} {row['cpu_us_per_acq']:>11.1f}"
        )
    print(f"cpu per acquisition, 50k/1k: {ratio:.2f}")
    return {"rows": rows, "cpu_ratio_50k_1k": ratio}


if __name__ == "__main__":
    main()
