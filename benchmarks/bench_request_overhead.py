"""
Figure 1, request overhead: ``client.escrows.get()`` vs raw aiohttp vs raw httpx.

The server is a minimal aiohttp.web app in a separate process (so its CPU does
not share the clients' event loop) answering ``GET /api/v1/escrows/{id}`` with
the documented get-escrow example (``tests/samples/escrow_get.json``). The clients run
sequential requests over keep-alive connections in interleaved rounds; each
round gives microseconds per request and the figure is the median of rounds.
Does network I/O on 127.0.0.1 only. ``python -m benchmarks.bench_request_overhead``.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._common import ROOT, helper_process, interleaved_async, median, ratio

SAMPLE = ROOT / "tests" / "samples" / "escrow_get.json"
ESCROW_ID = "507f1f77bcf86cd799439011"
API_KEY = "sk_sandbox_" + "0" * 64  # a dummy key for a local server that checks nothing
TARGET = 1.2  # at most 1.2x raw aiohttp per request
SDK, AIOHTTP, HTTPX = "dhmad_async", "raw aiohttp", "raw httpx"
# Diagnostic row: the SDK's own transport alone (no retry wrapper, limiter, JSON or model),
# so the gap to raw aiohttp splits into "transport" and "pipeline above it".
TRANSPORT = "dhmad transport only"


# -- the server (runs in its own process) ------------------------------------------------------


async def _serve() -> None:
    from aiohttp import web

    body = SAMPLE.read_bytes()

    async def get_escrow(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/escrows/{id}", get_escrow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}/api/v1", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- the clients ---------------------------------------------------------------------------------


Case = Callable[[], Awaitable[float]]


async def _measure(base_url: str, n: int, rounds: int, profile: bool) -> dict[str, Any]:
    import aiohttp
    import httpx

    from dhmad_async import DhmadClient
    from dhmad_async._config import RateLimit, Timeout

    url = f"{base_url}/escrows/{ESCROW_ID}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    # The limiter is out of the way (the figure is the per-request overhead); retries
    # stay at their defaults since they cost nothing on a 200.
    sdk = DhmadClient(API_KEY, base_url=base_url, rate_limit=RateLimit.disabled())
    session = aiohttp.ClientSession()
    hx = httpx.AsyncClient()
    try:

        async def run_sdk() -> None:
            for _ in range(n):
                await sdk.escrows.get(ESCROW_ID)

        async def run_aiohttp() -> None:
            for _ in range(n):
                async with session.get(url, headers=headers) as resp:
                    await resp.json()

        transport = sdk._transport
        timeout = Timeout.from_value(sdk.timeout)

        async def run_transport() -> None:
            for _ in range(n):
                await transport.request("GET", url, headers, None, timeout=timeout)

        async def run_httpx() -> None:
            for _ in range(n):
                resp = await hx.get(url, headers=headers)
                resp.json()

        def timed(fn: Callable[[], Awaitable[None]]) -> Case:
            async def case() -> float:
                started = time.perf_counter()
                await fn()
                return (time.perf_counter() - started) / n * 1e6

            return case

        runs = {SDK: run_sdk, TRANSPORT: run_transport, AIOHTTP: run_aiohttp, HTTPX: run_httpx}
        check = await sdk.escrows.get(ESCROW_ID)
        assert check.id == ESCROW_ID, "the server did not answer the get-escrow example"
        for fn in runs.values():  # warm-up: connections, caches, lazy imports
            await fn()
        samples = await interleaved_async({name: timed(fn) for name, fn in runs.items()}, rounds)
        medians = {name: median(values) for name, values in samples.items()}
        result: dict[str, Any] = {
            "requests_per_round": n,
            "rounds": rounds,
            "us_per_request": medians,
            "samples_us": samples,
            "ratio_vs_aiohttp": {name: ratio(v, medians[AIOHTTP]) for name, v in medians.items()},
            "target": TARGET,
        }
        result["met"] = result["ratio_vs_aiohttp"][SDK] <= TARGET
        result["profile"] = await _profile(run_sdk) if profile or not result["met"] else None
        return result
    finally:
        await sdk.aclose()
        await session.close()
        await hx.aclose()


async def _profile(run_sdk: Callable[[], Awaitable[None]]) -> dict[str, str]:
    """cProfile the SDK loop: the top functions by own time, and dhmad_async's by cumulative."""
    profiler = cProfile.Profile()
    profiler.enable()
    await run_sdk()
    profiler.disable()
    out: dict[str, str] = {}
    for key, restriction in (("tottime", ()), ("cumulative", ("dhmad_async",))):
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        if not restriction:  # the dhmad_async filter matches on the path, so keep it there
            stats.strip_dirs()
        stats.sort_stats(key).print_stats(*restriction, 18)
        text = buf.getvalue()
        # Keep the table only (pstats prints a header of totals first).
        start = text.find("   ncalls")
        out[key] = text[start:].rstrip() if start >= 0 else text.rstrip()
    return out


def breakdown() -> dict[str, float]:
    """CPU µs of the SDK's per-request steps on the get-escrow example, without I/O (median of 5).

    Answers "where does the gap to raw aiohttp go": the steps raw aiohttp does not
    do (Decimal-exact JSON, rate-limit header parsing, the model) vs its plain
    ``json.loads``.
    """
    import json
    import statistics
    import timeit

    from dhmad_async import _sansio
    from dhmad_async._serialization import structure
    from dhmad_async.models import Escrow
    from dhmad_async.ratelimit._headers import parse_server_rate_limit

    body = SAMPLE.read_bytes()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    data = _sansio.parse_body(headers, body)
    steps: dict[str, Any] = {
        "json.loads (what raw aiohttp's json() does)": lambda: json.loads(body),
        "_sansio.build_request": lambda: _sansio.build_request(
            "GET",
            "http://127.0.0.1/api/v1",
            f"/escrows/{ESCROW_ID}",
            headers={"Authorization": "Bearer x"},
            params=None,
            json_body=None,
            idempotent=None,
        ),
        "_sansio.parse_body (Decimal-exact JSON)": lambda: _sansio.parse_body(headers, body),
        "parse_server_rate_limit": lambda: parse_server_rate_limit(200, headers, data, 0.0),
        "structure(data, Escrow)": lambda: structure(data["escrow"], Escrow),
    }
    out: dict[str, float] = {}
    for name, fn in steps.items():
        timer = timeit.Timer(fn)
        number, _ = timer.autorange()
        out[name] = statistics.median(timer.repeat(5, number)) / number * 1e6
    out.update(asyncio.run(_async_breakdown()))
    return out


async def _async_breakdown(n: int = 5_000) -> dict[str, float]:
    """The awaited layers around one attempt, on a no-op attempt (no I/O)."""
    from dhmad_async._clock import SYSTEM_CLOCK
    from dhmad_async._config import DEFAULT_RETRY_POLICY
    from dhmad_async._retry import retry_call
    from dhmad_async.ratelimit._local import NullLimiter

    async def noop(number: int) -> int:
        return number

    limiter = NullLimiter()

    async def direct() -> None:
        for _ in range(n):
            await noop(1)

    async def retried() -> None:
        for _ in range(n):
            await retry_call(
                noop, policy=DEFAULT_RETRY_POLICY, idempotent=True, clock=SYSTEM_CLOCK,
                max_server_wait=120.0, description="GET /escrows/x",
            )  # fmt: skip

    async def limited() -> None:
        for _ in range(n):
            await limiter.acquire()

    samples = await interleaved_async(
        {name: _per_call(fn, n) for name, fn in
         (("await attempt()", direct), ("retry_call(attempt) (tenacity)", retried),
          ("limiter.acquire() (RateLimit.disabled)", limited))},
        5,
    )  # fmt: skip
    return {name: median(values) for name, values in samples.items()}


def _per_call(fn: Callable[[], Awaitable[None]], n: int) -> Case:
    async def case() -> float:
        started = time.perf_counter()
        await fn()
        return (time.perf_counter() - started) / n * 1e6

    return case


def main(*, quick: bool = False, profile: bool = False) -> dict[str, Any]:
    """Start the server process, run the interleaved rounds, print and return the medians."""
    n, rounds = (300, 3) if quick else (2_000, 7)
    with helper_process(["-m", "benchmarks.bench_request_overhead", "serve"]) as base_url:
        result = asyncio.run(_measure(base_url, n, rounds, profile))
    result["breakdown_us"] = breakdown()
    print(f"{n} sequential GET /escrows/{{id}} per round, {rounds} interleaved rounds")
    for name, value in result["us_per_request"].items():
        print(f"  {name:<20} {value:8.1f} µs/request  {result['ratio_vs_aiohttp'][name]:.2f}x")
    for step, us in result["breakdown_us"].items():
        print(f"  step {step:<46} {us:7.1f} µs")
    return result


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        asyncio.run(_serve())
    else:
        main(quick="--quick" in sys.argv, profile="--profile" in sys.argv)
