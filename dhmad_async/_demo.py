"""
``python -m dhmad_async demo``: a marketplace's day against a local emulator. Does network I/O.

Everything runs in this process over 127.0.0.1: the emulator, a webhook
receiver that verifies every delivery, and the SDK. ``--live`` instead runs a
read-only flow against the real sandbox with ``DHMAD_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TextIO

from aiohttp import web

from dhmad_async import DhmadClient, DhmadDeveloperClient, DhmadError, RateLimit
from dhmad_async.models import CheckoutActionName
from dhmad_async.ratelimit import SlidingWindowLimiter
from dhmad_async.resources import EscrowParams
from dhmad_async.testing import FIDELITY_PROFILES, Emulator, Fidelity, ServerRateLimitOptions
from dhmad_async.webhooks import MemoryDedupStore, WebhookEvent, WebhookVerifier
from dhmad_async.webhooks import aiohttp_webhook_handler as webhook_handler

__all__ = ["register", "run_demo"]

#: Emulated time runs this much faster: DHMAD's minute lasts 3 real seconds.
DEMO_TIME_SCALE = 20.0
#: Real seconds the client adds to the window it counts over: the delay between the
#: limiter admitting a request and the server counting it. That delay is scheduling,
#: real time that does not shrink with the time scale, so the demo keeps the SDK's
#: default on DHMAD's real minute (1 s) instead of per / 60 (50 ms on a 3 s window):
#: a CPU-starved 2-core machine delayed requests by over 250 ms.
DEMO_MARGIN = 1.0

REDIRECT = "http://localhost:3000/checkout/callback"
BUYERS = ("amira@example.com", "youssef@example.com", "leila@example.com")
SELLER = "atelier.carthage@example.com"


class _Out:
    """Progress lines with elapsed time; the summary is plain text so it reads anywhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.2f}s] {text}", file=self.stream, flush=True)


def _orders(count: int) -> list[EscrowParams]:
    """A realistic mixed batch: a third of each mode, amounts in TND."""
    orders: list[EscrowParams] = []
    for n in range(count):
        buyer = BUYERS[n % len(BUYERS)]
        amount = Decimal(120 + 15 * n) + Decimal("0.500")
        mode = ("standard", "quick", "instant")[n % 3]
        if mode == "standard":
            orders.append(
                EscrowParams(
                    title=f"Handwoven kilim #{n}",
                    amount=amount,
                    buyer_email=buyer,
                    mode="standard",
                    contract_terms="Seller ships within 5 days; buyer inspects within 3.",
                    estimated_delivery_days=5,
                )
            )
        elif mode == "quick":
            orders.append(
                EscrowParams(
                    title=f"Ceramic set #{n}",
                    amount=amount,
                    buyer_email=buyer,
                    seller_email=SELLER,
                    mode="quick",
                    estimated_delivery_days=3,
                )
            )
        else:
            orders.append(
                EscrowParams(
                    title=f"Digital pattern #{n}",
                    amount=Decimal("9.900"),
                    buyer_email=buyer,
                    mode="instant",
                )
            )
    return orders


async def _session(
    client: DhmadClient, emu: Emulator, escrow_id: str, action: CheckoutActionName, who: str
) -> None:
    """Create a checkout session and have its target user complete it on 'dhmad.tn'."""
    session = await client.checkout_sessions.create(
        escrow_id, action=action, target_user_email=who, redirect_url=REDIRECT
    )
    await emu.complete_session(session.session_id)
    status = await client.checkout_sessions.get(session.session_id)
    assert status.status == "completed", status


async def run_demo(
    *,
    count: int = 150,
    stream: TextIO = sys.stdout,
    time_scale: float = DEMO_TIME_SCALE,
    margin: float = DEMO_MARGIN,
    fidelity: Fidelity = "documented",
) -> dict[str, Any]:
    """
    Run the whole flow and return the summary; raises on any unexpected error.

    ``time_scale`` compresses the emulator's minute so the rate limit shows:
    at 20, DHMAD's 100 requests per minute become 100 per 3 seconds.
    ``margin`` is the client's safety margin in real seconds (see
    :data:`DEMO_MARGIN`); the summary reports it. Every client of the demo (the
    merchant, its developer token, the third-party seller) shares one limiter,
    because the server counts requests per IP, not per key.
    ``fidelity`` is the emulator's profile: ``documented`` answers only what the
    DHMAD docs show (no rate-limit headers, for one), ``generous`` everything.
    """
    out = _Out(stream)
    window = 60.0 / time_scale
    received: list[WebhookEvent] = []
    dedup = MemoryDedupStore(ttl=600)

    async def on_event(event: WebhookEvent) -> None:
        received.append(event)

    async with Emulator(
        fidelity=fidelity,
        time_scale=time_scale,
        rate_limit=ServerRateLimitOptions(limit=100, window=60.0),
    ) as emu:
        out.step(
            f"emulator ({fidelity} profile) listening at {emu.base_url}"
            f" (a rate-limit minute lasts {window:.1f} s)"
        )
        limit = RateLimit(requests=100, per=window, burst=10, margin=margin)
        # One budget for every client: they all send from this IP.
        shared = SlidingWindowLimiter(limit)
        out.step(
            f"client budget: 100 requests per {window:.1f} s window, counted over"
            f" {limit.counted_window:.2f} s (margin {margin * 1000:.0f} ms for scheduling"
            " delays), shared by every client"
        )
        developer = DhmadDeveloperClient(
            emu.developer_token, base_url=emu.base_url, rate_limit=shared
        )
        client = DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=shared)
        receiver = web.Application()
        runner = web.AppRunner(receiver, access_log=None)
        async with developer, client:
            # 1. A receiver that verifies every delivery, then its webhook endpoint.
            # The verifier needs the secret, which exists only once the URL is
            # registered, so the route forwards to a handler installed just after.
            verified: list[Callable[[web.Request], Awaitable[web.StreamResponse]]] = []

            async def handle(request: web.Request) -> web.StreamResponse:
                return await verified[0](request)

            receiver.router.add_post("/webhooks/dhmad", handle)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            port = runner.addresses[0][1]
            hook = await developer.webhooks.create(
                f"http://127.0.0.1:{port}/webhooks/dhmad",
                events=[
                    "escrow.status.updated",
                    "contract.signed",
                    "escrow.delivery.rejected",
                    "escrow.cancellation.requested",
                    "identity.verification.updated",
                ],
            )
            assert hook.secret is not None
            verifier = WebhookVerifier(secrets=[hook.secret], tolerance=300)
            aiohttp_handler = webhook_handler(verifier, on_event, dedup=dedup)
            verified.append(aiohttp_handler)
            out.step(f"webhook endpoint {hook.id} registered; receiver on port {port}")

            # 2. Who are we?
            me = await client.account.me()
            balance = await client.account.balance()
            out.step(
                f"API key {me.api_key.key_prefix if me.api_key else '?'}… for "
                f"{me.developer.company_name if me.developer else '?'}; balance "
                f"{balance.available} TND available"
            )

            # 3. A batch of escrows of all three modes, at the rate limit.
            orders = _orders(count)
            created: list[Any] = []
            started = time.monotonic()
            semaphore = asyncio.Semaphore(20)

            async def create(params: EscrowParams) -> None:
                async with semaphore:
                    result = await client.escrows.create_from(params)
                    created.append(result.escrow)
                    if len(created) % 25 == 0 or len(created) == len(orders):
                        rate = len(created) / max(time.monotonic() - started, 1e-9)
                        out.step(
                            f"  created {len(created):4d}/{len(orders)} escrows"
                            f" ({rate:5.1f}/s; steady limit {100 / window:.0f}/s)"
                        )

            out.step(
                f"creating {len(orders)} escrows (standard, quick, instant) at 100 per window…"
            )
            await asyncio.gather(*(create(params) for params in orders))
            by_mode = collections.Counter(str(e.mode) for e in created)
            out.step(f"created {len(created)} escrows: {dict(sorted(by_mode.items()))}")

            # 4. List them back page by page.
            pages = 0
            listed = 0
            async for page in client.escrows.list(limit=50).pages():
                pages += 1
                listed += len(page.escrows)
                out.step(
                    f"  page {page.pagination.page}/{page.pagination.pages}:"
                    f" {len(page.escrows)} escrows"
                )
            out.step(f"listed {listed} escrows in {pages} pages")

            standard = [e for e in created if e.mode == "standard"]
            quick = [e for e in created if e.mode == "quick"]
            instant = [e for e in created if e.mode == "instant"]

            # 5. A standard escrow all the way: both sign, the buyer pays,
            #    we deliver, the buyer completes.
            done = standard[0]
            buyer = str(done.buyer_email)
            await _session(client, emu, done.id, "sign_contract", emu.user_email)
            await _session(client, emu, done.id, "sign_contract", buyer)
            await _session(client, emu, done.id, "accept_pay", buyer)
            await client.escrows.deliver(done.id)
            await _session(client, emu, done.id, "complete", buyer)
            contract = await client.escrows.contract(done.id)
            out.step(
                f"standard {done.id}: signed by both (fully signed={contract.is_fully_signed}),"
                " paid, delivered, completed"
            )

            # 6. An instant escrow: pay, deliver = completed at once.
            fast = instant[0]
            await _session(client, emu, fast.id, "accept_pay", str(fast.buyer_email))
            result = await client.escrows.deliver(fast.id)
            out.step(f"instant {fast.id}: paid and delivered -> {result.escrow.status}")

            # 7. We buy from a third-party seller, who delivers; we reject the delivery.
            seller_key = emu.create_api_key(user_email=SELLER)
            async with DhmadClient(
                seller_key.key, base_url=emu.base_url, rate_limit=shared
            ) as seller:
                bought = await client.escrows.create(
                    title="Olive wood bowls for our shop",
                    amount=Decimal("340.000"),
                    buyer_email=emu.user_email,
                    seller_email=SELLER,
                    mode="quick",
                    estimated_delivery_days=4,
                )
                await _session(client, emu, bought.escrow.id, "accept_pay", emu.user_email)
                await seller.escrows.deliver(bought.escrow.id)
            rejected = await client.escrows.reject_delivery(
                bought.escrow.id, reason="Two bowls arrived cracked."
            )
            out.step(
                f"quick {bought.escrow.id}: delivered by the seller, rejected by us"
                f" -> {rejected.escrow.status}"
            )

            # 8. Cancel a pending one, and edit another.
            cancelled = await client.escrows.cancel(quick[0].id)
            updated = await client.escrows.update(standard[1].id, title="Handwoven kilim (large)")
            out.step(
                f"cancelled {cancelled.escrow.id};"
                f" renamed {updated.escrow.id} to {updated.escrow.title!r}"
            )

            # 9. KYC for a seller who has not registered yet.
            kyc = await client.identity_verifications.create(
                email="new.seller@example.com", external_user_id="seller_42"
            )
            kyc = await client.identity_verifications.get(kyc.id)
            listed_kyc = await client.identity_verifications.list(email="new.seller@example.com")
            out.step(
                f"KYC {kyc.id}: {kyc.kyc_status} ({len(listed_kyc)} record(s) for that e-mail)"
            )

            # 10. Wait for the webhooks and check every one was verified.
            await emu.wait_for_deliveries(timeout=30)
            await aiohttp_handler.endpoint.aclose()
            stats = emu.stats()
            statuses = collections.Counter(str(e["status"]) for e in emu.escrows())
            await developer.webhooks.delete(hook.id)
        await runner.cleanup()
        await shared.aclose()

    summary = {
        "escrows_by_status": dict(sorted(statuses.items())),
        "requests_sent": stats["requests"],
        "rate_limited_429": stats["rateLimited"],
        "max_in_any_window": stats["maxInWindow"],
        "client_margin_s": margin,
        "webhooks_delivered": stats["deliveries"],
        "webhooks_verified": len(received),
        "webhook_types": dict(sorted(collections.Counter(e.type for e in received).items())),
    }
    _print_summary(summary, stream)
    return summary


def _print_summary(summary: dict[str, Any], stream: TextIO) -> None:
    rows: list[tuple[str, str]] = [
        (f"escrows {status}", str(n)) for status, n in summary["escrows_by_status"].items()
    ]
    rows += [
        ("requests sent", str(summary["requests_sent"])),
        ("429s received", str(summary["rate_limited_429"])),
        ("client margin", f"{summary['client_margin_s'] * 1000:.0f} ms"),
        ("most requests in one window", f"{summary['max_in_any_window']} (limit 100)"),
        ("webhooks delivered", str(summary["webhooks_delivered"])),
        ("webhooks verified", str(summary["webhooks_verified"])),
    ]
    rows += [(f"  {kind}", str(n)) for kind, n in summary["webhook_types"].items()]
    width = max(len(label) for label, _ in rows)
    print("\nSummary", file=stream)
    print("-" * (width + 12), file=stream)
    for label, value in rows:
        print(f"{label:<{width}}  {value:>8}", file=stream)
    print("-" * (width + 12), file=stream)


async def run_live(stream: TextIO = sys.stdout) -> None:
    """Read-only calls against the real API with DHMAD_API_KEY: nothing is created."""
    out = _Out(stream)
    async with DhmadClient.from_env() as client:
        me = await client.account.me()
        out.step(f"key {me.api_key.key_prefix if me.api_key else '?'} ({client.environment})")
        try:
            balance = await client.account.balance()
            out.step(f"balance: {balance.available} available, {balance.escrow} in escrow")
            async for page in client.escrows.list(limit=10).pages():
                out.step(f"first page: {len(page.escrows)} of {page.pagination.total} escrows")
                break
        except DhmadError as exc:
            out.step(f"stopped: {exc}")


def _handle(args: argparse.Namespace) -> int:
    runner: Callable[[], Any]
    if args.live:
        runner = run_live
    else:

        def runner() -> Any:
            return run_demo(count=args.count, fidelity=args.fidelity)

    try:
        asyncio.run(runner())
    except DhmadError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"demo cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser("demo", help="run the marketplace demo against a local emulator")
    parser.add_argument("--count", type=int, default=150, help="escrows to create (default 150)")
    parser.add_argument(
        "--fidelity",
        choices=FIDELITY_PROFILES,
        default="documented",
        help="emulator profile: documented (only what the docs show, default) or generous",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="read-only calls against the real sandbox (needs DHMAD_API_KEY)",
    )
    parser.set_defaults(handler=_handle)
