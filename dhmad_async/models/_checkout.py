"""Models for checkout sessions. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from dhmad_async.models._common import WireModel
from dhmad_async.models._enums import CheckoutAction, SessionStatus

__all__ = ["CheckoutSession", "CheckoutSessionCreated"]


@attrs.frozen(kw_only=True)
class CheckoutSessionCreated(WireModel):
    """Response of ``POST /escrows/:id/sessions``: where to send the user."""

    session_id: str
    #: Hosted page on dhmad.tn (``/checkout/:sessionId``); short-lived, single use.
    url: str
    expires_at: dt.datetime


@attrs.frozen(kw_only=True)
class CheckoutSession(WireModel):
    """A checkout session as returned by ``GET /sessions/:id``."""

    session_id: str
    escrow_id: str
    action: CheckoutAction | str
    target_user_email: str
    #: Only ``"completed"`` is documented.
    status: SessionStatus | str
    #: Your key/values from creation, echoed back (``None`` when you gave none).
    metadata: dict[str, Any] | None
    expires_at: dt.datetime
    #: ``None`` until the user completes the session.
    completed_at: dt.datetime | None
    created_at: dt.datetime
