"""The base of every resource group, and the checks run before anything is sent. Pure."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from dhmad_async._errors import InvalidParamsError
from dhmad_async._serialization import structure_response

if TYPE_CHECKING:  # pragma: no cover
    from dhmad_async._client import _BaseClient

__all__ = ["InvalidParamsError", "Resource", "Violations", "path_id"]

T = TypeVar("T")

# Deliberately loose: one "@", no spaces, a dot in the domain. The server is
# the authority on deliverability; this only catches obvious slips early.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Violations:
    """Collects every broken rule of one call, so the caller sees them all at once."""

    def __init__(self, what: str) -> None:
        self._what = what
        self.errors: dict[str, str] = {}

    def add(self, field: str, rule: str) -> None:
        """Record that ``field`` breaks ``rule`` (the first rule per field wins)."""
        self.errors.setdefault(field, rule)

    def raise_if_any(self) -> None:
        """Raise :class:`InvalidParamsError` if a rule was broken."""
        if self.errors:
            raise InvalidParamsError(self._what, self.errors)

    def text(self, field: str, value: object, *, max_len: int, min_len: int = 0) -> None:
        """``value`` must be a string of ``min_len``..``max_len`` characters."""
        if not isinstance(value, str):
            self.add(field, f"must be a string, got {type(value).__name__}")
        elif len(value.strip()) < min_len:
            self.add(field, "is required and must not be blank")
        elif len(value) > max_len:
            self.add(field, f"must be at most {max_len} characters (got {len(value)})")

    def email(self, field: str, value: object) -> None:
        """``value`` must look like an e-mail address."""
        if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()):
            self.add(field, "must be an e-mail address")

    def money(self, field: str, value: object, *, minimum: Decimal | None = None) -> Decimal | None:
        """``value`` must be an exact, finite, positive amount; returns it as ``Decimal``."""
        amount = to_decimal(value)
        if amount is None:
            self.add(
                field,
                "must be a Decimal, int or numeric string"
                + (" (floats cannot hold money exactly)" if isinstance(value, float) else ""),
            )
            return None
        if amount <= 0:
            self.add(field, f"must be greater than 0 (got {amount})")
        elif minimum is not None and amount < minimum:
            self.add(field, f"must be at least {minimum} (got {amount})")
        return amount

    def whole(self, field: str, value: object, *, minimum: int, maximum: int | None = None) -> None:
        """``value`` must be an integer within bounds."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be a whole number, got {type(value).__name__}")
        elif value < minimum:
            self.add(field, f"must be at least {minimum} (got {value})")
        elif maximum is not None and value > maximum:
            self.add(field, f"must be at most {maximum} (got {value})")


def to_decimal(value: object) -> Decimal | None:
    """An exact ``Decimal`` from a Decimal, int or numeric string; ``None`` otherwise."""
    if isinstance(value, (bool, float)):
        return None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return amount if amount.is_finite() else None


def path_id(name: str, value: object) -> str:
    """An id for a URL path: non-empty, and escaped so it cannot change the path."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidParamsError("request", {name: "must be a non-empty id string"})
    return quote(value.strip(), safe="")


class Resource:
    """A group of endpoints bound to a client (``client.escrows``, ``client.account``, …)."""

    __slots__ = ("_client",)

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"

    @staticmethod
    def _parse(data: Any, cls: type[T], *, key: str | None = None) -> T:
        """
        Structure ``data`` into ``cls``, without its envelopes (``data``, or ``key``).

        Pass it to the client as ``parse=`` so it runs inside the send pipeline,
        where a failure after a POST was sent is flagged ``may_have_succeeded``.
        """
        return structure_response(data, cls, key=key)
