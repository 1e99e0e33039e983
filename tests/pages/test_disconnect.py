"""A client that hangs up mid-request is logged as one DEBUG line, never an ERROR traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def _watched(emu: Emulator) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """Serve ``emu``'s app with an outermost middleware that says when a request started.

    Yields the origin and an event set as the handler chain begins: by the time a task
    waiting on it runs, the handler is already waiting for the body (same event loop).
    """
    started = asyncio.Event()

    @web.middleware
    async def announce(request: web.Request, handler: Handler) -> web.StreamResponse:
        started.set()
        return await handler(request)

    app = emu.build_app()
    app.middlewares.insert(0, announce)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}", started
    finally:
        await runner.cleanup()


async def _hang_up_mid_body(
    emu: Emulator, path: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Send headers promising 1000 bytes, send a few, then close the connection.

    The connection closes only once the handler is reading the body (an event, not a
    sleep), so a loaded machine cannot turn this into a request that never started.
    """
    async with _watched(emu) as (origin, started):
        host, port = origin.rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {emu.api_key}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
                "title="
            ).encode()
        )
        await writer.drain()
        await asyncio.wait_for(started.wait(), 30)
        writer.close()
        await writer.wait_closed()
        # The server notices the lost connection on its next loop turns; wait for its line.
        for _ in range(1000):
            if any("disconnected" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/escrows", "application/json"),
        ("/api/oauth/token", "application/json"),
        ("/__emulator__/advance", "application/json"),
        # the hosted pages read forms
        ("/api/oauth/authorize", "application/x-www-form-urlencoded"),
        ("/checkout/{session}", "application/x-www-form-urlencoded"),
    ],
)
async def test_client_disconnect_is_one_debug_line(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    content_type: str,
) -> None:
    if "{session}" in path:
        created = await dhmad_client.escrows.create(
            title="Kilim",
            amount="250",
            buyer_email="buyer@example.com",
            mode="quick",
            seller_email="seller@example.com",
            estimated_delivery_days=3,
        )
        session = await dhmad_client.checkout_sessions.create(
            created.escrow.id,
            action="accept_pay",
            target_user_email="buyer@example.com",
            redirect_url="http://127.0.0.1/done",
        )
        path = path.format(session=session.session_id)
    caplog.set_level(logging.DEBUG)
    await _hang_up_mid_body(dhmad_emulator, path, content_type, caplog)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    ours = [r for r in caplog.records if r.name == "dhmad_async.testing"]
    assert [(r.levelno, r.getMessage()) for r in ours] == [
        (logging.DEBUG, f"client disconnected during POST {path}")
    ]
