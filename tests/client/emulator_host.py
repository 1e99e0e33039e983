"""
Host the real emulator app behind one extra test middleware, over loopback HTTP.

The middleware runs outside the emulator's own, so a test can play a server
the emulator does not (yet) imitate on its own (a block answered with
``{"retryAfter": 3600}``, a 2xx body that does not fit the model, a stall)
while everything else, state included, is the emulator's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from dhmad_async.testing import Emulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def hosted(
    emu: Emulator, middleware: Middleware, *, inside: bool = False
) -> AsyncIterator[str]:
    """
    Serve ``emu``'s app with ``middleware`` added; yields the ``…/api/v1`` base URL.

    Outermost by default (it can answer instead of the emulator); ``inside=True``
    runs it after the emulator's own middleware, so the emulator has already
    counted the request against its rate limit (a server that stalls *after*
    admitting a request, as a real one would).
    """
    app = emu.build_app()

    @web.middleware
    async def extra(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await middleware(request, handler)

    if inside:
        app.middlewares.append(extra)
    else:
        app.middlewares.insert(0, extra)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
    finally:
        await runner.cleanup()
