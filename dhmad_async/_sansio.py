"""
The DHMAD wire protocol as pure functions: build requests, decipher responses.

This module performs no I/O and reads no clock: plain values in, plain values
(or a raised :class:`~dhmad_async.DhmadError`) out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal
from urllib.parse import urlencode

import attrs

from dhmad_async._errors import (
    ResponseValidationError,
    error_class_for,
)
from dhmad_async._redact import credential_values, redact, redact_data

__all__ = [
    "NOT_JSON",
    "PreparedRequest",
    "auth_headers",
    "build_request",
    "decipher_response",
    "decode_json",
    "encode_json",
    "redact",
    "root_url",
]

AuthStyle = Literal["bearer", "x-api-key"]

#: Methods whose repetition has no extra effect (RFC 9110, section 9.2.2).
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@attrs.frozen
class PreparedRequest:
    """One request, ready to send: built once, replayed byte for byte on retries."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)  # carries the credential
    body: bytes | None = attrs.field(default=None, repr=False)
    #: Safe to send twice: GET/PUT/DELETE, or a POST the caller declared idempotent.
    idempotent: bool = False
    #: Path without the query string, for logs (queries may hold e-mail addresses).
    log_path: str = ""


class _NotJson:
    """Marker type for a body that is not JSON."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Final = _NotJson()

# Decimals are written as JSON numbers with their exact digits. The encoder
# first writes them as marked strings, then strips the quotes and markers;
# floats would round (0.1 + 0.2), and money is never allowed through float.
# The marker carries a fresh random nonce per call: with a fixed marker, a user
# string such as "\x00dec:1" (a title, say) was silently turned into the number 1.


#: No number is written with more digits than this. Validation bounds amounts
#: much tighter; this guards ``validate=False`` against ``Decimal("1e9999999")``,
#: which would otherwise be written out as a 10 MB request body.
MAX_NUMBER_DIGITS: Final = 100


def _plain_length(value: Decimal) -> int:
    """How many digits ``format(value, "f")`` would write, computed without writing them."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent >= 0:
        return len(digits) + exponent
    return max(len(digits), -exponent + 1)


def encode_json(data: object) -> bytes:
    """Serialise ``data`` compactly, writing ``Decimal`` values as exact JSON numbers."""
    mark = f"\x00dec{secrets.token_hex(8)}:"
    # Each marked string as json.dumps writes it (quoted, NUL escaped) -> its digits.
    written: dict[str, str] = {}

    def default(value: object) -> object:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"cannot send a non-finite amount: {value}")
            if _plain_length(value) > MAX_NUMBER_DIGITS:
                raise ValueError(
                    f"cannot send {value}: written out it has more than {MAX_NUMBER_DIGITS} digits"
                )
            digits = format(value, "f")
            written[f'"\\u0000{mark[1:]}{digits}"'] = digits
            return mark + digits
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=default)
    for marked, digits in written.items():
        text = text.replace(marked, digits)
    return text.encode("utf-8")


# One decoder for every body: json.loads(..., parse_float=Decimal) would build a new
# JSONDecoder (and its scanner) per call.
_DECIMAL_DECODER: Final = json.JSONDecoder(parse_float=Decimal)


def decode_json(body: bytes) -> Any:
    """Parse JSON with every non-integer number as ``Decimal`` (money never becomes float)."""
    if not isinstance(body, bytes | bytearray):
        return json.loads(body, parse_float=Decimal)
    # What json.loads does with bytes: UTF-8/16/32 told apart by their first bytes.
    return _DECIMAL_DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def root_url(base_url: str) -> str:
    """
    The non-versioned API root for a ``…/api/v1`` base URL.

    OAuth (``/api/oauth/*``) and webhook management
    (``/api/developer/webhooks``) live under ``/api``, not ``/api/v1``.
    """
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def auth_headers(credential: str, style: AuthStyle) -> dict[str, str]:
    """The authentication header for an API key (the two documented forms are equivalent)."""
    if style == "x-api-key":
        return {"X-API-Key": credential}
    return {"Authorization": f"Bearer {credential}"}


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_request(
    method: str,
    base_url: str,
    path: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, object] | None = None,
    json_body: object = None,
    idempotent: bool | None = None,
) -> PreparedRequest:
    """
    Build a request; ``None`` query values are dropped, booleans become ``true``/``false``.

    ``idempotent`` defaults to what the method implies; POSTs are not
    idempotent because DHMAD documents no idempotency keys.
    """
    method = method.upper()
    url = base_url.rstrip("/") + path
    query = {key: _query_value(value) for key, value in (params or {}).items() if value is not None}
    if query:
        url = f"{url}?{urlencode(query)}"
    all_headers = {"Accept": "application/json", **headers}
    body = None
    if json_body is not None:
        body = encode_json(json_body)
        all_headers["Content-Type"] = "application/json"
    return PreparedRequest(
        method=method,
        url=url,
        headers=all_headers,
        body=body,
        idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        log_path=path,
    )


def parse_body(headers: Mapping[str, str], body: bytes) -> Any:
    """Decode a response body: JSON when it parses, else :data:`NOT_JSON` (or None if empty)."""
    first = body[:1]
    if first == b"{" or first == b"[":
        # The common case, without the copies the whitespace checks below make.
        try:
            return decode_json(body)
        except (ValueError, UnicodeDecodeError):
            return NOT_JSON
    if not body.strip():
        return None
    # Servers mislabel JSON often enough (text/html error pages aside) that we
    # try to parse whatever starts like JSON, whatever the Content-Type says.
    if body.lstrip()[:1] not in (b"{", b"["):
        return NOT_JSON
    try:
        return decode_json(body)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _error_fields(data: object) -> dict[str, Any]:
    """
    Pull code/message/details out of every documented error body variant.

    ``{"error": "Unauthorized"}`` · ``{"error": "Escrow not found"}`` ·
    ``{"error", "message"[, "details"]}`` · ``{"error": {"type", "code",
    "message", "user_message"}}`` · OAuth ``{"error", "error_description"}``.
    """
    if not isinstance(data, Mapping):
        return {}
    fields: dict[str, Any] = {}
    error = data.get("error")
    message = _text(data.get("message")) or _text(data.get("error_description"))
    if isinstance(error, Mapping):
        fields["code"] = _text(error.get("code"))
        fields["error_type"] = _text(error.get("type"))
        fields["user_message"] = _text(error.get("user_message")) or _text(error.get("userMessage"))
        message = _text(error.get("message")) or message or fields["user_message"]
    elif _text(error):
        fields["code"] = error
        # A lone `error` is the human message on many endpoint pages ("Escrow not found").
        message = message or error
    # Some conflict bodies may carry the machine code at top level (PROOF_NOT_ACCEPTED, §2.7).
    fields["code"] = _text(data.get("code")) or fields.get("code")
    details = data.get("details")
    if isinstance(details, Mapping):
        fields["details"] = details
    fields["message"] = message
    return fields


def _snippet(body: bytes) -> str | None:
    """A short, single-line excerpt of a non-JSON error body (HTML pages are left out)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text or text.lstrip().startswith("<"):
        return None
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def decipher_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    data: Any,
    *,
    method: str | None = None,
    url: str | None = None,
    retry_after: float | None = None,
    request_headers: Mapping[str, str] | None = None,
) -> Any:
    """
    Return the decoded body of a 2xx response, or raise the matching error.

    ``data`` is :func:`parse_body`'s result for ``body``. Any 2xx is success
    (200 vs 201 per endpoint is not documented). The error's
    text fields and ``details`` are redacted, including the exact credential
    found in ``request_headers`` (a proxy may echo it back in any shape); its
    ``body``, ``json_body`` and ``headers`` stay exactly as received.
    """
    if 200 <= status < 300:
        if data is NOT_JSON:
            raise ResponseValidationError(
                f"Expected a JSON body from {method} {url}, got something else "
                f"({headers.get('content-type', 'no content type')}).",
                body=body,
            )
        return data
    json_body = None if data is NOT_JSON else data
    fields = _error_fields(json_body)
    if not fields.get("message") and data is NOT_JSON:
        fields["message"] = _snippet(body)
    sent_credentials = credential_values(request_headers) if request_headers else ()
    for name in ("message", "user_message", "code", "error_type"):
        if fields.get(name):
            fields[name] = redact(fields[name], sent_credentials)
    if "details" in fields:
        fields["details"] = redact_data(fields["details"], sent_credentials)
    kwargs: dict[str, Any] = {
        "status": status,
        "body": body,
        "json_body": json_body,
        "headers": headers,
        "method": method,
        "url": url,
        "retry_after": retry_after,
        **fields,
    }
    raise error_class_for(status)(**kwargs)
