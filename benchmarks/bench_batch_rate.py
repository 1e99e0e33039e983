"""
Figure 2, batch creation at the rate limit: dhmad_async vs two hand-written peers.

The emulator runs in its own process (``serve``), its limit time-scaled (100 per
60 emulated s at ``--time-scale 50``: 100 per 1.2 real s) and its 429 ``Retry-After``
scaled the same way (``ServerRateLimitOptions(scale_retry_after=True)``: whole
emulated seconds, so about 0.02 real s per emulated second instead of at least one
real second). N escrows are created by:

* ``sdk 1 proc``          — ``create_many`` with the SDK's default ``RateLimit`` and
  ``RetryPolicy``, every duration divided by the time scale (what docs/batch.md
  recommends for a time-scaled emulator), and its default on-disk SQLite journal (a
  file in a temporary directory);
* ``sdk 4 procs (redis)`` — the same N split over four processes sharing one
  ``RedisRateLimit`` budget (needs Redis: ``$TEST_REDIS_URL``, default 127.0.0.1:6379);
* ``aiolimiter``          — raw aiohttp + ``AsyncLimiter(1, W / (L - 1))``: aiolimiter's
  documented no-burst set-up ("set the maximum rate to 1 and *time_period* to the
  minimum time between acquisitions"), the only leaky bucket that never puts more
  than L requests in a sliding window of W (see :func:`aiolimiter_setup`);
* ``retry on 429``        — raw aiohttp, no limiter: on a 429 it sleeps the server's
  ``Retry-After`` (RFC 9110), or an exponential backoff with jitter when absent.

The raw peers use 8 concurrent workers, the SDK's default ``concurrency``.

**Measured where the server sees it.** The span is from the first to the last
admission recorded by the emulator's rate limiter (client start-up, the four
interpreters' imports and the final response are outside it). It is divided by the
two theoretical minimums for N requests at L per W s: ``burst`` =
``(ceil(N/L) - 1) * W`` (a sliding window admits L at once, then L more a window
later: the true minimum) and ``paced`` = ``(N - 1) * W / L`` (one every W/L s). The
burst minimum is the smaller, so ``x_min`` (span / burst minimum) is the stricter
ratio and the verdict's: ≤ 1.03 with zero 429s for every SDK scenario.
Network I/O on loopback, Redis, subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from benchmarks._common import helper_process, start_child

__all__ = ["aiolimiter_setup", "main", "sdk_policies"]

LIMIT = 100  # requests per window, the documented default (and the SDK's)
WINDOW = 60.0  # emulated seconds
CONCURRENCY = 8  # create_many's default; the raw peers get the same
TARGET = 1.03  # span / burst minimum, with zero 429s
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_KEY_ENV = "DHMAD_BENCH_API_KEY"  # the emulator's key reaches child processes by env, not argv
_SPAN_PATH = "/bench/admissions"  # added under the emulator's control prefix (not rate limited)


def sdk_policies(time_scale: float) -> tuple[Any, Any]:
    """The SDK's default ``RateLimit`` and ``RetryPolicy`` with every duration / ``time_scale``.

    Requests and burst are counts and stay; the window, its margin, the pause jitter,
    the longest server wait honoured and the retry backoff are times and shrink with
    the emulator's clock (the overall call ``timeout`` is a safety net and stays).
    """
    from dhmad_async import RateLimit, RetryPolicy

    rate, retry = RateLimit(), RetryPolicy()
    if rate.requests != LIMIT:
        raise RuntimeError(f"the SDK's default limit is {rate.requests}, the benchmark's {LIMIT}")
    s = time_scale
    rate = attrs.evolve(
        rate,
        per=rate.per / s,
        # None is the default share of the window, which then scales with `per`.
        margin=None if rate.margin is None else rate.margin / s,
        pause_jitter=rate.pause_jitter / s,
        max_server_wait=rate.max_server_wait / s,
    )
    retry = attrs.evolve(
        retry,
        wait_initial=retry.wait_initial / s,
        wait_max=retry.wait_max / s,
        wait_jitter=retry.wait_jitter / s,
    )
    return rate, retry


def aiolimiter_setup(limit: int, window: float) -> tuple[int, float]:
    """``(max_rate, time_period)`` for ``AsyncLimiter`` under a strict sliding window.

    A leaky bucket of capacity ``b`` draining at ``r`` per second admits up to
    ``b + r * W`` requests in any interval of length W, so it stays under L per W only
    when ``b + r * W <= L``. With ``r = (L - b) / W`` the sustained rate is highest for
    the smallest bucket, ``b = 1``: aiolimiter's documented no-burst set-up, one
    acquisition every ``W / (L - 1)`` s. ``AsyncLimiter(L, W)`` would allow ``2L`` in
    the first window (a full bucket plus a window's drain) and must meet 429s.
    """
    return 1, window / (limit - 1)


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


# -- the emulator process ------------------------------------------------------------------


async def _serve(time_scale: float) -> None:
    from aiohttp import web

    from dhmad_async.testing import Emulator, ServerRateLimitOptions
    from dhmad_async.testing._emulator import CONTROL_PREFIX

    opts = ServerRateLimitOptions(limit=LIMIT, window=WINDOW, scale_retry_after=True)
    emu = Emulator(time_scale=time_scale, rate_limit=opts)
    limiter = emu.rate_limiter

    async def admissions(request: web.Request) -> web.Response:
        admitted = limiter.admitted
        return web.json_response(
            {
                "first": admitted[0] if admitted else None,
                "last": admitted[-1] if admitted else None,
                "admitted": len(admitted),
                "rejected": limiter.rejected,
                "maxInWindow": limiter.max_in_any_window(),
                "windowReal": limiter.window_real,
            }
        )

    app = emu.build_app()
    app.router.add_get(CONTROL_PREFIX + _SPAN_PATH, admissions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    # One line: where to send requests and the throwaway local emulator key.
    print(json.dumps({"origin": origin, "api_key": emu.api_key}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class _Emu:
    """The driver's handle on the emulator process: API base, key, control calls."""

    def __init__(self, origin: str, api_key: str) -> None:
        from dhmad_async.testing._emulator import CONTROL_PREFIX

        self.base_url = origin + "/api/v1"
        self.api_key = api_key
        self.control_url = origin + CONTROL_PREFIX

    def control(self, method: str, path: str) -> dict[str, Any]:
        async def call() -> dict[str, Any]:
            async with (
                aiohttp.ClientSession() as http,
                http.request(method, self.control_url + path) as response,
            ):
                response.raise_for_status()
                data: dict[str, Any] = await response.json()
                return data

        return asyncio.run(call())


# -- the clients -----------------------------------------------------------------------------


async def _sdk(
    base_url: str,
    key: str,
    items: list[dict[str, Any]],
    time_scale: float,
    journal: Path,
    redis_key: str | None,
) -> dict[str, int]:
    from dhmad_async import DhmadClient
    from dhmad_async.batch import BatchOptions, create_many

    rate, retry = sdk_policies(time_scale)
    limiter: Any = rate
    if redis_key is not None:
        from dhmad_async.ratelimit import RedisRateLimit

        limiter = RedisRateLimit(REDIS_URL, key=redis_key, policy=rate)
    # settle is a wait, scaled like the rest; durable (synchronous=FULL) stays the default.
    options = BatchOptions(settle=BatchOptions().settle / time_scale)
    try:
        async with DhmadClient(key, base_url=base_url, rate_limit=limiter, retry=retry) as client:
            report = await create_many(client, items, journal=journal, options=options)
    finally:
        if redis_key is not None:
            await limiter.aclose()
    counts: dict[str, int] = report.counts
    if counts.get("created") != len(items):
        raise RuntimeError(f"create_many did not create every item: {counts}")
    return counts


def _sdk_four(emu: _Emu, n: int, time_scale: float, tmp: Path) -> None:
    redis_key = f"dhmad-bench-{uuid.uuid4().hex}"
    bounds = [n * i // 4 for i in range(5)]
    procs = []
    for i in range(4):
        journal = tmp / f"journal-{i}.sqlite"
        args = [emu.base_url, str(bounds[i]), str(bounds[i + 1]), str(time_scale), str(journal)]
        procs.append(
            start_child(
                ["-m", "benchmarks.bench_batch_rate", "child", *args, redis_key],
                env={_KEY_ENV: emu.api_key},
            )
        )
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(err[-2000:])
    if failures:
        raise RuntimeError("an SDK child process failed:\n" + "\n".join(failures))


async def _raw(emu: _Emu, n: int, *, limiter: Any, scale: float) -> None:
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
                        if response.status >= 400:
                            raise RuntimeError(f"create {i}: HTTP {response.status}")
                        break
                    retry_after = response.headers.get("Retry-After")
                attempt += 1
                if retry_after:  # what the server asked (scaled like its window)
                    await asyncio.sleep(float(retry_after))
                else:  # the usual hand-written backoff: 1, 2, 4 … s (scaled) plus jitter
                    await asyncio.sleep(min(2**attempt, 60) * scale * (1 + random.random()))

    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))


async def _aiolimiter_run(emu: _Emu, n: int, per: float, scale: float) -> None:
    from aiolimiter import AsyncLimiter

    max_rate, time_period = aiolimiter_setup(LIMIT, per)
    # Created inside the loop that uses it, as aiolimiter's docs require.
    await _raw(emu, n, limiter=AsyncLimiter(max_rate, time_period), scale=scale)


# -- measuring -------------------------------------------------------------------------------


def _measure(emu: _Emu, run: Callable[[], None], n: int, per: float) -> dict[str, Any]:
    emu.control("POST", "/reset")
    started = time.monotonic()
    run()
    client_wall = time.monotonic() - started
    seen = emu.control("GET", _SPAN_PATH)
    if seen["first"] is None:
        raise RuntimeError("the emulator admitted nothing")
    span = seen["last"] - seen["first"]
    burst_min = (math.ceil(n / LIMIT) - 1) * per
    paced_min = (n - 1) * per / LIMIT
    return {
        "span_s": round(span, 3),
        "x_min": round(span / min(burst_min, paced_min), 3),
        "x_paced_min": round(span / paced_min, 3),
        "429s": seen["rejected"],
        "max_in_window": seen["maxInWindow"],
        "admitted": seen["admitted"],
        "client_wall_s": round(client_wall, 3),
    }


def _redis_answers() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def main(argv: list[str] | None = None, *, quick: bool = False) -> dict[str, Any]:
    """Run every scenario; return ``{"scenarios": {name: row}, ...}`` and print a table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_batch_rate")
    parser.add_argument("-n", type=int, default=300 if quick else 1000)
    parser.add_argument("--time-scale", type=float, default=50.0)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    n, scale = args.n, args.time_scale
    if n <= LIMIT:
        parser.error(f"-n must exceed the limit ({LIMIT}): the burst minimum would be 0")
    per = WINDOW / scale
    scenarios: dict[str, Any] = {}
    errors: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dhmad-bench-journal-") as tmp_name,
        helper_process(["-m", "benchmarks.bench_batch_rate", "serve", str(scale)]) as line,
    ):
        tmp = Path(tmp_name)
        hello = json.loads(line)
        emu = _Emu(hello["origin"], hello["api_key"])
        runs: list[tuple[str, Callable[[], None]]] = [
            ("sdk 1 proc", lambda: asyncio.run(
                _sdk(emu.base_url, emu.api_key, [_item(i) for i in range(n)], scale,
                     tmp / "journal-1proc.sqlite", None))),
        ]  # fmt: skip
        if args.no_redis:
            errors["sdk 4 procs (redis)"] = "not run: --no-redis"
        elif not _redis_answers():
            errors["sdk 4 procs (redis)"] = f"not run: no Redis answers at {REDIS_URL}"
        else:
            runs.append(("sdk 4 procs (redis)", lambda: _sdk_four(emu, n, scale, tmp)))
        max_rate, time_period = aiolimiter_setup(LIMIT, per)
        runs.append(
            (f"aiolimiter ({max_rate}, W/{LIMIT - 1})",
             lambda: asyncio.run(_aiolimiter_run(emu, n, per, 1 / scale)))
        )  # fmt: skip
        runs.append(
            ("retry on 429", lambda: asyncio.run(_raw(emu, n, limiter=None, scale=1 / scale)))
        )
        for name, run in runs:
            scenarios[name] = _measure(emu, run, n, per)
    burst_min = (math.ceil(n / LIMIT) - 1) * per
    paced_min = (n - 1) * per / LIMIT
    result: dict[str, Any] = {
        "n": n,
        "limit": LIMIT,
        "window_s": per,
        "time_scale": scale,
        "burst_min_s": burst_min,
        "paced_min_s": paced_min,
        "target": TARGET,
        "aiolimiter": {"max_rate": max_rate, "time_period": time_period},
        "scenarios": scenarios,
        "errors": errors,
    }
    print(f"N={n} creates at L={LIMIT} per W={per:g} s (time scale {scale:g}), Retry-After scaled")
    print(f"burst minimum (ceil(N/L)-1)*W = {burst_min:.2f} s (the stricter); "
          f"paced minimum (N-1)*W/L = {paced_min:.2f} s")  # fmt: skip
    print(f"{'scenario':<24}{'span s':>9}{'x min':>8}{'x paced':>9}{'429s':>6}{'max/win':>9}"
          f"{'client s':>10}")  # fmt: skip
    for name, row in scenarios.items():
        print(
            f"{name:<24}{row['span_s']:>9.3f}{row['x_min']:>8.3f}{row['x_paced_min']:>9.3f}"
            f"{row['429s']:>6}{row['max_in_window']:>9}{row['client_wall_s']:>10.3f}"
        )
    for name, why in errors.items():
        print(f"{name:<24}{why}")
    return result


def _child(argv: list[str]) -> None:
    base_url, start, stop, scale, journal, redis_key = argv
    items = [_item(i) for i in range(int(start), int(stop))]
    key = os.environ[_KEY_ENV]
    counts = asyncio.run(_sdk(base_url, key, items, float(scale), Path(journal), redis_key))
    print(json.dumps(counts))


def _cli() -> None:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "serve":
        asyncio.run(_serve(float(rest[0])))
    elif command == "child":
        _child(rest)
    else:
        main(sys.argv[1:])


if __name__ == "__main__":
    _cli()
