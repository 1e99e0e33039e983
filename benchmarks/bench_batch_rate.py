"""
Batch creation at the rate limit: dhmad_async vs two common hand-written peers.

Runs the emulator (``python -m dhmad_async emulator``, its own process) with its limit
time-scaled (100 per 60 emulated s, ``--time-scale 50`` → 100 per 1.2 real s)
and creates N escrows:

* ``sdk 1 proc``       — ``client.escrows.create_many`` with the local limiter;
* ``sdk 4 procs``      — the same N split over four processes sharing a
  ``RedisRateLimit`` budget (needs Redis on 127.0.0.1:6379);
* ``aiolimiter``       — raw aiohttp + ``aiolimiter.AsyncLimiter(100, 60)`` (scaled),
  retrying 429s after ``Retry-After``;
* ``retry+backoff``    — raw aiohttp, no limiter, exponential backoff on 429
  (the loop stripe-python/openai-python users write), scaled.

Wall time runs from the start of a scenario to its last response (the four
processes' interpreter start-up is included, which only hurts the SDK).
Two theoretical minimums for N requests at L per W seconds:
``burst`` counts the initial full-window burst a sliding window allows,
``(ceil(N/L) - 1) * W``; ``paced`` does not, ``(N - 1) * W / L``. The target
is ≤ 1.03 × the paced minimum with zero 429s. ``main()`` returns the results
and prints a table. Network I/O on loopback, Redis, subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import aiohttp

from dhmad_async import DhmadClient, RateLimit
from dhmad_async.batch import BatchOptions, create_many

LIMIT = 100
# make bench points this at a private server when none answers on 6379.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_CHILD = r"""
import asyncio, json, os, sys
from decimal import Decimal
from dhmad_async import DhmadClient, RateLimit
from dhmad_async.batch import BatchOptions, create_many
from dhmad_async.ratelimit import RedisRateLimit

base, key, start, stop, per, redis_url, redis_key = sys.argv[1:8]
async def main():
    policy = RateLimit(requests=100, per=float(per), margin=0.02, burst=10, pause_jitter=0.05)
    limiter = RedisRateLimit(redis_url, key=redis_key, policy=policy)
    items = [{"title": f"Bench {n}", "amount": Decimal("20"), "buyer_email": "b@example.com",
              "seller_email": "s@example.com", "mode": "quick", "estimated_delivery_days": 2}
             for n in range(int(start), int(stop))]
    try:
        async with DhmadClient(key, base_url=base, rate_limit=limiter) as client:
            report = await create_many(client, items, journal=":memory:",
                                       options=BatchOptions(settle=0.1))
    finally:
        await limiter.aclose()
    print(json.dumps(report.counts))
asyncio.run(main())
"""


def _item(n: int) -> dict[str, Any]:
    return {
        "title": f"Bench {n}",
        "amount": Decimal("20"),
        "buyer_email": "b@example.com",
        "seller_email": "s@example.com",
        "mode": "quick",
        "estimated_delivery_days": 2,
    }


def _wire(n: int) -> dict[str, Any]:
    return {
        "title": f"Bench {n}",
        "amount": 20,
        "buyerEmail": "b@example.com",
        "sellerEmail": "s@example.com",
        "mode": "quick",
        "estimatedDeliveryDays": 2,
        "currency": "TND",
    }


class _Emu:
    """Client-side handle on an emulator running in its own process (no shared GIL)."""

    def __init__(self, base_url: str, api_key: str, control_url: str) -> None:
        self.base_url, self.api_key, self.control_url = base_url, api_key, control_url

    def control(self, method: str, path: str) -> dict[str, Any]:
        async def call() -> dict[str, Any]:
            async with (
                aiohttp.ClientSession() as http,
                http.request(method, self.control_url + path) as response,
            ):
                data: dict[str, Any] = await response.json()
                return data

        return asyncio.run(call())


def _start_emulator(time_scale: float) -> tuple[subprocess.Popen[str], _Emu]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dhmad_async",
            "emulator",
            "--time-scale",
            str(time_scale),
            "--rate-limit",
            str(LIMIT),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    fields: dict[str, str] = {}
    while "api_key" not in fields:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return proc, _Emu(fields["base_url"], fields["api_key"], fields["control_url"])


async def _sdk_one(emu: _Emu, n: int, per: float) -> None:
    policy = RateLimit(requests=LIMIT, per=per, margin=0.02, burst=10, pause_jitter=0.05)
    async with DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=policy) as client:
        report = await create_many(
            client,
            [_item(i) for i in range(n)],
            journal=":memory:",
            options=BatchOptions(settle=0.1),
        )
    assert report.counts["created"] == n, report.counts


def _sdk_four(emu: _Emu, n: int, per: float) -> None:
    key = f"bench-{uuid.uuid4().hex}"
    share = n // 4
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                emu.base_url,
                emu.api_key,
                str(i * share),
                str(n if i == 3 else (i + 1) * share),
                str(per),
                REDIS_URL,
                key,
            ],
            stdout=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for proc in procs:
        out, _ = proc.communicate()
        assert proc.returncode == 0, out


async def _raw(emu: _Emu, n: int, *, limiter: Any, scale: float, concurrency: int = 8) -> None:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            attempt = 0
            while True:
                if limiter is not None:
                    await limiter.acquire()
                async with http.post(emu.base_url + "/escrows", json=_wire(i)) as response:
                    await response.read()
                    if response.status != 429:
                        break
                    retry_after = response.headers.get("Retry-After")
                attempt += 1
                if limiter is not None and retry_after:
                    await asyncio.sleep(float(retry_after))
                else:  # the usual hand-written loop: 1, 2, 4 … s (scaled) plus jitter
                    await asyncio.sleep(min(2**attempt, 60) * scale * (1 + random.random()))

    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))


def _measure(emu: _Emu, run: Any, n: int, per: float) -> dict[str, Any]:
    emu.control("POST", "/reset")
    started = time.monotonic()
    run()
    span = time.monotonic() - started
    stats = emu.control("GET", "/stats")
    burst_min = (math.ceil(n / LIMIT) - 1) * per
    paced_min = (n - 1) * per / LIMIT
    return {
        "wall_s": round(span, 3),
        "x_paced_min": round(span / paced_min, 3),
        "x_burst_min": round(span / burst_min, 3),
        "429s": stats["rateLimited"],
        "max_in_window": stats["maxInWindow"],
        "requests": stats["requests"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every scenario and return ``{scenario: measurements}``; prints a table."""
    parser = argparse.ArgumentParser(description="Batch creation at the rate limit.")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=50.0)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args(argv)
    n, per = args.n, 60.0 / args.time_scale
    scale = 1 / args.time_scale
    results: dict[str, Any] = {}
    proc, emu = _start_emulator(args.time_scale)
    try:
        scenarios: list[tuple[str, Any]] = [
            ("sdk 1 proc", lambda: asyncio.run(_sdk_one(emu, n, per))),
        ]
        if not args.no_redis:
            scenarios.append(("sdk 4 procs (redis)", lambda: _sdk_four(emu, n, per)))

        def aiolimiter_run() -> None:
            from aiolimiter import AsyncLimiter

            async def go() -> None:
                await _raw(emu, n, limiter=AsyncLimiter(LIMIT, per), scale=scale)

            asyncio.run(go())

        scenarios.append(("aiolimiter (scaled)", aiolimiter_run))
        scenarios.append(
            ("retry+backoff", lambda: asyncio.run(_raw(emu, n, limiter=None, scale=scale)))
        )
        for name, run in scenarios:
            results[name] = _measure(emu, run, n, per)
    finally:
        proc.terminate()
        proc.wait()
    print(f"N={n} requests at L={LIMIT} per W={per:g} s (time scale {args.time_scale:g})")
    print(
        f"paced minimum (N-1)*W/L = {(n - 1) * per / LIMIT:.2f} s; "
        f"burst minimum (ceil(N/L)-1)*W = {(math.ceil(n / LIMIT) - 1) * per:.2f} s "
        "(counts the initial full-window burst)"
    )
    print(f"{'scenario':<22}{'wall s':>9}{'x paced':>9}{'x burst':>9}{'429s':>7}{'max/win':>9}")
    for name, row in results.items():
        print(
            f"{name:<22}{row['wall_s']:>9}{row['x_paced_min']:>9}{row['x_burst_min']:>9}"
            f"{row['429s']:>7}{row['max_in_window']:>9}"
        )
    return results


if __name__ == "__main__":
    out = main()
    if os.environ.get("BENCH_JSON"):
        print(json.dumps(out))
