"""The base of every response model, user references and pagination. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Pagination", "UserRef", "WireModel"]


@attrs.frozen(kw_only=True)
class WireModel:
    """
    The base of every response model: what the server sent beyond the declared fields.

    ``extra`` maps each JSON key of the object that the model does not
    declare (a field DHMAD added after this SDK version, say) to its value as
    received: strings, booleans, ``Decimal`` numbers, lists and dicts. It is
    empty when the object held nothing else, and it goes back to the wire
    with the model (``unstructure``), so nothing the server said is lost.
    """

    #: JSON keys of this object that the model does not declare, with their raw values.
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class UserRef(WireModel):
    """A user as embedded in an escrow (``seller``/``buyer``); ``id`` also reads ``_id``."""

    #: ``None`` when the server embeds a user without its id (not seen in the docs).
    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@attrs.frozen(kw_only=True)
class Pagination(WireModel):
    """Position in a paginated list (REFERENCE §1.9)."""

    page: int
    limit: int
    total: int
    pages: int
