"""Models for ``GET /me`` and ``GET /balance``. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from dhmad_async.models._common import WireModel

__all__ = ["ApiKeyInfo", "Balance", "Developer", "Me"]


@attrs.frozen(kw_only=True)
class ApiKeyInfo(WireModel):
    """
    The API key making the request; never holds the key itself.

    Every field of the documented example is required; ``None`` is accepted
    where a value may be absent (a key never used, without expiry or metadata).
    """

    id: str
    name: str
    #: The first characters of the key, e.g. ``"sk_live_abc123"``.
    key_prefix: str
    #: ``"live"`` seen; ``"sandbox"`` inferred.
    environment: str
    is_active: bool
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    #: Requests per minute allowed for this key.
    rate_limit: int
    metadata: dict[str, Any] | None
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class Developer(WireModel):
    """The developer account owning the API key."""

    id: str
    email: str
    company_name: str | None


@attrs.frozen(kw_only=True)
class Me(WireModel):
    """Response of ``GET /me``: the key and its developer account."""

    api_key: ApiKeyInfo
    developer: Developer


@attrs.frozen(kw_only=True)
class Balance(WireModel):
    """Balance of the associated user in TND."""

    available: Decimal
    #: Top-ups and payouts in progress.
    pending: Decimal
    #: Funds held in active escrows.
    escrow: Decimal
