"""
Receive DHMAD webhooks with aiohttp.web: verify, dedupe in Redis, handle, then answer.

The handler runs before the answer (at-least-once): if it raises, the receiver
answers 500 and releases the event, so DHMAD's retry runs it again. It re-fetches
the escrow first, so a replayed or overtaken event is skipped rather than acted on.

Run: DHMAD_API_KEY=... DHMAD_WEBHOOK_SECRET=... python examples/webhook_receiver_aiohttp.py
"""

from __future__ import annotations

import os

from aiohttp import web

from dhmad_async import DhmadClient
from dhmad_async.webhooks import (
    ContractSigned,
    CurrentState,
    EscrowStatusUpdated,
    RedisDedupStore,
    WebhookEvent,
    WebhookVerifier,
    aiohttp_webhook_handler,
    current_state_handler,
)


async def on_event(event: WebhookEvent, current: CurrentState) -> None:
    """Your business logic, with the escrow as the API shows it now.

    Keep irreversible steps idempotent per escrow (a replay of a still-current
    event is not stale), e.g. a unique constraint on (escrow id, "shipped").
    """
    if isinstance(event, EscrowStatusUpdated) and current.escrow is not None:
        print("escrow", current.escrow.id, "is now", current.escrow.status)
    elif isinstance(event, ContractSigned):
        print("contract of", event.escrow_id, "signed by", event.signed_by)
    else:
        print("event", event.type, event.id)


def build_app() -> web.Application:
    """Wire the verifier (old + new secret during rotation), Redis dedup and the route."""
    secrets = [os.environ.get("DHMAD_WEBHOOK_SECRET", ""), os.environ.get("DHMAD_OLD_SECRET", "")]
    verifier = WebhookVerifier(secrets, tolerance=300)
    dedup = RedisDedupStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    client = DhmadClient(os.environ.get("DHMAD_API_KEY", ""))
    handler = aiohttp_webhook_handler(
        verifier, current_state_handler(client, on_event), dedup=dedup, handler_timeout=20
    )
    app = web.Application()
    app.router.add_post("/webhooks/dhmad", handler)

    async def shutdown(app: web.Application) -> None:
        await handler.endpoint.aclose()
        await dedup.aclose()
        await client.aclose()

    app.on_cleanup.append(shutdown)
    return app


if __name__ == "__main__":
    web.run_app(build_app(), host="127.0.0.1", port=8080)
