"""
Frozen option objects and defaults. Pure: no I/O.

Options are normalised at the client boundary (a float becomes a
:class:`Timeout`), so the rest of the code only ever sees these value objects.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Final, Literal, TypeAlias

import attrs

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_TIMEOUT",
    "PRODUCTION_BASE_URL",
    "SANDBOX_BASE_URL",
    "USE_CLIENT_DEFAULT",
    "RateLimit",
    "RetryAfterUnit",
    "RetryPolicy",
    "Timeout",
    "TimeoutArg",
    "UseClientDefault",
]

# The key prefix tells the environment (docs/dhmad-api.md#environments-and-credentials).
PRODUCTION_BASE_URL: Final = "https://dhmad.tn/api/v1"
SANDBOX_BASE_URL: Final = "https://sandbox.dhmad.tn/api/v1"


class UseClientDefault(enum.Enum):
    """
    Sentinel for per-call options: "use what the client was configured with".

    ``None`` cannot mean that, because ``timeout=None`` means "no timeout".
    """

    USE_CLIENT_DEFAULT = enum.auto()

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault.USE_CLIENT_DEFAULT


def _non_negative_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(
            f"{attribute.name} must be a positive number of seconds or None, got {value!r}"
        )


@attrs.frozen
class Timeout:
    """
    Time limits for **one attempt** of one request, in seconds (``None``: no limit).

    Waiting for the rate limiter and for a free pooled connection is *not*
    counted here (aiohttp counts pool waits as timeouts; we do not), so a busy
    batch never turns into spurious timeouts.
    """

    total: float | None = attrs.field(default=60.0, validator=_non_negative_or_none)
    connect: float | None = attrs.field(default=10.0, validator=_non_negative_or_none)
    read: float | None = attrs.field(default=30.0, validator=_non_negative_or_none)

    @classmethod
    def from_value(cls, value: Timeout | float | None) -> Timeout:
        """Normalise a number (total seconds), ``None`` (no limit) or a ``Timeout``."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        return cls(total=float(value), connect=min(float(value), 10.0), read=float(value))


DEFAULT_TIMEOUT: Final = Timeout()

#: What a per-call ``timeout=`` accepts: a Timeout, total seconds, None (no limit),
#: or USE_CLIENT_DEFAULT.
TimeoutArg: TypeAlias = Timeout | float | UseClientDefault | None


def _zero_or_more_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value >= 0:  # NaN fails too
        raise ValueError(f"{attribute.name} must be >= 0 seconds or None, got {value!r}")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    # A typed converter: a bare `converter=frozenset` makes mypy reject `{500, 502}`.
    return frozenset(statuses)


@attrs.frozen
class RetryPolicy:
    """
    When and how often a failed request is tried again.

    Names follow stamina: ``attempts`` counts the first try; the wait before
    retry *n* is ``min(wait_max, wait_initial * wait_exp_base ** (n - 1))``
    plus a random ``[0, wait_jitter)``; ``timeout`` bounds the whole call
    including waits. A server-given ``Retry-After`` replaces the computed wait
    (plus positive jitter, never less than the server asked).

    Idempotent calls (GET, PUT, DELETE) retry on connection errors, timeouts
    and ``retry_statuses``. POSTs retry only when the request certainly did not
    take effect: a 429, or a connection failure before it was sent.
    """

    attempts: int = attrs.field(default=4)
    timeout: float | None = attrs.field(default=120.0, validator=_non_negative_or_none)
    wait_initial: float = attrs.field(default=0.5, validator=_non_negative)
    wait_max: float = attrs.field(default=8.0, validator=_non_negative)
    wait_jitter: float = attrs.field(default=0.5, validator=_non_negative)
    wait_exp_base: float = attrs.field(default=2.0, validator=_positive)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 502, 503, 504}), converter=_status_set
    )

    @attempts.validator
    def _check_attempts(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"attempts must be >= 1 (1 means no retries), got {value!r}")

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)


DEFAULT_RETRY_POLICY: Final = RetryPolicy()


#: How the 429 body's ``retryAfter`` is read when no header gives the wait (see
#: :attr:`RateLimit.retry_after_unit`).
RetryAfterUnit: TypeAlias = Literal["seconds", "milliseconds", "auto"]
_RETRY_AFTER_UNITS: Final = ("seconds", "milliseconds", "auto")
# The default margin is this share of the window: 1 s on DHMAD's 60 s window.
_MARGIN_SHARE: Final = 1 / 60


@attrs.frozen
class RateLimit:
    """
    The client-side request budget, modelled on the server's limit.

    DHMAD allows ``requests`` per sliding ``per`` seconds per IP (100 per
    minute, docs/dhmad-api.md#rate-limits). The limiter admits a request only
    when fewer than ``requests`` were sent in the last ``per + margin``
    seconds, and smooths starts with a bucket of ``burst`` tokens refilled at
    ``requests / per``: a full 100-token bucket would trip a sliding-window
    server at start-up.

    Args:
        requests: Requests allowed per window (a custom per-key limit shows as
            ``apiKey.rateLimit`` in ``GET /me``).
        per: Window length in seconds.
        burst: How many requests may start back to back after an idle period.
        margin: Extra seconds added to the window against network jitter.
            ``None`` (the default) means ``per / 60``: 1 s on a 60 s window,
            so a short window keeps its speed (``RateLimit(requests=10,
            per=1.0)`` counts over 1.017 s, not 2 s).
        max_server_wait: A server-imposed wait (``Retry-After``) longer than
            this is not slept through: calls fail at once with
            :class:`~dhmad_async.RateLimitError`, except one probe request per
            ``per`` seconds that finds out when the server lifts its block.
        max_wait: Longest a caller waits for the local budget before
            :class:`~dhmad_async.RateLimitError`; ``None`` waits as long as needed.
        pause_jitter: Upper bound of the random delay *added* to server waits so
            that processes sharing an IP do not resume in lockstep.
        retry_after_unit: The unit of the 429 body's ``retryAfter``, which the
            docs show (``"retryAfter": 3600``) without a unit; it is read only
            when no ``Retry-After``/``retry-after-ms`` header says the wait.
            ``"seconds"`` (the default, like the HTTP header),
            ``"milliseconds"``, or ``"auto"``: seconds, unless the value is
            longer than the window and fits in it once read as milliseconds
            (``3600`` on a 60 s window is then 3.6 s). Whatever the reading,
            a wait that turns out too long costs at most one window, because
            of the probe (see ``max_server_wait``).
        enabled: ``False`` turns client-side limiting off (429s are still honoured
            by retries).
    """

    requests: int = attrs.field(default=100)
    per: float = attrs.field(default=60.0, validator=_positive)
    burst: int = attrs.field(default=10)
    # per / 60 by default: the time-scaled benchmark showed 0.5 s (on 60 s)
    # letting arrival jitter push a request into the server's window at
    # start-up; 1 s gave none. An absolute 1 s halved a 1 s window.
    margin: float | None = attrs.field(default=None, validator=_zero_or_more_or_none)
    max_server_wait: float = attrs.field(default=120.0, validator=_non_negative)
    max_wait: float | None = attrs.field(default=None, validator=_non_negative_or_none)
    pause_jitter: float = attrs.field(default=0.5, validator=_non_negative)
    retry_after_unit: RetryAfterUnit = attrs.field(default="seconds")
    enabled: bool = True

    @requests.validator
    def _check_requests(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"requests must be >= 1, got {value!r}")

    @burst.validator
    def _check_burst(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not 1 <= value <= self.requests:
            raise ValueError(
                f"burst must be between 1 and requests ({self.requests}), got {value!r}"
            )

    @retry_after_unit.validator
    def _check_unit(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in _RETRY_AFTER_UNITS:
            raise ValueError(
                f"retry_after_unit must be one of {', '.join(_RETRY_AFTER_UNITS)}, got {value!r}"
            )

    @property
    def effective_margin(self) -> float:
        """The margin in seconds: ``margin``, or ``per / 60`` when it is ``None``."""
        return self.per * _MARGIN_SHARE if self.margin is None else self.margin

    @property
    def counted_window(self) -> float:
        """The window the client counts admissions over: ``per + effective_margin``."""
        return self.per + self.effective_margin

    @classmethod
    def disabled(cls) -> RateLimit:
        """No client-side limiting."""
        return cls(enabled=False)


DEFAULT_RATE_LIMIT: Final = RateLimit()
