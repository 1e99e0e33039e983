"""
Verify webhook deliveries: replay window, signature, parsing, optional dedup. Pure except
the optional async dedup claim (via the store you pass).

Order of checks (cheap and secret-free first): a secret is configured, the
signature header is present, the timestamp is inside the window (two-sided,
REFERENCE §4.6), the signature decodes, then the MAC of the **raw bytes** is
compared in constant time against every configured secret (rotation without
downtime). Every failure is a :class:`WebhookVerificationError` with a reason;
no other exception leaves :meth:`WebhookVerifier.verify` for any input.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._events import WebhookEvent, build_event
from dhmad_async.webhooks._jsonjs import js_stringify
from dhmad_async.webhooks._scheme import DEFAULT_SCHEME, PreparedKey, SignatureScheme
from dhmad_async.webhooks._timestamps import parse_timestamp

if TYPE_CHECKING:
    from dhmad_async.webhooks._dedup import DedupStore

__all__ = [
    "EVENT_HEADER",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookVerifier",
    "parse_body",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"
ID_HEADER = "X-Webhook-Id"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"

_R = WebhookFailureReason


def _header(headers: Mapping[str, str], canonical: str, lower: str) -> str | None:
    """Case-insensitive header look-up; fast for canonical, lower-case or CI mappings."""
    try:
        value: Any = headers.get(canonical)
        if value is None:
            value = headers.get(lower)
            if value is None:
                for key, item in headers.items():
                    if isinstance(key, str) and key.lower() == lower:
                        value = item
                        break
    except Exception:  # an exotic mapping must not break the "one exception type" promise
        return None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")  # ASGI-style raw header values
    return None


def _as_bytes(body: object) -> bytes:
    """The body as ``bytes``; MALFORMED_BODY for anything that is not a readable buffer.

    hashlib refuses some buffers outright (a strided or released ``memoryview``
    raises ``BufferError``/``ValueError``), so every buffer is copied to ``bytes``
    first: the MAC is then over exactly the bytes the caller's view shows.
    """
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        try:
            return bytes(body)
        except (ValueError, BufferError, TypeError):
            raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not readable") from None
    raise WebhookVerificationError(_R.MALFORMED_BODY, "body must be bytes")


def parse_body(body: bytes) -> dict[str, Any]:
    """Parse a delivery body (floats as ``Decimal``); MALFORMED_BODY unless a JSON object."""
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError, TypeError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long ints.
        raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not a JSON object")
    return payload


class WebhookVerifier:
    """Verify DHMAD webhook deliveries against one or more receiver secrets.

    ``tolerance`` is the replay window in seconds, applied both ways (too old and
    too far in the future); ``None`` disables the timestamp check. With a window
    set, a delivery without ``X-Webhook-Timestamp`` is rejected with
    ``MISSING_HEADER``: accepting it would make the window optional for an
    attacker. ``allow_reserialized=True`` also accepts a MAC over
    ``JSON.stringify(parsed body)`` (REFERENCE §4.3, DHMAD's sample does that);
    it is off by default because it is slower and ignores whitespace tampering.

    .. warning::
       With a scheme that does not sign the timestamp (the default, ``{body}``),
       the window only turns away stale deliveries: an attacker who captured a
       body can resend it with a fresh timestamp. Replays are stopped by dedup,
       which keys on signed content (see ``WebhookEvent.dedup_key``): keep the
       dedup TTL long (days, not minutes) and re-fetch the escrow before an
       irreversible action (REFERENCE §4.6).
    """

    def __init__(
        self,
        secrets: Iterable[str] | str = (),
        *,
        tolerance: float | None = 300,
        scheme: SignatureScheme = DEFAULT_SCHEME,
        clock: Callable[[], float] = time.time,
        allow_reserialized: bool = False,
    ) -> None:
        if isinstance(secrets, str):
            secrets = [secrets]
        if tolerance is not None and tolerance < 0:
            raise ValueError("tolerance must be >= 0 or None")
        self.scheme = scheme
        self.tolerance = tolerance
        self.allow_reserialized = allow_reserialized
        self._clock = clock
        # Empty secrets (e.g. an unset environment variable) are ignored, so a
        # misconfiguration is NO_SECRET rather than "anything MACed with b'' passes".
        # Key bytes and keyed HMAC state are derived once, here.
        self._keys: tuple[PreparedKey, ...] = tuple(scheme.prepare(s) for s in secrets if s)
        self._needs_ts = scheme.needs_timestamp
        self._needs_id = scheme.needs_id

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(secrets=<{len(self._keys)} hidden>, tolerance={self.tolerance!r},"
            f" scheme={self.scheme.name!r}, allow_reserialized={self.allow_reserialized!r})"
        )

    # -- the checks -----------------------------------------------------------

    def verify_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Check timestamp and signature of the raw ``body`` without parsing it."""
        self._check(body, headers)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify a delivery and return its typed event."""
        payload = self._check(body, headers)
        return self._event(body, headers, payload)

    def verify_parsed(self, payload: Mapping[str, Any], headers: Mapping[str, str]) -> WebhookEvent:
        """Verify a body your framework already parsed, via its ``JSON.stringify`` form.

        Byte-exact only if the sender signed compact JSON (or re-serialised, as
        DHMAD's sample does); parse with ``parse_float=Decimal`` to keep numbers.
        """
        try:
            body = js_stringify(payload)
        except (TypeError, ValueError, RecursionError, OverflowError):
            raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not JSON data") from None
        self._check(body, headers, raw_only=True)
        return self._event(body, headers, dict(payload))

    async def averify(
        self, body: bytes, headers: Mapping[str, str], *, dedup: DedupStore | None = None
    ) -> WebhookEvent:
        """:meth:`verify`, then claim the event in ``dedup``; a repeat raises DUPLICATE."""
        event = self.verify(body, headers)
        if dedup is not None and await dedup.seen(event.dedup_key):
            raise WebhookVerificationError(_R.DUPLICATE, "event already received")
        return event

    # -- internals --------------------------------------------------------------

    def _check(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        raw_only: bool = False,
    ) -> dict[str, Any] | None:
        """Run every check; returns the parsed payload when the fallback parsed it."""
        if not self._keys:
            raise WebhookVerificationError(_R.NO_SECRET, "no webhook secret configured")
        signature = _header(headers, SIGNATURE_HEADER, "x-webhook-signature")
        if signature is None:
            raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {SIGNATURE_HEADER}")
        timestamp = ""
        if self.tolerance is not None or self._needs_ts:
            found = _header(headers, TIMESTAMP_HEADER, "x-webhook-timestamp")
            if found is None:
                raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {TIMESTAMP_HEADER}")
            timestamp = found
            if self.tolerance is not None:
                self._check_window(found)
        event_id = ""
        if self._needs_id:
            found = _header(headers, ID_HEADER, "x-webhook-id")
            if found is None:
                raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {ID_HEADER}")
            event_id = found
        candidates = self.scheme.decode_signatures(signature)
        if not candidates:
            raise WebhookVerificationError(_R.MALFORMED_SIGNATURE, "signature is malformed")
        body = _as_bytes(body)
        if self._matches(body, candidates, timestamp, event_id):
            return None
        if self.allow_reserialized and not raw_only:
            payload = parse_body(bytes(body))
            try:
                again = js_stringify(payload)
            except (TypeError, ValueError, RecursionError, OverflowError):
                again = b""
            if again != body and self._matches(again, candidates, timestamp, event_id):
                return payload
        raise WebhookVerificationError(_R.NO_MATCHING_SIGNATURE, "no signature matched")

    def _matches(self, body: Any, candidates: list[bytes], timestamp: str, event_id: str) -> bool:
        compare = hmac.compare_digest
        for key in self._keys:
            expected = key.mac(body, timestamp, event_id)
            for candidate in candidates:
                if compare(expected, candidate):
                    return True
        return False

    def _check_window(self, value: str) -> None:
        sent = parse_timestamp(value)
        if sent is None:
            raise WebhookVerificationError(_R.MALFORMED_TIMESTAMP, "timestamp is not parsable")
        assert self.tolerance is not None
        age = self._clock() - sent
        if age > self.tolerance:
            raise WebhookVerificationError(_R.TIMESTAMP_TOO_OLD, "timestamp is too old")
        if -age > self.tolerance:
            raise WebhookVerificationError(_R.TIMESTAMP_IN_FUTURE, "timestamp is in the future")

    def _event(
        self, body: bytes, headers: Mapping[str, str], payload: dict[str, Any] | None
    ) -> WebhookEvent:
        if payload is None:
            payload = parse_body(bytes(body))
        return build_event(
            payload,
            body=bytes(body),
            header_type=_header(headers, EVENT_HEADER, "x-webhook-event"),
            header_id=_header(headers, ID_HEADER, "x-webhook-id"),
            header_timestamp=_header(headers, TIMESTAMP_HEADER, "x-webhook-timestamp"),
            header_id_signed=self._needs_id,
        )
