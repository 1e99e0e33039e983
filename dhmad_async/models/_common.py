"""Models shared by several API areas: user references and pagination. Pure: no I/O."""

from __future__ import annotations

import attrs

__all__ = ["Pagination", "UserRef"]


@attrs.frozen(kw_only=True)
class UserRef:
    """A user as embedded in an escrow (``seller``/``buyer``); ``id`` also reads ``_id``."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@attrs.frozen(kw_only=True)
class Pagination:
    """Position in a paginated list (REFERENCE §1.9)."""

    page: int
    limit: int
    total: int
    pages: int
