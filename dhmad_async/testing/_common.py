"""Shared helpers of the emulator: ids, timestamps, scaled clock, JSON, API errors. No I/O."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

__all__ = [
    "ApiError",
    "EmuClock",
    "MonotonicSource",
    "bad_request",
    "business_error",
    "dumps",
    "iso",
    "loads",
    "new_hex",
    "new_object_id",
    "new_uuid",
    "quantize_tnd",
]

JsonDict = dict[str, Any]


class MonotonicSource(Protocol):
    """Anything with ``monotonic()`` and ``time()`` (``SYSTEM`` or ``testing.FakeClock``)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class _SystemSource:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM = _SystemSource()


class EmuClock:
    """Emulated wall clock: starts at the real time and runs ``time_scale`` times faster.

    Durations the docs give in emulated time (the 60 s rate window, 30 min sessions,
    proof deadlines, webhook backoff) are turned into real seconds with :meth:`real`.
    """

    def __init__(self, time_scale: float = 1.0, source: MonotonicSource | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.source: MonotonicSource = source or SYSTEM
        self._wall0 = self.source.time()
        self._mono0 = self.source.monotonic()
        self.offset = 0.0  # emulated seconds added by ``Emulator.advance``

    def monotonic(self) -> float:
        """Real monotonic seconds (for rate-limit windows)."""
        return self.source.monotonic()

    def wall(self) -> float:
        """Real epoch seconds, unscaled (what a receiver's clock reads: delivery timestamps)."""
        return self.source.time()

    def now(self) -> float:
        """Emulated epoch seconds."""
        elapsed = self.source.monotonic() - self._mono0
        return self._wall0 + elapsed * self.time_scale + self.offset

    def real(self, emulated_seconds: float) -> float:
        """Real seconds that ``emulated_seconds`` of emulated time take."""
        return emulated_seconds / self.time_scale


def iso(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def new_object_id() -> str:
    """A 24-hex Mongo-style id."""
    return secrets.token_hex(12)


def new_uuid() -> str:
    """A UUID4 string (checkout session ids)."""
    return str(uuid.uuid4())


def new_hex(nbytes: int) -> str:
    """Random lowercase hex of ``2 * nbytes`` characters."""
    return secrets.token_hex(nbytes)


def quantize_tnd(value: Decimal) -> Decimal:
    """Round to millimes (TND has three decimals); INF, the docs only show 2-decimal values."""
    return value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def _default(obj: object) -> object:
    if isinstance(obj, Decimal):
        # float repr is the shortest round-tripping decimal, so amounts with few
        # digits (all money here) come out exactly, e.g. 1500.50 -> 1500.5.
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: object) -> str:
    """Compact JSON; ``Decimal`` becomes a JSON number."""
    return json.dumps(obj, default=_default, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """Parse JSON with floats as ``Decimal`` so money stays exact."""
    return json.loads(text, parse_float=Decimal)


class ApiError(Exception):
    """An HTTP error response the emulator sends: ``status`` and the exact JSON ``body``."""

    def __init__(self, status: int, body: JsonDict, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str, details: dict[str, str] | None = None) -> ApiError:
    """``{"error":"Bad Request","message":...[,"details":...]}``."""
    body: JsonDict = {"error": "Bad Request", "message": message}
    if details:
        body["details"] = details
    return ApiError(400, body)


def business_error(code: str, message: str, user_message: str | None = None) -> ApiError:
    """Checkout business-rule error with an object in ``error``."""
    return ApiError(
        400,
        {
            "error": {
                "type": "business_rule_violation",
                "code": code,
                "message": message,
                "user_message": user_message or message,
            }
        },
    )
