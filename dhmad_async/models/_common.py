"""The base of every response model, user references and pagination. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dhmad_async._sansio import encode_json
from dhmad_async._serialization import unstructure

__all__ = ["Pagination", "UserRef", "WireModel"]


@attrs.frozen(kw_only=True)
class WireModel:
    """
    The base of every response model: what the server sent beyond the declared fields.

    ``extra`` maps each JSON key of the object that the model does not
    declare (a field DHMAD added after this SDK version, say) to its value as
    received: strings, booleans, ``Decimal`` numbers, lists and dicts. It is
    empty when the object held nothing else, and it goes back to the wire
    with the model (:meth:`to_dict`), so nothing the server said is lost::

        escrow.extra.get("riskScore")     # a field this SDK version does not declare

    ``_request_id`` is the request id of the response this model was read
    from, when the server sent one (an ``X-Request-Id`` or ``Request-Id``
    header; DHMAD documents none, so it is usually ``None``). Only the
    top-level model of a response carries it. It is named with an underscore,
    like openai-python's, so that it can never collide with a field DHMAD adds,
    and it takes no part in equality, ``repr`` or :meth:`to_dict`.
    """

    #: JSON keys of this object that the model does not declare, with their raw values.
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: The request id of the response this model came from, if the server sent one.
    _request_id: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """
        The model as JSON-ready data under its wire (JSON) keys, ``extra`` included.

        Amounts stay exact ``Decimal`` values and datetimes become ISO 8601
        strings ending in ``Z``; ``type(model)`` can read the result back into
        an equal model. Secrets the model holds (a webhook ``secret``, OAuth
        tokens) are included: they are yours, but do not log the result whole.
        """
        data: dict[str, Any] = unstructure(self)
        return data

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text, amounts written with their exact digits."""
        return encode_json(self.to_dict()).decode("utf-8")


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
    """Position in a paginated list."""

    page: int
    limit: int
    total: int
    pages: int
