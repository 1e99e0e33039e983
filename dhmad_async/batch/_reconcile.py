"""
Reconciliation: find the escrow an ambiguous create may have made. I/O: GET /escrows.

DHMAD has no idempotency keys (REFERENCE §1.11, §7.23), so after a create that
may have reached the server (timeout after sending, a dropped connection, a
5xx) we look for it: ``GET /escrows`` is newest first by creation date
(§1.9), so one scan from the top down to the oldest attempt's start covers
every item waiting for reconciliation at once. An escrow matches an item when
title, buyer email, amount, currency and mode agree, the seller email agrees
when both sides show one, it was created at or after the attempt began (with
a clock-skew margin), and no other item of the journal has claimed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import attrs

from dhmad_async.batch._items import match_fields
from dhmad_async.models import Escrow

if TYPE_CHECKING:
    from dhmad_async.batch._protocols import BatchClient

__all__ = ["Pending", "Verdict", "escrow_matches", "reconcile"]

VerdictKind = Literal["found", "absent", "several", "incomplete"]


@attrs.frozen
class Pending:
    """An item awaiting reconciliation: its key, request body and server-time floor."""

    key: str
    wire: Mapping[str, Any]
    #: Epoch seconds (server clock, skew margin already subtracted); None: no time bound.
    floor: float | None


@attrs.frozen
class Verdict:
    """What the scan found for one item."""

    key: str
    kind: VerdictKind
    escrow: Escrow | None = None
    candidates: tuple[str, ...] = ()
    message: str = ""


def _same_amount(wanted: str, got: Decimal | None) -> bool:
    if got is None:
        return False
    try:
        return Decimal(wanted) == got
    except InvalidOperation:  # pragma: no cover - wanted comes from a validated item
        return False


def escrow_matches(wire: Mapping[str, Any], escrow: Escrow) -> bool:
    """Whether ``escrow`` could be the one created from the request body ``wire``."""
    title, buyer, amount, currency, mode = match_fields(wire)
    if escrow.title is None or escrow.title.strip() != title.strip():
        return False  # INF: the server may trim; compare both trimmed
    if (escrow.buyer_email or "").strip().lower() != buyer:
        return False
    if not _same_amount(amount, escrow.amount):
        return False
    # A field the list does not show cannot rule a match out (open fields, REFERENCE §7).
    if escrow.currency is not None and str(escrow.currency).upper() != currency:
        return False
    if escrow.mode is not None and str(escrow.mode).lower() != mode:
        return False
    seller = wire.get("sellerEmail")
    return not (
        seller
        and escrow.seller_email
        and escrow.seller_email.strip().lower() != str(seller).strip().lower()
    )


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # §1.10: timestamps are UTC
    return value.timestamp()


async def reconcile(
    client: BatchClient,
    pending: Sequence[Pending],
    claimed: set[str],
    *,
    page_size: int = 100,
    max_pages: int = 50,
    on_page: Any = None,
) -> list[Verdict]:
    """
    Scan ``GET /escrows`` newest first and decide every pending item in one pass.

    Stops at the first escrow older than the oldest floor, at the end of the
    list, or after ``max_pages`` (then unmatched items are ``incomplete``).
    Escrows in ``claimed`` are never candidates. Raises what the client raises.
    """
    if not pending:
        return []
    floors = [p.floor for p in pending]
    lowest = None if any(f is None for f in floors) else min(f for f in floors if f is not None)
    found: dict[str, list[Escrow]] = {p.key: [] for p in pending}
    seen: set[str] = set()
    complete = False
    pages = 0
    # Creates running beside this scan shift the pages; the de-duplication below
    # handles that (escrows are never deleted, so nothing is skipped): no warning.
    async for page in client.escrows.list(limit=page_size, drift_warnings=False).pages():
        pages += 1
        if on_page is not None:
            on_page()
        reached_floor = False
        for escrow in page.escrows:
            # New escrows pushed in at the top shift older ones down a page, so
            # an escrow may show twice; none can be skipped.
            if escrow.id in seen:
                continue
            seen.add(escrow.id)
            created = _epoch(escrow.created_at)
            if lowest is not None and created is not None and created < lowest:
                reached_floor = True
                break
            if escrow.id in claimed:
                continue
            for item in pending:
                if item.floor is not None and created is not None and created < item.floor:
                    continue
                if escrow_matches(item.wire, escrow):
                    found[item.key].append(escrow)
        if reached_floor or len(page.escrows) < page_size:
            complete = True
            break
        if pages >= max_pages:
            break
    else:
        complete = True  # the pager ran out of pages
    verdicts: list[Verdict] = []
    for item in pending:
        matches = found[item.key]
        if len(matches) == 1:
            verdicts.append(Verdict(item.key, "found", escrow=matches[0]))
        elif len(matches) > 1:
            ids = tuple(e.id for e in matches)
            verdicts.append(
                Verdict(
                    item.key,
                    "several",
                    candidates=ids,
                    message=(
                        f"{len(ids)} unclaimed escrows match this item ({', '.join(ids)}); "
                        "cannot tell which one this create made"
                    ),
                )
            )
        elif complete:
            verdicts.append(Verdict(item.key, "absent"))
        else:
            verdicts.append(
                Verdict(
                    item.key,
                    "incomplete",
                    message=f"no match in the newest {pages} pages of escrows; scan stopped",
                )
            )
    return verdicts
