"""Helpers for emulator tests: a raw JSON client, a request gate, a fake-clock driver.

Network I/O over loopback only. Nothing here reads real time in an assertion: the gate
holds requests until the test releases them, and :func:`run_on_fake_clock` moves a
:class:`FakeClock` only while no request is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

from dhmad_async.ratelimit import RateLimiter, ServerRateLimit
from dhmad_async.testing import Emulator, FakeClock
from dhmad_async.testing._common import loads

JsonDict = dict[str, Any]


class Receiver:
    """A loopback webhook endpoint that records deliveries and fails the first ``fail`` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=500)
        return web.Response(status=200)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[Receiver]:
        """Listen on 127.0.0.1 (``url`` is set) until the block ends."""
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        try:
            yield self
        finally:
            await runner.cleanup()


class Raw:
    """Tiny JSON helper over one ``aiohttp.ClientSession`` for one emulator."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        key: str | None = "default",
        headers: dict[str, str] | None = None,
        base: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """Send a request and return (status, parsed JSON or text, headers)."""
        hdrs = dict(headers or {})
        if key == "default":
            key = self.emu.api_key
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        url = (base or self.emu.base_url) + path
        data = None if json is None else _dumps(json)
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        async with self.session.request(
            method, url, data=data, headers=hdrs, params=params, allow_redirects=False
        ) as resp:
            text = await resp.text()
            try:
                body: Any = loads(text)
            except ValueError:
                body = text
            return resp.status, body, dict(resp.headers)

    async def create(self, **fields: Any) -> JsonDict:
        """Create an escrow (standard defaults) and return its response body."""
        payload: JsonDict = {
            "title": "Website",
            "amount": 1000,
            "buyerEmail": "buyer@example.com",
            "estimatedDeliveryDays": 7,
            "contractTerms": "Deliver a website.",
        }
        payload.update(fields)
        payload = {k: v for k, v in payload.items() if v is not None}
        status, body, _ = await self.call("POST", "/escrows", json=payload)
        assert status == 201, body
        return dict(body)

    async def session_for(self, escrow_id: str, action: str, target: str) -> str:
        """Create a checkout session and return its id."""
        status, body, _ = await self.call(
            "POST",
            f"/escrows/{escrow_id}/sessions",
            json={
                "action": action,
                "targetUserEmail": target,
                "redirectUrl": "https://shop.example.com/done",
            },
        )
        assert status == 201, body
        return str(body["sessionId"])

    async def act(self, escrow_id: str, action: str, target: str, outcome: str = "accept") -> None:
        """Create a session and complete it as ``target``."""
        sid = await self.session_for(escrow_id, action, target)
        await self.emu.complete_session(sid, outcome=outcome)


def _dumps(obj: object) -> str:
    return _json.dumps(obj, default=float)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Gate:
    """Holds every API request matching ``method path`` until :meth:`open` (counts arrivals).

    A stand-in for a slow server that cannot race the client: the answer comes only
    after the test has seen the client give up, however loaded the machine is.
    """

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path = method, path
        self.arrived = 0
        self._open = asyncio.Event()

    def open(self) -> None:
        """Let held and later requests through."""
        self._open.set()

    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == self.method and request.path == self.path:
            self.arrived += 1
            await self._open.wait()
        return await handler(request)


@contextlib.asynccontextmanager
async def gated(emu: Emulator, gate: Gate) -> AsyncIterator[str]:
    """Serve ``emu``'s app behind ``gate`` (inside the emulator's counting); yields the base URL.

    The gate is opened on the way out, so no handler is left waiting at shutdown.
    """
    app = emu.build_app()

    @web.middleware
    async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await gate.middleware(request, handler)

    app.middlewares.append(hold)  # after the emulator's own: it has counted the request
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
    finally:
        gate.open()
        await runner.cleanup()


class CountingLimiter:
    """Wraps a limiter; counts admissions and answers, so a test knows nothing is in flight.

    The client calls ``observe`` once per response, right after the attempt that
    ``acquire`` admitted: ``admitted == observed`` means every admitted request has
    been answered.
    """

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.admitted = 0
        self.observed = 0

    async def acquire(self) -> None:
        await self.inner.acquire()
        self.admitted += 1

    async def observe(self, info: ServerRateLimit) -> None:
        self.observed += 1
        await self.inner.observe(info)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run_on_fake_clock(
    clock: FakeClock,
    limiter: CountingLimiter,
    calls: Iterable[asyncio.Task[Any]],
    *,
    step: float,
    limit: float = 3600.0,
) -> None:
    """Drive ``calls`` to completion, moving ``clock`` only while nothing is in flight.

    Time moves in ``step`` seconds, and only when every admitted request has been
    answered and someone sleeps on the clock (the limiter, a retry backoff). A request
    admitted during a step therefore reaches the server at most ``step`` fake seconds
    after its admission: with ``step`` below the limiter's margin, the server sees what
    the limiter decided, whatever the real scheduling delays. Raises after ``limit``
    fake seconds (a livelock); a real hang is pytest-timeout's to report.
    """
    pending = list(calls)
    deadline = clock.monotonic() + limit
    while not all(call.done() for call in pending):
        idle = limiter.admitted == limiter.observed and clock.pending_sleepers > 0
        if idle:
            if clock.monotonic() >= deadline:
                raise AssertionError(f"calls still running after {limit} fake seconds")
            await clock.advance(step)
            continue
        # Real time only lets loopback I/O progress; no assertion depends on it.
        await asyncio.sleep(0.001)
    await asyncio.gather(*pending)
