"""
Webhook receivers: a framework-free core, an ASGI app and an aiohttp.web handler. I/O: HTTP.

Each reads the raw body, verifies it, claims the event in the dedup store and,
by default, **runs your handler before answering**: 200 once it succeeded; on
failure (or timeout) the claim is released and the answer is 5xx, so DHMAD
retries and the redelivery runs the handler again (at-least-once). With
``fast_ack=True`` the answer is 200 at once and the handler runs in the
background (DHMAD advises responding quickly): at-most-once,
since a handler that fails or a process that dies after the 200 loses the
event, unless the handler only puts it on a durable queue.

Rejections get a fixed, detail-free body; logs carry the reason and event id,
never the body or a secret.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._dedup import DEFAULT_POLICY, DedupPolicy, DedupState, DedupStore
from dhmad_async.webhooks._events import WebhookEvent
from dhmad_async.webhooks._verifier import WebhookVerifier

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "AiohttpWebhookHandler",
    "WebhookHandler",
    "WebhookReceiver",
    "aiohttp_webhook_handler",
]

logger = logging.getLogger("dhmad_async.webhooks")

WebhookHandler = Callable[[WebhookEvent], Awaitable[None]]

#: Seconds a handler may run before the delivery is answered 503 (and retried).
DEFAULT_HANDLER_TIMEOUT = 30.0
# A claim outlives the handler's timeout by this much, so a slow handler is never
# run twice at once; without a timeout the claim lapses after _NO_TIMEOUT_LEASE.
_LEASE_MARGIN = 30.0
_NO_TIMEOUT_LEASE = 900.0

_OK = b'{"received":true}'
_DUPLICATE = b'{"received":true,"duplicate":true}'
_UNAUTHORIZED = b'{"error":"invalid webhook signature"}'
_BAD_REQUEST = b'{"error":"invalid webhook body"}'
_TOO_LARGE = b'{"error":"body too large"}'
_NOT_CONFIGURED = b'{"error":"webhook receiver not configured"}'
_NOT_ALLOWED = b'{"error":"method not allowed"}'
_HANDLER_FAILED = b'{"error":"webhook handler failed; retry later"}'
_HANDLER_TIMEOUT = b'{"error":"webhook handler timed out; retry later"}'
_IN_PROGRESS = b'{"error":"event is being processed; retry later"}'
_STORE_DOWN = b'{"error":"dedup store unavailable; retry later"}'


class WebhookReceiver:
    """The receiver logic, usable from any framework and as a pure ASGI app.

    ``await receiver.process(body, headers)`` returns ``(status, json body)``;
    ``receiver`` itself is an ASGI application (mount it in Starlette/FastAPI).
    (Formerly ``WebhookEndpoint``; that name is a deprecated alias, and
    ``dhmad_async.models.WebhookEndpoint`` is the API's webhook configuration.)

    - ``dedup``: the store that remembers handled events (share a
      :class:`RedisDedupStore` between workers); ``policy`` picks keys and ttls.
    - ``handler_timeout``: seconds before a running handler is cancelled and the
      delivery answered 503 (``None``: no limit). A handler that raises gets 500.
      Either way the claim is released, so DHMAD's retry runs the handler again.
    - A delivery of an event whose handler is still running (DHMAD retried
      because we were slow) gets 503, never "duplicate": if that handler then
      fails, the retry must still come.
    - ``fast_ack=True``: answer 200 before the handler runs (at-most-once, see
      the module docs). Call :meth:`aclose` on shutdown to wait for handlers.
    """

    def __init__(
        self,
        verifier: WebhookVerifier,
        handler: WebhookHandler,
        *,
        dedup: DedupStore | None = None,
        policy: DedupPolicy | None = None,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
        fast_ack: bool = False,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        policy = policy or DEFAULT_POLICY
        window = verifier.tolerance
        if dedup is not None and window is not None:
            if dedup.ttl < window:
                raise ValueError("dedup ttl must be at least the verifier's tolerance window")
            if policy.ambiguous_ttl is not None and policy.ambiguous_ttl < window:
                raise ValueError("ambiguous_ttl must be at least the verifier's tolerance window")
        if handler_timeout is not None and not handler_timeout > 0:
            raise ValueError("handler_timeout must be positive or None")
        self.verifier = verifier
        self.handler = handler
        self.dedup = dedup
        self.policy = policy
        self.handler_timeout = handler_timeout
        self.fast_ack = fast_ack
        self.max_body_bytes = max_body_bytes
        self._lease = (
            handler_timeout + _LEASE_MARGIN if handler_timeout is not None else _NO_TIMEOUT_LEASE
        )
        # Strong references: the event loop keeps only weak ones to tasks.
        self._tasks: set[asyncio.Task[tuple[int, bytes]]] = set()

    @property
    def pending(self) -> int:
        """Background handlers still running (``fast_ack`` mode)."""
        return len(self._tasks)

    async def process(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Verify, dedupe and handle one delivery; return the HTTP status and body."""
        if len(body) > self.max_body_bytes:
            return 413, _TOO_LARGE
        try:
            event = self.verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            return await self._rejection(exc.reason, body, headers)
        key = self.policy.key_for(event)
        if self.dedup is not None:
            try:
                state = await self.dedup.claim(key, lease=self._lease)
            except Exception:
                logger.exception("webhook dedup store failed; answered 503 (event %s)", event.id)
                return 503, _STORE_DOWN
            if state is not DedupState.NEW:
                return self._repeat(event, state)
        if self.fast_ack:
            task = asyncio.create_task(self._run(event, key), name=f"dhmad-webhook-{event.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return 200, _OK
        return await self._run(event, key)

    def _repeat(self, event: WebhookEvent, state: DedupState) -> tuple[int, bytes]:
        if state is DedupState.PROCESSING:
            logger.info(
                "webhook event %s (%s) is still being handled; answered 503", event.id, event.type
            )
            return 503, _IN_PROGRESS
        if event.dedup_ambiguous:
            # The safe default drops it; say so, since it may be a genuine repeat.
            logger.warning(
                "webhook delivery of %s is identical to one already handled and carries no"
                " updatedAt or event timestamp, so a genuine repeat cannot be told from a"
                " replay: treated as a duplicate (see DedupPolicy.ambiguous_ttl)",
                event.type,
            )
        else:
            logger.info("duplicate webhook delivery ignored (event %s, %s)", event.id, event.type)
        return 200, _DUPLICATE

    async def _rejection(
        self, reason: WebhookFailureReason, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        if reason is WebhookFailureReason.TIMESTAMP_TOO_OLD and self.dedup is not None:
            # A late retry of an event already handled is a duplicate, not an attack.
            try:
                state = await self.verifier.stale_state(body, headers, self.dedup, self.policy)
            except Exception:
                logger.exception("webhook dedup store failed; answered 503")
                return 503, _STORE_DOWN
            if state is DedupState.DONE:
                logger.info("late redelivery of a handled webhook event ignored")
                return 200, _DUPLICATE
            if state is DedupState.PROCESSING:
                return 503, _IN_PROGRESS
        if reason is WebhookFailureReason.TIMESTAMP_TOO_OLD:
            logger.warning(
                "webhook delivery rejected: timestamp_too_old (if DHMAD keeps the first"
                " attempt's timestamp on retries, the verifier's tolerance must cover them)"
            )
        else:
            logger.warning("webhook delivery rejected: %s", reason.value)
        if reason is WebhookFailureReason.NO_SECRET:
            return 500, _NOT_CONFIGURED  # our misconfiguration: let DHMAD retry later
        if reason is WebhookFailureReason.MALFORMED_BODY:
            return 400, _BAD_REQUEST
        return 401, _UNAUTHORIZED

    async def _run(self, event: WebhookEvent, key: str) -> tuple[int, bytes]:
        """Run the handler; mark the key done on success, release it on any failure."""
        try:
            if self.handler_timeout is None:
                await self.handler(event)
            else:
                async with asyncio.timeout(self.handler_timeout) as scope:
                    await self.handler(event)
        except TimeoutError:
            if self.handler_timeout is not None and scope.expired():
                logger.error(
                    "webhook handler timed out after %g s for event %s (%s); released for retry",
                    self.handler_timeout,
                    event.id,
                    event.type,
                )
                await self._release(key)
                return 503, _HANDLER_TIMEOUT
            logger.exception("webhook handler failed for event %s (%s)", event.id, event.type)
            await self._release(key)
            return 500, _HANDLER_FAILED
        except Exception:
            logger.exception(
                "webhook handler failed for event %s (%s); released for retry", event.id, event.type
            )
            await self._release(key)
            return 500, _HANDLER_FAILED
        except BaseException:
            # Cancelled (shutdown, client gone): not handled, so a redelivery must run it.
            await asyncio.shield(self._release(key))
            raise
        if self.dedup is not None:
            try:
                await self.dedup.complete(key, ttl=self.policy.ttl_for(event, self.dedup))
            except Exception:
                # The handler did its work: answer 200. The claim lapses after its
                # lease, so a much later redelivery could run it again.
                logger.exception("webhook dedup store failed to record event %s", event.id)
        return 200, _OK

    async def _release(self, key: str) -> None:
        if self.dedup is None:
            return
        try:
            await self.dedup.forget(key)
        except Exception:
            # The claim lapses after its lease; until then redeliveries get 503.
            logger.exception("webhook dedup store failed to release a claim")

    async def aclose(self) -> None:
        """Wait for background handlers (``fast_ack``) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- ASGI -------------------------------------------------------------------

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
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
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
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
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
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


class AiohttpWebhookHandler(Protocol):
    """What :func:`aiohttp_webhook_handler` returns: a request handler and its receiver."""

    #: The :class:`WebhookReceiver` behind the handler; ``await .endpoint.aclose()``
    #: on shutdown.
    endpoint: WebhookReceiver

    def __call__(self, request: web.Request) -> Awaitable[web.Response]:
        """Verify, dedupe, run the handler, answer."""
        ...


def aiohttp_webhook_handler(
    verifier: WebhookVerifier,
    handler: WebhookHandler,
    *,
    dedup: DedupStore | None = None,
    policy: DedupPolicy | None = None,
    handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
    fast_ack: bool = False,
    max_body_bytes: int = 1024 * 1024,
) -> AiohttpWebhookHandler:
    """Return an ``aiohttp.web`` request handler (options as :class:`WebhookReceiver`).

    Its ``.endpoint`` attribute is the :class:`WebhookReceiver`; call its
    ``aclose()`` on shutdown.
    """
    from aiohttp import web

    endpoint = WebhookReceiver(
        verifier,
        handler,
        dedup=dedup,
        policy=policy,
        handler_timeout=handler_timeout,
        fast_ack=fast_ack,
        max_body_bytes=max_body_bytes,
    )

    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return web.Response(status=413, body=_TOO_LARGE, content_type="application/json")
        body = await request.read()  # the raw bytes: never re-encoded before the MAC
        status, payload = await endpoint.process(body, request.headers)
        return web.Response(status=status, body=payload, content_type="application/json")

    handle.endpoint = endpoint  # type: ignore[attr-defined]
    return cast(AiohttpWebhookHandler, handle)


_DEPRECATED = {"WebhookEndpoint": "WebhookReceiver"}


def deprecated_alias(name: str) -> Any:
    """The class a deprecated name stands for, with a DeprecationWarning; AttributeError if none."""
    new = _DEPRECATED.get(name)
    if new is None:
        raise AttributeError(name)
    warnings.warn(
        f"dhmad_async.webhooks.{name} is deprecated: use {new} (the same class)."
        f" dhmad_async.models.{name} is the API's webhook configuration, not a receiver.",
        DeprecationWarning,
        stacklevel=3,
    )
    return globals()[new]


def __getattr__(name: str) -> Any:
    try:
        return deprecated_alias(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
