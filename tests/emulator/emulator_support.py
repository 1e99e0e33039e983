"""Helpers for emulator tests: a raw JSON client over loopback (no SDK)."""

from __future__ import annotations

import contextlib
import json as _json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from dhmad_async.testing import Emulator
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
