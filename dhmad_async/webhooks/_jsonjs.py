"""
Re-serialise parsed JSON exactly as JavaScript's ``JSON.stringify`` would. Pure: no I/O.

Why: DHMAD's sample handler MACs ``JSON.stringify(req.body)``, so if the sender
signs a re-serialisation rather than the bytes it sends, the raw body will not
verify and only this byte-exact rendering will. Rules reproduced:
compact separators, non-ASCII kept, JS string escapes (control characters as
lower-case ``\\u00xx``, lone surrogates escaped), numbers as JS doubles printed
by ``Number.prototype.toString`` (``1e21`` -> ``1e+21``, ``1e-7`` -> ``1e-7``,
``100.0`` -> ``100``), and JS property order (array-index keys first, ascending).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["js_number", "js_stringify"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX_MAX = 2**32 - 2


def js_number(value: float | int | Decimal) -> str:
    """Format a number as JavaScript's ``String(Number(value))`` does."""
    try:
        number = float(value)
    except OverflowError:
        # An integer beyond a double's range: JavaScript parses it as Infinity.
        number = math.inf
    if not math.isfinite(number):
        return "null"  # JSON.stringify(Infinity) and NaN give null
    if number == 0:
        return "0"  # -0 prints as 0 as well
    # repr() gives the shortest round-trip digits, as ECMAScript's Number::toString requires.
    sign, digits_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    exponent = int(exponent) + (len(digits_tuple) - len(digits))
    k = len(digits)
    n = k + exponent  # value = 0.digits * 10**n
    prefix = "-" if sign else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * (-n) + digits
    e = n - 1
    exp = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return prefix + digits + "e" + exp
    return prefix + digits[0] + "." + digits[1:] + "e" + exp


def _js_string(text: str) -> str:
    # Python's escaping matches JSON.stringify's for everything but lone surrogates
    # (JS escapes them since ES2019; Python would emit them raw).
    out = json.dumps(text, ensure_ascii=False)
    if _LONE_SURROGATE.search(out):
        out = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", out)
    return out


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and str(int(key)) == key and int(key) <= _ARRAY_INDEX_MAX


def _keys_in_js_order(obj: Mapping[str, Any]) -> list[str]:
    keys = list(obj)
    indices = [key for key in keys if _is_array_index(key)]
    if not indices:
        return keys
    indices.sort(key=int)
    return indices + [key for key in keys if not _is_array_index(key)]


def _render(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, int | float | Decimal):
        out.append(js_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key in _keys_in_js_order(value):
            if not first:
                out.append(",")
            first = False
            out.append(_js_string(str(key)))
            out.append(":")
            _render(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _render(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def js_stringify(value: Any) -> bytes:
    """Return ``JSON.stringify(value)`` as UTF-8 bytes (lone surrogates are escaped first)."""
    out: list[str] = []
    _render(value, out)
    return "".join(out).encode("utf-8")
