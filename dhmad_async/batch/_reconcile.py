"""
Reconciliation: find the escrow an ambiguous create may have made. I/O: list and get escrows.

DHMAD has no idempotency keys, so after a create that may have reached the server
(timeout after sending, a dropped connection, a 5xx, an unparseable 2xx) we look
for it. ``GET /escrows`` is newest first by creation date, so one scan from the
top down to the oldest attempt's start covers every waiting item at once.

The documented list shows little: title, amount, status, the parties as user
objects (``null`` for an invitee without an account), delivery days and dates;
no buyer or seller email field, no currency, no mode. So a field the list does
not show is unknown, never a mismatch; an escrow is a candidate when nothing it
shows contradicts the item, and is confirmed with ``GET /escrows/:id`` (which
shows the mode) before it is claimed. The list shows only escrows where the
associated user is the seller or the buyer: for an item between two other users
an empty scan proves nothing (``unlisted``), and the caller decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import attrs

from dhmad_async._errors import NotFoundError, PermissionDeniedError
from dhmad_async.batch._items import normalise_title
from dhmad_async.models import Escrow, UserRef

if TYPE_CHECKING:
    from dhmad_async.batch._protocols import BatchClient

__all__ = ["Pending", "Verdict", "compare", "escrow_matches", "party_emails", "reconcile"]

VerdictKind = Literal["found", "absent", "unlisted", "several", "incomplete"]
Fit = Literal["yes", "maybe", "no"]

#: Candidates of one item confirmed by GET; more are reported without a look.
MAX_CONFIRM = 10


@attrs.frozen
class Pending:
    """An item awaiting reconciliation: its key, request body, time floor and visibility."""

    key: str
    wire: Mapping[str, Any]
    #: Epoch seconds (server clock, skew margin already subtracted); None: no time bound.
    floor: float | None
    #: Whether the documented list shows this item's escrow (the associated user is a party).
    visible: bool = True
    #: The associated user's email when known: the seller of an item without sellerEmail.
    associated_email: str | None = None


@attrs.frozen
class Verdict:
    """What the scan found for one item."""

    key: str
    kind: VerdictKind
    escrow: Escrow | None = None
    candidates: tuple[str, ...] = ()
    message: str = ""


def _lower(value: object) -> str | None:
    return str(value).strip().lower() if value else None


def party_emails(escrow: Escrow) -> tuple[str | None, str | None]:
    """(seller, buyer) emails as the escrow shows them: the email field or the user object's."""
    seller = escrow.seller_email or (
        escrow.seller.email if isinstance(escrow.seller, UserRef) else None
    )
    buyer = escrow.buyer_email or (
        escrow.buyer.email if isinstance(escrow.buyer, UserRef) else None
    )
    return _lower(seller), _lower(buyer)


def _same_amount(wanted: object, got: Decimal) -> bool:
    try:
        return Decimal(str(wanted)) == got
    except InvalidOperation:  # pragma: no cover - wanted comes from a validated item
        return False


def compare(wire: Mapping[str, Any], escrow: Escrow, *, associated_email: str | None = None) -> Fit:
    """
    How well ``escrow`` fits the request body ``wire``, judging only what it shows.

    ``"no"`` when a shown field contradicts the item; ``"yes"`` when title and amount
    are shown and equal and nothing contradicts; ``"maybe"`` when too little is shown.
    """
    shown_title = escrow.title is not None
    if shown_title and normalise_title(escrow.title) != normalise_title(wire.get("title")):
        return "no"
    shown_amount = escrow.amount is not None
    if escrow.amount is not None and not _same_amount(wire.get("amount"), escrow.amount):
        return "no"
    if (
        escrow.currency is not None
        and str(escrow.currency).upper() != str(wire.get("currency") or "TND").upper()
    ):
        return "no"
    if (
        escrow.mode is not None
        and str(escrow.mode).lower() != str(wire.get("mode") or "standard").lower()
    ):
        return "no"
    days = wire.get("estimatedDeliveryDays")
    shown_days = escrow.estimated_delivery_days
    if shown_days is not None and days is not None and int(shown_days) != int(days):
        return "no"
    seller, buyer = party_emails(escrow)
    if buyer is not None and buyer != _lower(wire.get("buyerEmail")):
        return "no"
    wanted_seller = _lower(wire.get("sellerEmail")) or _lower(associated_email)
    if seller is not None and wanted_seller is not None and seller != wanted_seller:
        return "no"
    return "yes" if shown_title and shown_amount else "maybe"


def escrow_matches(
    wire: Mapping[str, Any], escrow: Escrow, *, associated_email: str | None = None
) -> bool:
    """Whether ``escrow`` may be the one created from ``wire`` (nothing shown contradicts it)."""
    return compare(wire, escrow, associated_email=associated_email) != "no"


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # timestamps are UTC
    return value.timestamp()


def _recent(item: Pending, escrow: Escrow) -> bool:
    created = _epoch(escrow.created_at)
    return item.floor is None or created is None or created >= item.floor


async def _confirm(
    client: BatchClient, item: Pending, listed: Escrow, on_request: Callable[[], object] | None
) -> tuple[Fit, Escrow]:
    """Read the candidate by id and judge list and detail together."""
    if on_request is not None:
        on_request()
    try:
        detail = await client.escrows.get(listed.id)
    except (NotFoundError, PermissionDeniedError):
        # Gone, or not readable by this key: the key can read every escrow it created.
        return "no", listed
    fits = (
        compare(item.wire, listed, associated_email=item.associated_email),
        compare(item.wire, detail, associated_email=item.associated_email),
    )
    if not _recent(item, detail) or "no" in fits:
        return "no", detail
    return ("yes" if "yes" in fits else "maybe"), detail


async def reconcile(
    client: BatchClient,
    pending: Sequence[Pending],
    claimed: set[str],
    *,
    page_size: int = 100,
    max_pages: int = 50,
    on_page: Callable[[], object] | None = None,
) -> list[Verdict]:
    """
    Scan ``GET /escrows`` newest first, confirm candidates, and decide every pending item.

    Stops at the first escrow older than the oldest floor, at the end of the list,
    or after ``max_pages`` (then unmatched items are ``incomplete``). Escrows in
    ``claimed`` are never candidates. ``on_page`` is called before every request.
    Raises what the client raises.
    """
    if not pending:
        return []
    floors = [p.floor for p in pending]
    lowest = None if any(f is None for f in floors) else min(f for f in floors if f is not None)
    listed: dict[str, list[Escrow]] = {p.key: [] for p in pending}
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
                if _recent(item, escrow) and escrow_matches(
                    item.wire, escrow, associated_email=item.associated_email
                ):
                    listed[item.key].append(escrow)
        if reached_floor or len(page.escrows) < page_size:
            complete = True
            break
        if pages >= max_pages:
            break
    else:
        complete = True  # the pager ran out of pages
    verdicts: list[Verdict] = []
    for item in pending:
        verdicts.append(await _decide(client, item, listed[item.key], complete, pages, on_page))
    return verdicts


async def _decide(
    client: BatchClient,
    item: Pending,
    candidates: list[Escrow],
    complete: bool,
    pages: int,
    on_request: Callable[[], object] | None,
) -> Verdict:
    sure: list[Escrow] = []
    unsure: list[str] = [e.id for e in candidates[MAX_CONFIRM:]]
    for escrow in candidates[:MAX_CONFIRM]:
        fit, detail = await _confirm(client, item, escrow, on_request)
        if fit == "yes":
            sure.append(detail)
        elif fit == "maybe":
            unsure.append(escrow.id)
    if len(sure) == 1 and not unsure:
        return Verdict(item.key, "found", escrow=sure[0])
    if sure or unsure:
        ids = (*(e.id for e in sure), *unsure)
        return Verdict(
            item.key,
            "several",
            candidates=ids,
            message=(
                f"{len(ids)} unclaimed escrows may be this item's ({', '.join(ids)}); "
                "cannot tell which one this create made"
            ),
        )
    if not complete:
        return Verdict(
            item.key,
            "incomplete",
            message=f"no match in the newest {pages} pages of escrows; scan stopped",
        )
    return Verdict(item.key, "absent" if item.visible else "unlisted")
