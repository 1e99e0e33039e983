"""
Receive DHMAD webhooks in FastAPI/Starlette, two ways: mount the ASGI app, or call
``endpoint.process(raw body, headers)`` from a route. Needs ``pip install fastapi uvicorn``.

The handler runs before the answer (at-least-once): a failure answers 500 and
DHMAD's retry runs it again. For slow work pass ``fast_ack=True`` and make the
handler only enqueue the event on a durable queue (fast-ack is at-most-once).

Run: DHMAD_WEBHOOK_SECRET=... uvicorn examples.webhook_receiver_fastapi:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from dhmad_async.webhooks import MemoryDedupStore, WebhookEvent, WebhookReceiver, WebhookVerifier


async def on_event(event: WebhookEvent) -> None:
    """Your business logic; raise to have DHMAD deliver the event again."""
    print("received", event.type, event.id)


endpoint = WebhookReceiver(
    WebhookVerifier([os.environ.get("DHMAD_WEBHOOK_SECRET", "")]),
    on_event,
    dedup=MemoryDedupStore(),  # one process only; use RedisDedupStore with several workers
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await endpoint.aclose()  # waits for background handlers (fast_ack mode)


app = FastAPI(lifespan=lifespan)
# Way 1: a pure ASGI app, mounted (POST /hooks/).
app.mount("/hooks", endpoint)


# Way 2: your own route; read the RAW body (never request.json()) before verifying.
@app.post("/webhooks/dhmad")
async def dhmad_webhook(request: Request) -> Response:
    status, body = await endpoint.process(await request.body(), request.headers)
    return Response(content=body, status_code=status, media_type="application/json")
