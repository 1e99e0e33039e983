"""
Figure 4, pagination memory: peak RSS growth while iterating 100,000 escrows.

Three kinds of process, each started fresh so its RSS is clean:

* ``serve`` — the emulator (``dhmad_async.testing.Emulator``, its rate limit
  disabled) seeded with N escrows through its Python API (``create_escrow`` on
  its ``Store``, not N HTTP creates);
* ``client sdk`` — ``async for escrow in client.escrows.list(limit=100)``;
* ``client raw`` — the baseline: raw aiohttp ``session.get`` + ``json()`` per page.

Each client samples its RSS after every page and reports the peak minus the RSS
it had before the first request (imports and session already paid). Comparing
100 with 1,000 pages shows whether memory grows with the number of pages.
Does network I/O on 127.0.0.1 and spawns processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

from benchmarks._common import helper_process, median, ratio, rss_bytes, run_child

__all__ = ["main"]

PAGE = 100
TARGET_MB = 30.0  # peak RSS growth of the SDK over 1,000 pages
FLAT_MB = 5.0  # "independent of the number of pages": 1,000-page growth within this of 100's
_KEY_ENV = "DHMAD_BENCH_API_KEY"  # the emulator key reaches the clients by env, not argv
MB = 1_000_000


# -- the emulator process ------------------------------------------------------------------------


async def _serve(n_escrows: int) -> None:
    from aiohttp import web

    from dhmad_async.testing import Emulator, ServerRateLimitOptions
    from dhmad_async.testing._common import dumps
    from dhmad_async.testing._escrows import create_escrow, escrow_view

    emu = Emulator(rate_limit=ServerRateLimitOptions(enabled=False))
    store = emu.store
    ctx = store.authenticate(emu.api_key, True)
    # Parties render as objects, as in the list example.
    store.ensure_user("buyer@example.com", "Jane", "Smith")
    for i in range(n_escrows):
        # Instant mode: no contract to create, so seeding 100k takes ~2 s.
        create_escrow(
            store,
            emu.api_options.rules,
            ctx,
            {"title": f"Bench escrow {i}", "amount": 10, "buyerEmail": "buyer@example.com",
             "mode": "instant"},
        )  # fmt: skip
    # The emulator's GET /escrows filters and sorts every stored escrow per request
    # (~70 ms per page at 100k), which would make 1,000 pages take minutes of *server*
    # time that this figure does not measure. The state is frozen after seeding, so a
    # middleware in front answers the plain `?page=&limit=` listing from the same
    # order (createdAt, seq, newest first), the emulator's own escrow_view and JSON
    # encoder, rendered once per page; anything else falls through to the emulator.
    ordered = sorted(
        store.t["escrows"].values(), key=lambda e: (e["createdAt"], e["seq"]), reverse=True
    )
    cache: dict[tuple[int, int], bytes] = {}
    auth = {f"Bearer {emu.api_key}", emu.api_key}

    def page_body(page: int, limit: int) -> bytes:
        body = cache.get((page, limit))
        if body is None:
            chunk = ordered[(page - 1) * limit : page * limit]
            pages = (len(ordered) + limit - 1) // limit
            body = dumps(
                {
                    "escrows": [escrow_view(store, e) for e in chunk],
                    "pagination": {
                        "page": page,
                        "limit": limit,
                        "total": len(ordered),
                        "pages": pages,
                    },
                }
            ).encode()
            cache[(page, limit)] = body
        return body

    @web.middleware
    async def fast_list(request: web.Request, handler: Any) -> web.StreamResponse:
        q = request.query
        credential = request.headers.get("Authorization") or request.headers.get("X-API-Key")
        if (
            request.method == "GET"
            and request.path == "/api/v1/escrows"
            and set(q) <= {"page", "limit"}
            and q.get("page", "1").isdigit()
            and q.get("limit", "20").isdigit()
            and 1 <= int(q.get("limit", "20")) <= 100
            and int(q.get("page", "1")) >= 1
            and credential in auth
        ):
            body = page_body(int(q.get("page", "1")), int(q.get("limit", "20")))
            return web.Response(body=body, content_type="application/json")
        response: web.StreamResponse = await handler(request)
        return response

    app = emu.build_app()
    app.middlewares.insert(0, fast_list)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # One line: base URL and key (a throwaway local emulator key).
    print(f"http://127.0.0.1:{port}/api/v1 {emu.api_key}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- the client processes ------------------------------------------------------------------------


async def _client(mode: str, base_url: str, pages: int) -> dict[str, Any]:
    key = os.environ[_KEY_ENV]
    import gc

    import aiohttp

    if mode == "sdk":
        from dhmad_async import DhmadClient
        from dhmad_async._config import RateLimit

        client = DhmadClient(key, base_url=base_url, rate_limit=RateLimit.disabled())
    else:
        session = aiohttp.ClientSession()
    gc.collect()
    start = rss_bytes()
    peak = start
    items = 0
    started = time.perf_counter()
    if mode == "sdk":
        async with client:
            pager = client.escrows.list(limit=PAGE)
            # The pager's iterator is an async generator; close it when we stop early.
            items_iter = cast(AsyncGenerator[Any, None], aiter(pager))
            async with aclosing(items_iter) as escrows:
                async for escrow in escrows:
                    items += 1
                    assert escrow.id
                    if items % PAGE == 0:
                        peak = max(peak, rss_bytes())
                        if items >= pages * PAGE:
                            break
    else:
        headers = {"Authorization": f"Bearer {key}"}
        async with session:
            for number in range(1, pages + 1):
                params = {"page": str(number), "limit": str(PAGE)}
                async with session.get(f"{base_url}/escrows", params=params, headers=headers) as r:
                    r.raise_for_status()
                    data = await r.json()
                for escrow in data["escrows"]:
                    items += 1
                    assert escrow["id"]
                peak = max(peak, rss_bytes())
    wall = time.perf_counter() - started
    return {
        "mode": mode,
        "pages": pages,
        "items": items,
        "rss_start_mb": start / MB,
        "rss_peak_mb": peak / MB,
        "growth_mb": (peak - start) / MB,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB,
        "wall_s": wall,
    }


# -- the driver ----------------------------------------------------------------------------------


def main(*, quick: bool = False) -> dict[str, Any]:
    """Start the emulator, run each (client, pages) in a fresh process, print and return."""
    small, large = (10, 100) if quick else (100, 1_000)
    reps = 1 if quick else 2
    n_escrows = large * PAGE
    args = ["-m", "benchmarks.bench_pagination_memory", "serve", "--escrows", str(n_escrows)]
    runs: dict[str, list[dict[str, Any]]] = {}
    with helper_process(args) as line:
        base_url, key = line.split()
        os.environ[_KEY_ENV] = key
        try:
            for _ in range(reps):  # interleaved: every combination once per repetition
                for pages in (small, large):
                    for mode in ("sdk", "raw"):
                        out = run_child(
                            ["-m", "benchmarks.bench_pagination_memory", "client", mode,
                             "--base-url", base_url, "--pages", str(pages)]
                        )  # fmt: skip
                        run = json.loads(out.strip().splitlines()[-1])
                        if run["items"] != pages * PAGE:
                            raise RuntimeError(
                                f"{mode} saw {run['items']} items, not {pages * PAGE}"
                            )
                        runs.setdefault(f"{mode}/{pages}", []).append(run)
        finally:
            os.environ.pop(_KEY_ENV, None)
    growth = {name: median([r["growth_mb"] for r in rs]) for name, rs in runs.items()}
    wall = {name: median([r["wall_s"] for r in rs]) for name, rs in runs.items()}
    sdk_large, sdk_small = growth[f"sdk/{large}"], growth[f"sdk/{small}"]
    result: dict[str, Any] = {
        "escrows": n_escrows,
        "page_size": PAGE,
        "pages": [small, large],
        "repetitions": reps,
        "growth_mb": growth,
        "wall_s": wall,
        "runs": runs,
        "ratio_sdk_vs_raw": {
            str(p): ratio(growth[f"sdk/{p}"], growth[f"raw/{p}"]) for p in (small, large)
        },
        "target_mb": TARGET_MB,
        "flat_mb": FLAT_MB,
        "under_target": sdk_large < TARGET_MB,
        "flat": sdk_large - sdk_small <= FLAT_MB,
    }
    result["met"] = result["under_target"] and result["flat"]
    print(f"peak RSS growth (MB), median of {reps}, {PAGE} escrows per page")
    for name in sorted(growth):
        print(f"  {name:<10} {growth[name]:7.2f} MB  {wall[name]:6.2f} s")
    return result


def _cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pagination_memory")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    serve.add_argument("--escrows", type=int, default=100_000)
    client = sub.add_parser("client")
    client.add_argument("mode", choices=("sdk", "raw"))
    client.add_argument("--base-url", required=True)
    client.add_argument("--pages", type=int, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.command == "serve":
        asyncio.run(_serve(args.escrows))
    elif args.command == "client":
        print(json.dumps(asyncio.run(_client(args.mode, args.base_url, args.pages))))
    else:
        main(quick=args.quick)


if __name__ == "__main__":
    _cli()
