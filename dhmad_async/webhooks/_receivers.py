"""
Webhook receivers: a framework-free core, an ASGI app and an aiohttp.web handler. I/O: HTTP.

Each reads the raw body, verifies it, claims the event in the dedup store,
answers 2xx at once and runs your async handler in a background task (DHMAD
advises answering quickly, REFERENCE §4.2). Rejections get a fixed, detail-free
body; logs carry the reason and event id, never the body or a secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._dedup import DedupStore
from dhmad_async.webhooks._events import WebhookEvent
from dhmad_async.webhooks._verifier import WebhookVerifier

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["WebhookEndpoint", "WebhookHandler", "aiohttp_webhook_handler"]

logger = logging.getLogger("dhmad_async.webhooks")

WebhookHandler = Callable[[WebhookEvent], Awaitable[None]]

_OK = b'{"received":true}'
_DUPLICATE = b'{"received":true,"duplicate":true}'
_UNAUTHORIZED = b'{"error":"invalid webhook signature"}'
_BAD_REQUEST = b'{"error":"invalid webhook body"}'
_TOO_LARGE = b'{"error":"body too large"}'
_NOT_CONFIGURED = b'{"error":"webhook receiver not configured"}'
_NOT_ALLOWED = b'{"error":"method not allowed"}'


class WebhookEndpoint:
    """The receiver logic, usable from any framework and as a pure ASGI app.

    ``await endpoint.process(body, headers)`` returns ``(status, json body)``;
    ``endpoint`` itself is an ASGI application (mount it in Starlette/FastAPI).
    Call :meth:`aclose` on shutdown to wait for running handlers.
    """

    def __init__(
        self,
        verifier: WebhookVerifier,
        handler: WebhookHandler,
        *,
        dedup: DedupStore | None = None,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        if dedup is not None and verifier.tolerance is not None and dedup.ttl < verifier.tolerance:
            raise ValueError("dedup ttl must be at least the verifier's tolerance window")
        self.verifier = verifier
        self.handler = handler
        self.dedup = dedup
        self.max_body_bytes = max_body_bytes
        # Strong references: the event loop keeps only weak ones to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Handlers still running."""
        return len(self._tasks)

    async def process(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Verify, dedupe and schedule one delivery; return the HTTP status and body."""
        if len(body) > self.max_body_bytes:
            return 413, _TOO_LARGE
        try:
            event = await self.verifier.averify(body, headers, dedup=self.dedup)
        except WebhookVerificationError as exc:
            return self._rejection(exc.reason)
        task = asyncio.create_task(self._run(event), name=f"dhmad-webhook-{event.dedup_key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, _OK

    def _rejection(self, reason: WebhookFailureReason) -> tuple[int, bytes]:
        if reason is WebhookFailureReason.DUPLICATE:
            logger.info("duplicate webhook delivery ignored")
            return 200, _DUPLICATE
        logger.warning("webhook delivery rejected: %s", reason.value)
        if reason is WebhookFailureReason.NO_SECRET:
            return 500, _NOT_CONFIGURED  # our misconfiguration: let DHMAD retry later
        if reason is WebhookFailureReason.MALFORMED_BODY:
            return 400, _BAD_REQUEST
        return 401, _UNAUTHORIZED

    async def _run(self, event: WebhookEvent) -> None:
        try:
            await self.handler(event)
        except Exception:
            logger.exception("webhook handler failed for event %s (%s)", event.id, event.type)

    async def aclose(self) -> None:
        """Wait for running handlers to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- ASGI -------------------------------------------------------------------

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        """Serve as an ASGI application (``http`` and ``lifespan`` scopes)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"unsupported ASGI scope {scope['type']!r}")
        if scope.get("method", "POST") != "POST":
            await _asgi_respond(send, 405, _NOT_ALLOWED, extra=[(b"allow", b"POST")])
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _asgi_respond(send, 413, _TOO_LARGE)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        headers = _asgi_headers(scope.get("headers", ()))
        status, body = await self.process(b"".join(chunks), headers)
        await _asgi_respond(send, status, body)

    async def _lifespan(
        self,
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _asgi_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = headers[key] + ", " + text if key in headers else text
    return headers


async def _asgi_respond(
    send: Callable[[Mapping[str, Any]], Awaitable[None]],
    status: int,
    body: bytes,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def aiohttp_webhook_handler(
    verifier: WebhookVerifier,
    handler: WebhookHandler,
    *,
    dedup: DedupStore | None = None,
    max_body_bytes: int = 1024 * 1024,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Return an ``aiohttp.web`` request handler; its ``.endpoint`` has ``aclose()``."""
    from aiohttp import web

    endpoint = WebhookEndpoint(verifier, handler, dedup=dedup, max_body_bytes=max_body_bytes)

    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return web.Response(status=413, body=_TOO_LARGE, content_type="application/json")
        body = await request.read()  # the raw bytes: never re-encoded before the MAC
        status, payload = await endpoint.process(body, request.headers)
        return web.Response(status=status, body=payload, content_type="application/json")

    handle.endpoint = endpoint  # type: ignore[attr-defined]
    return handle
