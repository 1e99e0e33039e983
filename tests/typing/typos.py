"""
Typo'd calls that ``mypy --strict`` must reject; never executed.

Each line below carries ``# type: ignore[<code>]``. ``make typecheck`` runs
mypy with ``--warn-unused-ignores`` (part of ``--strict``), so a typo that
stops being a type error makes its ignore unused, and the build fails. The
error code in brackets must match too: a different error is not silenced.
"""

from __future__ import annotations

from decimal import Decimal

from dhmad_async import DhmadClient, DhmadDeveloperClient, Unknown
from dhmad_async.models import Escrow

BASE = {"title": "Logo", "amount": Decimal("10"), "buyer_email": "b@example.com"}


async def escrow_typos(client: DhmadClient) -> None:
    """Misspelt enum values and option names in escrow calls."""
    await client.escrows.create(title="t", amount=1, buyer_email="b@x.tn", mode="qiuck")  # type: ignore[arg-type]
    await client.escrows.create(title="t", amount=1, buyer_email="b@x.tn", currency="TDN")  # type: ignore[arg-type]
    await client.escrows.create(title="t", amount=1, buyer_email="b@x.tn", auto_sign="yes")  # type: ignore[arg-type]
    await client.escrows.create(title="t", amount=1.5, buyer_email="b@x.tn")  # type: ignore[arg-type]
    await client.escrows.create(title="t", amount=1, buyer_email="b@x.tn", sellerEmail="s@x.tn")  # type: ignore[call-arg]
    client.escrows.list(status="payed")  # type: ignore[arg-type]
    client.escrows.list(role="buyr")  # type: ignore[arg-type]
    client.escrows.list(status="pending", limt=50)  # type: ignore[call-arg]
    await client.escrows.get("id", timeuot=5)  # type: ignore[call-arg]
    await client.escrows.get("id", extra_headers={"X-Trace": 1})  # type: ignore[dict-item]
    await client.escrows.update("id", amount=Decimal(1), amount_currency="USD")  # type: ignore[arg-type]
    client.escrows.create_many([], max_send=2)  # type: ignore[call-arg]
    client.escrows.create_many([], if_not_found="retry")  # type: ignore[arg-type]


async def other_typos(client: DhmadClient, developer: DhmadDeveloperClient) -> None:
    """Checkout actions, webhook events and methods, options, raw responses."""
    await client.checkout_sessions.create(
        "id",
        action="accept_payment",  # type: ignore[arg-type]
        target_user_email="b@x.tn",
        redirect_url="https://x/cb",
    )
    await developer.webhooks.create("https://x/h", events=["escrow.status.update"])  # type: ignore[list-item]
    await developer.webhooks.update("id", is_active=True, method="DELETE")  # type: ignore[arg-type]
    await developer.signature.set(42)  # type: ignore[arg-type]
    DhmadClient("sk_live_...", auth_header="bearer-token")  # type: ignore[arg-type]
    DhmadClient.from_env(base_ur="https://x")  # type: ignore[call-arg]
    client.with_options(max_retry=1)  # type: ignore[call-arg]
    client.with_options(rate_limit=100)  # type: ignore[arg-type]
    raw = await client.escrows.with_raw_response.get("id")
    raw.parse().titel  # type: ignore[attr-defined]  # noqa: B018
    await client.escrows.with_raw_response.create_many([])  # type: ignore[attr-defined]


def escape_hatches(escrow: Escrow) -> None:
    """What must type-check: Unknown for a new value; non-Optional fields used directly."""
    Unknown("escrow_plus")
    escrow.status.upper()
    escrow.id.upper()
    escrow.title.upper()  # type: ignore[union-attr]
