"""
Receive DHMAD webhooks in FastAPI/Starlette, two ways: mount the ASGI app, or call
``endpoint.process(raw body, headers)`` from a route. Needs ``pip install fastapi uvicorn``.

Run: DHMAD_WEBHOOK_SECRET=... uvicorn examples.webhook_receiver_fastapi:app
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request, Response

from dhmad_async.webhooks import MemoryDedupStore, WebhookEndpoint, WebhookEvent, WebhookVerifier


async def on_event(event: WebhookEvent) -> None:
    """Your business logic; runs in a background task after the 200."""
    print("received", event.type, event.id)


endpoint = WebhookEndpoint(
    WebhookVerifier([os.environ.get("DHMAD_WEBHOOK_SECRET", "")]),
    on_event,
    dedup=MemoryDedupStore(),  # one process only; use RedisDedupStore with several workers
)

app = FastAPI()
# Way 1: a pure ASGI app, mounted (POST /hooks/).
app.mount("/hooks", endpoint)


# Way 2: your own route; read the RAW body (never request.json()) before verifying.
@app.post("/webhooks/dhmad")
async def dhmad_webhook(request: Request) -> Response:
    status, body = await endpoint.process(await request.body(), request.headers)
    return Response(content=body, status_code=status, media_type="application/json")


@app.on_event("shutdown")
async def wait_for_handlers() -> None:
    await endpoint.aclose()
