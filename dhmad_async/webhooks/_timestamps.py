"""
Parse and format ``X-Webhook-Timestamp`` values. Pure: no I/O.

The format is not documented: DHMAD's sample parses it with
JavaScript ``new Date(...)``, so ISO 8601 is the inference (INF); numeric epoch
seconds and milliseconds are accepted defensively.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

__all__ = ["format_timestamp", "parse_timestamp"]

_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# Epoch values at or above this are milliseconds: 1e11 s is the year 5138,
# 1e11 ms is 1973, so the two ranges cannot be confused for real deliveries.
_MS_THRESHOLD = 1e11


def parse_timestamp(value: str) -> float | None:
    """Return epoch seconds for ``value``, or None when it is not a timestamp we understand.

    Accepts ISO 8601 with or without fractional seconds, with ``Z`` or an offset
    (no offset is read as UTC, an INF choice: JS would use local time), and
    numeric epoch seconds or milliseconds. Never raises.
    """
    if len(value) == 24 and value[4] == "-" and value[-1] == "Z":
        # Fast path for JS toISOString() output (the emulator's format).
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    if value.isascii() and value.isdigit() and len(value) <= 64:
        # Fast path for whole epoch seconds (or ms), e.g. Standard Webhooks' header:
        # what the numeric branch below gives, without the regex.
        number = float(value)
        return number / 1000.0 if number >= _MS_THRESHOLD else number
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        if _NUMERIC.fullmatch(text):
            number = float(text)
            if not math.isfinite(number):
                return None
            return number / 1000.0 if abs(number) >= _MS_THRESHOLD else number
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def format_timestamp(epoch: float) -> str:
    """Format epoch seconds as JavaScript's ``toISOString()`` does: ms precision and ``Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
