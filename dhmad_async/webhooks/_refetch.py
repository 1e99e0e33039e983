"""
Re-fetch what an event is about before acting on it. I/O: HTTP, through the client you pass.

A webhook says what *was* true when it was sent. A replayed, delayed or
reordered delivery can describe a state the escrow has left (``paid`` after it
was cancelled), and DHMAD's own advice is to re-fetch the resource before an
irreversible action. :func:`fetch_current` does that and says
whether the event still matches; :func:`current_state_handler` wraps a handler
so it only ever runs with the current state, and skips stale events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from dhmad_async.models import Escrow, IdentityVerification
from dhmad_async.webhooks._events import (
    EscrowEvent,
    IdentityVerificationLinked,
    WebhookEvent,
    _IdentityEvent,
)

__all__ = ["CurrentState", "StateReader", "current_state_handler", "fetch_current"]

logger = logging.getLogger("dhmad_async.webhooks")


class _EscrowGetter(Protocol):
    async def get(self, escrow_id: str) -> Escrow: ...


class _VerificationGetter(Protocol):
    async def get(self, verification_id: str) -> IdentityVerification: ...


class StateReader(Protocol):
    """What :func:`fetch_current` needs: a ``DhmadClient`` (or a fake of one in tests)."""

    @property
    def escrows(self) -> _EscrowGetter: ...

    @property
    def identity_verifications(self) -> _VerificationGetter: ...


@attrs.frozen
class CurrentState:
    """The resource an event is about, as the API returns it now."""

    #: The escrow (escrow events) or identity verification (identity events);
    #: ``None`` when the event names neither.
    resource: Escrow | IdentityVerification | None
    #: True when the event's status is not the resource's status now: a replayed
    #: or overtaken delivery. Acting on it would act on a state that is gone.
    stale: bool

    @property
    def escrow(self) -> Escrow | None:
        """The escrow, for escrow events."""
        return self.resource if isinstance(self.resource, Escrow) else None

    @property
    def verification(self) -> IdentityVerification | None:
        """The identity verification, for identity events."""
        return self.resource if isinstance(self.resource, IdentityVerification) else None


def _differs(said: str | None, now: object) -> bool:
    # Compared as text: the models keep unknown statuses as plain str.
    return said is not None and now is not None and said != str(now)


async def fetch_current(client: StateReader, event: WebhookEvent) -> CurrentState:
    """Re-fetch the escrow or identity verification ``event`` is about.

    ``client.escrows.get`` for escrow events, ``client.identity_verifications.get``
    for identity events; API errors (e.g. ``NotFoundError``) propagate, so a
    receiver answers 5xx and DHMAD retries. ``stale`` compares statuses only
    (the escrow status; ``kyc_status``, and ``claim_status`` for a ``linked``
    event): an older ``updatedAt`` alone is not stale, since an
    ``escrow.updated`` may overtake a ``paid`` that is still true.
    """
    if isinstance(event, EscrowEvent):
        escrow_id = event.escrow_id
        if escrow_id is not None:
            escrow = await client.escrows.get(escrow_id)
            return CurrentState(escrow, _differs(event.status, escrow.status))
    elif isinstance(event, _IdentityEvent):
        verification_id = event.verification_id
        if verification_id is not None:
            record = await client.identity_verifications.get(verification_id)
            stale = _differs(event.kyc_status, record.kyc_status)
            if isinstance(event, IdentityVerificationLinked):
                stale = stale or _differs(event.verification.claim_status, record.claim_status)
            return CurrentState(record, stale)
    return CurrentState(None, False)


def current_state_handler(
    client: StateReader,
    handler: Callable[[WebhookEvent, CurrentState], Awaitable[None]],
    *,
    skip_stale: bool = True,
) -> Callable[[WebhookEvent], Awaitable[None]]:
    """Wrap ``handler(event, current)`` so it runs with the re-fetched state.

    A stale event (its status is no longer the resource's) is logged and
    skipped when ``skip_stale`` (the delivery is still acknowledged: it was
    received, there is just nothing to do). This makes a replayed old event
    harmless; it cannot make harmless a replay of an event that is still
    current, so keep irreversible actions idempotent per escrow as well.
    """

    async def run(event: WebhookEvent) -> None:
        current = await fetch_current(client, event)
        if current.stale and skip_stale:
            logger.info(
                "stale webhook event %s (%s) skipped: the resource has moved on",
                event.id,
                event.type,
            )
            return
        await handler(event, current)

    return run
