"""
Receive DHMAD webhooks with aiohttp.web: verify, dedupe in Redis, answer fast, process later.

Run: DHMAD_WEBHOOK_SECRET=... python examples/webhook_receiver_aiohttp.py
"""

from __future__ import annotations

import os

from aiohttp import web

from dhmad_async.webhooks import (
    ContractSigned,
    EscrowStatusUpdated,
    RedisDedupStore,
    WebhookEvent,
    WebhookVerifier,
    aiohttp_webhook_handler,
)


async def on_event(event: WebhookEvent) -> None:
    """Your business logic; runs after the 200 was sent. Re-fetch before irreversible steps."""
    if isinstance(event, EscrowStatusUpdated):
        print("escrow", event.escrow_id, "is now", event.status)
    elif isinstance(event, ContractSigned):
        print("contract of", event.escrow_id, "signed by", event.signed_by)
    else:
        print("event", event.type, event.id)


def build_app() -> web.Application:
    """Wire the verifier (old + new secret during rotation), Redis dedup and the route."""
    secrets = [os.environ.get("DHMAD_WEBHOOK_SECRET", ""), os.environ.get("DHMAD_OLD_SECRET", "")]
    verifier = WebhookVerifier(secrets, tolerance=300)
    dedup = RedisDedupStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    handler = aiohttp_webhook_handler(verifier, on_event, dedup=dedup)
    app = web.Application()
    app.router.add_post("/webhooks/dhmad", handler)

    async def shutdown(app: web.Application) -> None:
        await handler.endpoint.aclose()  # type: ignore[attr-defined]
        await dedup.aclose()

    app.on_cleanup.append(shutdown)
    return app


if __name__ == "__main__":
    web.run_app(build_app(), host="127.0.0.1", port=8080)
