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
async def hosted(emu: Emulator, middleware: Middleware) -> AsyncIterator[str]:
    """Serve ``emu``'s app with ``middleware`` outermost; yields the ``…/api/v1`` base URL."""
    app = emu.build_app()

    @web.middleware
    async def outermost(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await middleware(request, handler)

    app.middlewares.insert(0, outermost)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
    finally:
        await runner.cleanup()
