"""
Read the server's rate-limit hints from a response into :class:`ServerRateLimit`. Pure: no I/O.

DHMAD's Rate Limits guide says every response carries rate-limit headers but
their names are UNKNOWN, and only the 429 body field
``retryAfter`` is documented. So every common variant
is accepted, and anything unparseable is ignored rather than raised:

- ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (and ``X-RateLimit-Reset-After``);
- IETF draft ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset``;
- the combined ``RateLimit`` field, both ``limit=100, remaining=50, reset=30``
  and the later structured form ``"default";r=50;t=30``;
- ``RateLimit-Policy: 100;w=60`` (or ``"default";q=100;w=60``) for the window;
- ``Retry-After`` as seconds (int or float) or an HTTP-date, ``retry-after-ms``,
  and the body's ``retryAfter`` on a 429 (its unit is undocumented: see
  :attr:`~dhmad_async.RateLimit.retry_after_unit`).

Every duration is clamped to ``[0, MAX_SERVER_WAIT]`` (one day): ``Retry-After:
1e300``, ``inf`` or a year-9999 date would otherwise stop a client for ever,
and a real block longer than a day is found lifted by the limiter's probe
anyway. NaN and unparseable values are ignored.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import attrs

from dhmad_async._config import RetryAfterUnit

__all__ = [
    "MAX_SERVER_WAIT",
    "RATE_LIMIT_HEADERS",
    "ServerRateLimit",
    "parse_retry_after",
    "parse_server_rate_limit",
]

#: The longest wait (seconds) read from any server hint; longer values are clamped to it.
MAX_SERVER_WAIT: Final = 86_400.0

#: A reset value at or above this is epoch *milliseconds* (1e11 s would be the year 5138,
#: while 1e11 ms is 1973, before any server we talk to existed).
EPOCH_MS_THRESHOLD: Final = 1e11
#: A reset value at or above this (and below :data:`EPOCH_MS_THRESHOLD`) is epoch *seconds*
#: (1e9 s is 2001-09-09); below it, a delta in seconds (up to ~31 years, far beyond any window).
EPOCH_S_THRESHOLD: Final = 1e9


@attrs.frozen
class ServerRateLimit:
    """
    What the server said about our budget; every duration is in seconds from *now*.

    ``None`` means the response did not say.
    """

    #: Requests allowed per window.
    limit: int | None = None
    #: Requests left in the current window.
    remaining: int | None = None
    #: Seconds until the budget resets (or the oldest request leaves the window).
    reset_after: float | None = None
    #: Seconds the server asked us to wait before the next request (a 429).
    retry_after: float | None = None
    #: The window length in seconds (from ``RateLimit-Policy``).
    window: float | None = None
    #: True when the server refused the request for its rate limit (a 429).
    rejected: bool = False

    @property
    def pause_for(self) -> float | None:
        """
        Seconds every sender must wait: the server's ``Retry-After``, and only that.

        ``remaining == 0`` is deliberately not a pause: on DHMAD's sliding
        window the next slot frees when the oldest request leaves it, which
        the sliding log already knows, while ``reset`` is often rounded to
        whole seconds (pausing on it halved throughput at the limit). A budget
        spent by other processes is handled by topping the log up instead.
        """
        return None if self.retry_after is None else max(0.0, self.retry_after)


def _number(text: object) -> float | None:
    """Parse a finite number from a header token, a JSON number or a Decimal; else None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float | Decimal):
        value = float(text)
    elif isinstance(text, str):
        token = text.strip().strip('"').strip()
        if not token:
            return None
        try:
            value = float(token)
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _wait(text: object) -> float | None:
    """Like :func:`_number`, but an infinite wait is kept (and later clamped); NaN is None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float | Decimal):
        value = float(text)
    elif isinstance(text, str):
        token = text.strip().strip('"').strip()
        try:
            value = float(token) if token else math.nan
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(value) else value


def _count(text: object) -> int | None:
    """Parse a request count; a fractional or garbage value is ignored."""
    value = _number(text)
    if value is None or value != int(value):
        return None
    return int(value)


def _first_item(value: str) -> str:
    """The first list member without parameters: ``"100, 100;w=60"`` -> ``"100"``."""
    return value.split(",", 1)[0].split(";", 1)[0]


def _params(value: str) -> dict[str, str]:
    """
    Collect ``key=value`` pairs from a list/parameter header, first occurrence winning.

    Handles both ``limit=100, remaining=50`` and ``"default";r=50;t=30``.
    """
    found: dict[str, str] = {}
    for item in value.split(","):
        for member in item.split(";"):
            key, sep, val = member.partition("=")
            if sep:
                found.setdefault(key.strip().lower(), val.strip())
    return found


def _http_date_delta(text: str, now: float) -> float | None:
    """Seconds from ``now`` to an HTTP-date, or None when it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        # A year beyond 9999 does not fit a datetime: as absurd as 1e300 seconds.
        return math.inf if _looks_like_far_date(text) else None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; obsolete forms may lack the zone.
        when = when.replace(tzinfo=_dt.UTC)
    try:
        return when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None


def _looks_like_far_date(text: str) -> bool:
    """True for an HTTP-date whose year has five or more digits (``31 Dec 99999 ...``)."""
    return any(part.isdigit() and len(part) >= 5 for part in text.replace(",", " ").split())


def _reset_delta(text: str, now: float) -> float | None:
    """
    Seconds until a reset given as delta seconds, epoch seconds or epoch milliseconds.

    The form is decided by magnitude (see :data:`EPOCH_S_THRESHOLD` and
    :data:`EPOCH_MS_THRESHOLD`); an HTTP-date is accepted too.
    """
    value = _number(_first_item(text))
    if value is None:
        return _http_date_delta(text, now)  # the whole text: a date contains a comma
    if value >= EPOCH_MS_THRESHOLD:
        return value / 1000.0 - now
    if value >= EPOCH_S_THRESHOLD:
        return value - now
    return value


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """``Retry-After``/``retry-after-ms`` in seconds from now (clamped at 0), or None."""
    return _clamp(_retry_after_header(headers, now))


def _retry_after_header(headers: Mapping[str, str], now: float) -> float | None:
    # openai-python's order: the precise milliseconds form first, then seconds, then a date.
    millis = _wait(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    text = headers.get("retry-after")
    if text is None:
        return None
    seconds = _wait(text)
    if seconds is not None:
        return seconds
    return _http_date_delta(text, now)


def body_retry_after_seconds(value: float, unit: RetryAfterUnit, window: float) -> float:
    """
    Seconds meant by the 429 body's ``retryAfter`` value, read in ``unit``.

    ``"auto"`` reads seconds unless the value is longer than ``window`` and,
    read as milliseconds, fits in it: on a sliding window no honest wait is
    longer than the window, so ``3600`` on a 60 s window is 3.6 s.
    """
    if unit == "milliseconds":
        return value / 1000.0
    if unit == "auto" and value > window and value / 1000.0 <= window:
        return value / 1000.0
    return value


def _body_retry_after(body: object, unit: RetryAfterUnit, window: float) -> float | None:
    """The 429 body's ``retryAfter`` (documented example ``"retryAfter":3600``) in seconds."""
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return None
    if not isinstance(body, Mapping):
        return None
    for key in ("retryAfter", "retry_after"):
        value = _wait(body.get(key))
        if value is not None:
            return body_retry_after_seconds(value, unit, window)
    return None


def _clamp(value: float | None) -> float | None:
    """``value`` within ``[0, MAX_SERVER_WAIT]``; None stays None."""
    return None if value is None else min(MAX_SERVER_WAIT, max(0.0, value))


#: The response headers :func:`parse_server_rate_limit` reads outside a 429, kept beside
#: it so the two change together: a response with none of them carries no hint, and the
#: client skips the parse (most answers).
RATE_LIMIT_HEADERS: Final = frozenset(
    {
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "ratelimit",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    }
)


def parse_server_rate_limit(
    status: int,
    headers: Mapping[str, str],
    body: object,
    now: float,
    *,
    retry_after_unit: RetryAfterUnit = "seconds",
    window: float = 60.0,
    assume_exhausted_on_429: bool = True,
) -> ServerRateLimit | None:
    """
    Extract the rate-limit hints of one response; None when there are none.

    :param status: The HTTP status.
    :param headers: The response headers, keys lower-case.
    :param body: The decoded JSON body (or raw bytes/str; anything else is ignored).
    :param now: The current epoch time in seconds, for epoch resets and HTTP-dates.
    :param retry_after_unit: The unit of the body's ``retryAfter``; it is not
        documented (seconds is inferred), so it is configurable (see
        :func:`body_retry_after_seconds`).
    :param window: The client's window in seconds, for ``retry_after_unit="auto"``.
    :param assume_exhausted_on_429: A 429 that states no ``remaining`` is read as
        ``remaining=0``: the server just said our budget is spent (inference).

    ``retry_after`` is only read on a 429: other statuses' ``Retry-After``
    (e.g. a 503) belongs to the retry policy, not to the shared budget.
    Durations clamp to ``[0, MAX_SERVER_WAIT]``; garbage values are ignored, never raised.
    """
    combined = _params(headers.get("ratelimit", ""))
    policy_text = headers.get("ratelimit-policy", "")
    policy = _params(policy_text)

    limit: int | None = None
    for text in (
        headers.get("x-ratelimit-limit"),
        headers.get("ratelimit-limit"),
        combined.get("limit"),
        combined.get("q"),
        policy.get("q"),
        _first_item(policy_text) if policy_text else None,
    ):
        if text is not None:
            limit = _count(_first_item(text))
            if limit is not None:
                break
    if limit is not None and limit <= 0:
        limit = None

    remaining: int | None = None
    for text in (
        headers.get("x-ratelimit-remaining"),
        headers.get("ratelimit-remaining"),
        combined.get("remaining"),
        combined.get("r"),
    ):
        if text is not None:
            remaining = _count(_first_item(text))
            if remaining is not None:
                # A negative count means "over the limit": nothing is left.
                remaining = max(0, remaining)
                break

    reset_after: float | None = None
    for text in (
        headers.get("x-ratelimit-reset-after"),
        headers.get("x-ratelimit-reset"),
        headers.get("ratelimit-reset"),
        combined.get("reset"),
        combined.get("t"),
    ):
        if text is not None:
            reset_after = _reset_delta(text, now)
            if reset_after is not None:
                break

    policy_window = _number(policy.get("w")) if policy.get("w") is not None else None
    if policy_window is not None and policy_window <= 0:
        policy_window = None

    retry_after: float | None = None
    if status == 429:
        retry_after = _retry_after_header(headers, now)
        if retry_after is None:
            retry_after = _body_retry_after(body, retry_after_unit, window)
        if remaining is None and assume_exhausted_on_429:
            remaining = 0

    info = ServerRateLimit(
        limit=limit,
        remaining=remaining,
        reset_after=_clamp(reset_after),
        retry_after=_clamp(retry_after),
        window=policy_window,
        rejected=status == 429,
    )
    if info == ServerRateLimit():
        return None
    return info
