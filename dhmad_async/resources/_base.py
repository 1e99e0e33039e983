"""The base of every resource group, and the checks run before anything is sent. Pure."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeAlias, TypeVar, cast
from urllib.parse import quote, unquote

from dhmad_async._errors import InvalidParamsError
from dhmad_async._serialization import structure_response
from dhmad_async.models import Unknown

if TYPE_CHECKING:  # pragma: no cover
    from dhmad_async._client import _BaseClient
    from dhmad_async._pagination import AsyncPager
    from dhmad_async._response import APIResponse

__all__ = [
    "MAX_AMOUNT",
    "MAX_ID_LENGTH",
    "MONEY_PLACES",
    "ExtraHeaders",
    "InvalidParamsError",
    "Resource",
    "Violations",
    "path_id",
    "raw_first_page",
    "raw_method",
    "to_decimal",
]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
PageT = TypeVar("PageT")

#: What every resource method's ``extra_headers=`` takes: headers added to this call only.
ExtraHeaders: TypeAlias = Mapping[str, str] | None

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
        """
        ``value`` must be an exact positive amount within :data:`MAX_AMOUNT`, in millimes.

        At most :data:`MONEY_PLACES` decimal places (``10.0001`` is refused, never
        rounded). Returns the amount as ``Decimal``, or None if it was refused.
        """
        amount = self._decimal(field, value)
        if amount is None:
            return None
        if amount.is_zero() or amount.is_signed():
            self.add(field, f"must be greater than 0 (got {amount})")
        elif problem := _bounds_problem(
            amount, MONEY_PLACES, MAX_AMOUNT, f"must be at most {MAX_AMOUNT}"
        ):
            self.add(field, problem)
        elif minimum is not None and amount < minimum:
            self.add(field, f"must be at least {minimum} (got {amount})")
        return amount

    def percentage(self, field: str, value: object) -> Decimal | None:
        """``value`` must be an exact percentage from 0 to 100, with at most 3 decimal places."""
        rule = "must be a percentage from 0 to 100"
        amount = self._decimal(field, value, rule=rule)
        if amount is None:
            return None
        if amount.is_signed() and not amount.is_zero():
            self.add(field, f"{rule} (got {amount})")
        elif problem := _bounds_problem(amount, PERCENT_PLACES, _HUNDRED, rule):
            self.add(field, problem)
        return amount

    def _decimal(self, field: str, value: object, *, rule: str | None = None) -> Decimal | None:
        amount = to_decimal(value)
        if amount is None:
            self.add(
                field,
                (rule or "must be a Decimal, int or numeric string")
                + (" (floats cannot hold money exactly)" if isinstance(value, float) else ""),
            )
        return amount

    def choice(self, field: str, value: object, allowed: Iterable[str]) -> None:
        """
        ``value`` must be one of the documented ``allowed`` values, or an :class:`Unknown`.

        ``Unknown("new_value")`` is the escape for a value DHMAD added after this
        SDK version: it is sent as given and the server decides.
        """
        if isinstance(value, Unknown):
            return
        options = tuple(allowed)
        if not isinstance(value, str) or value not in options:
            self.add(
                field,
                f"must be one of {', '.join(options)} (got {value!r}); wrap a value this"
                " SDK does not know yet in dhmad_async.Unknown(...)",
            )

    def boolean(self, field: str, value: object) -> None:
        """``value`` must be ``True`` or ``False``; strings are refused (``"false"`` is truthy)."""
        if not isinstance(value, bool):
            self.add(field, f"must be True or False, got {type(value).__name__}")

    def whole(self, field: str, value: object, *, minimum: int, maximum: int | None = None) -> None:
        """``value`` must be an integer within bounds."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be a whole number, got {type(value).__name__}")
        elif value < minimum:
            self.add(field, f"must be at least {minimum} (got {value})")
        elif maximum is not None and value > maximum:
            self.add(field, f"must be at most {maximum} (got {value})")


#: The largest amount sent: below 10^9 in the escrow's currency. The server's
#: own limit is not documented; this one keeps every amount exact in a
#: JavaScript number (15 significant digits) and stops absurd inputs early.
MAX_AMOUNT: Final = Decimal("999999999.999")
#: Money has at most 3 decimal places: 1 millime is 0.001 TND.
MONEY_PLACES: Final = 3
#: Percentages (the developer fee) have at most 3 decimal places too.
PERCENT_PLACES: Final = 3
_HUNDRED: Final = Decimal(100)
#: Numeric strings longer than this are not amounts (and are not parsed).
_MAX_NUMBER_TEXT: Final = 64


def _bounds_problem(amount: Decimal, places: int, maximum: Decimal, too_large: str) -> str | None:
    """
    Why a finite ``amount`` is too large (``too_large``) or too precise, or None.

    The magnitude and the decimal places are read from the exponent and digit
    count (no arithmetic), so ``1e99999999`` is refused at once instead of
    raising ``decimal.Overflow`` or being written out as 10^8 digits.
    """
    if amount.adjusted() > maximum.adjusted():
        return f"{too_large} (got {amount})"
    _, digits, exponent = amount.as_tuple()
    if isinstance(exponent, int) and exponent < -places:
        # Trailing zeros are exact (10.0000 is 10.000); any other digit past the
        # last allowed place is finer than the currency can hold, and never rounded.
        past = -exponent - places
        if any(digits[-past:]):
            unit = " (1 millime = 0.001 TND)" if places == MONEY_PLACES else ""
            return f"must have at most {places} decimal places{unit}, got {amount}"
    # Bounded magnitude and few digits: comparing is now cheap and exact.
    if abs(amount) > maximum:
        return f"{too_large} (got {amount})"
    return None


def to_decimal(value: object) -> Decimal | None:
    """An exact ``Decimal`` from a Decimal, int or numeric string; ``None`` otherwise."""
    if isinstance(value, (bool, float)):
        return None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        if len(value) > _MAX_NUMBER_TEXT:
            return None
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return amount if amount.is_finite() else None


#: Longest id accepted in a path (DHMAD's ids are 24 to 36 characters).
MAX_ID_LENGTH: Final = 256
# Control, invisible-format, surrogate and line/paragraph-separator characters:
# never part of a real id, and each has fooled some parser or log reader.
_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _segment_problem(text: str) -> str | None:
    """Why ``text`` could leave (or blur) its path segment, or None if it cannot."""
    if len(text) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters (got {len(text)})"
    # What the server (or a proxy in front of it) may see: the id as sent,
    # decoded once or twice more by over-eager intermediaries, and folded by
    # Unicode compatibility normalisation ("\u2025" becomes "..").
    forms = [text]
    for _ in range(2):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for form in forms:
        for variant in (form, unicodedata.normalize("NFKC", form)):
            if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in variant):
                return "must not contain control or invisible characters"
            if "/" in variant or "\\" in variant:
                return "must not contain '/' or '\\' (an id is one path segment)"
            # Tomcat-style servers drop ";params" from a segment: "..;x" is "..".
            if variant.split(";", 1)[0].strip() in (".", ".."):
                return "must not be '.' or '..' (they are path navigation, not ids)"
    return None


# Ids made of these characters only cannot leave their segment in any of the ways
# _segment_problem looks for, and quote() leaves them as they are: the common case
# (DHMAD ids are hex or UUIDs) skips the Unicode checks.
_PLAIN_ID: Final = re.compile(rf"[0-9A-Za-z_-]{{1,{MAX_ID_LENGTH}}}")


def path_id(name: str, value: object) -> str:
    """
    An id as one URL path segment, percent-escaped; refused if it could change the path.

    Ids are opaque, so any string is accepted except the few that could
    escape their segment on the way to the server: blank, ``.`` and ``..``
    (also percent-encoded, Unicode look-alikes, or with a ``;`` suffix),
    ``/`` and ``\\``, control and invisible characters, and more than
    :data:`MAX_ID_LENGTH` characters. Surrounding whitespace is stripped.
    Raises :class:`InvalidParamsError` naming ``name``; nothing is sent.
    """
    if type(value) is str and _PLAIN_ID.fullmatch(value):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidParamsError("request", {name: "must be a non-empty id string"})
    text = value.strip()
    problem = _segment_problem(text)
    if problem is not None:
        raise InvalidParamsError("request", {name: problem})
    return quote(text, safe="")


def raw_method(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[APIResponse[R]]]:
    """
    ``method`` of a resource bound to a client's raw-response view, typed as it answers there.

    On that view the pipeline returns an :class:`~dhmad_async.APIResponse`
    whose ``parse()`` gives what ``method`` returns on the plain client; this
    only tells the type checker so, keeping every parameter of ``method``.
    """
    return cast("Callable[P, Awaitable[APIResponse[R]]]", method)


def raw_first_page(
    method: Callable[P, AsyncPager[Any, PageT]],
) -> Callable[P, Awaitable[APIResponse[PageT]]]:
    """A list method of a raw-response view, answering its first page as an APIResponse."""

    @functools.wraps(method)
    async def first_page(*args: P.args, **kwargs: P.kwargs) -> APIResponse[PageT]:
        answer: Any = await method(*args, **kwargs)
        return cast("APIResponse[PageT]", answer)

    return first_page


class Resource:
    """A group of endpoints bound to a client (``client.escrows``, ``client.account``, …)."""

    __slots__ = ("_client",)

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} resource>"

    def _raw_client(self) -> _BaseClient:
        """The client's raw-response view, for ``with_raw_response``."""
        return self._client._raw_view()

    @staticmethod
    def _parse(data: Any, cls: type[T], *, key: str | None = None) -> T:
        """
        Structure ``data`` into ``cls``, without its envelopes (``data``, or ``key``).

        Pass it to the client as ``parse=`` so it runs inside the send pipeline,
        where a failure after a POST was sent is flagged ``may_have_succeeded``.
        """
        return structure_response(data, cls, key=key)
