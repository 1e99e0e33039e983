"""
Verify webhook deliveries: replay window, signature, parsing, optional dedup. Pure except
the optional async dedup claim (via the store you pass).

Order of checks (cheap and secret-free first): a secret is configured, the
signature header is present, the timestamp is inside the window (two-sided:
DHMAD advises five minutes), the signature decodes, then the MAC of the **raw bytes** is
compared in constant time against every configured secret (rotation without
downtime). Every failure is a :class:`WebhookVerificationError` with a reason;
no other exception leaves :meth:`WebhookVerifier.verify` for any input.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._dedup import DEFAULT_POLICY, DedupState
from dhmad_async.webhooks._events import WebhookEvent, build_event
from dhmad_async.webhooks._jsonjs import js_stringify
from dhmad_async.webhooks._scheme import DEFAULT_SCHEME, PreparedKey, SignatureScheme
from dhmad_async.webhooks._timestamps import parse_timestamp

if TYPE_CHECKING:
    from dhmad_async.webhooks._dedup import DedupPolicy, DedupStore

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
_compare = hmac.compare_digest
_fromisoformat = datetime.fromisoformat


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


# One decoder for every body: json.loads(..., parse_float=Decimal) builds a new
# decoder and scanner per call, which costs as much as parsing a 1 KiB body.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def _decode_text(body: bytes | bytearray | str) -> str:
    """The body as text, exactly as ``json.loads`` would decode it."""
    if isinstance(body, bytes | bytearray):
        # json.detect_encoding answers "utf-8" for anything starting with "{" and a
        # non-NUL byte (no BOM, not UTF-16/32): skip the call for the usual body.
        if body[:1] == b"{" and body[1:2] != b"\x00":
            encoding = "utf-8"
        else:
            encoding = json.detect_encoding(body)
        return body.decode(encoding, "surrogatepass")
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        return body
    raise TypeError("the JSON object must be str, bytes or bytearray")


def parse_body(body: bytes) -> dict[str, Any]:
    """Parse a delivery body (floats as ``Decimal``); MALFORMED_BODY unless a JSON object."""
    try:
        payload = _DECODER.decode(_decode_text(body))
    except (ValueError, RecursionError, TypeError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long ints.
        raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not a JSON object")
    return payload


#: What the checks established: (body, the bytes the MAC matched, the parsed payload
#: or None, the timestamp header or None when not read, the id header or None when
#: not read). A plain tuple: cheaper to build than an object, once per delivery.
_Checked = tuple[bytes, bytes, "dict[str, Any] | None", "str | None", "str | None"]


class WebhookVerifier:
    """Verify DHMAD webhook deliveries against one or more receiver secrets.

    ``tolerance`` is the replay window in seconds, applied both ways (too old and
    too far in the future); ``None`` disables the timestamp check. With a window
    set, a delivery without ``X-Webhook-Timestamp`` is rejected with
    ``MISSING_HEADER``: accepting it would make the window optional for an
    attacker. ``allow_reserialized=True`` also accepts a MAC over
    ``JSON.stringify(parsed body)`` (DHMAD's sample handler does that);
    it is off by default because it is slower and ignores whitespace tampering.
    Either way the dedup key is computed over the bytes the MAC matched, so a
    re-encoded replay has the key of the original.

    **Retries and the window.** Whether DHMAD re-stamps ``X-Webhook-Timestamp``
    on each retry or keeps the first attempt's is not documented. If it keeps
    it, a retry is accepted only while the *first* attempt is younger than
    ``tolerance``: set ``tolerance`` to at least the longest retry delay you
    want to survive (the emulator's default schedule spans 2,170 s; the dedup
    TTL must be at least as long). With a dedup store, :meth:`averify` and the
    receivers answer a validly signed delivery that is older than the window
    but was already handled as ``DUPLICATE``, not as an error, so such a retry
    is acknowledged instead of failing until DHMAD gives up.

    .. warning::
       With a scheme that does not sign the timestamp (the default, ``{body}``),
       the window only turns away stale deliveries: an attacker who captured a
       body can resend it with a fresh timestamp. Replays are stopped by dedup,
       which keys on signed content (see ``WebhookEvent.dedup_key``): keep the
       dedup TTL long (days, not minutes) and re-fetch the escrow before an
       irreversible action (:func:`~dhmad_async.webhooks.fetch_current`).
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
        # Every key has HMAC pads (hashlib can build them for the digest): the MAC
        # loop in _check then works on the pads and templates directly, without a
        # call per key. Otherwise it goes through PreparedKey.mac (_matches).
        self._fast_keys: tuple[tuple[Any, Any, str, str], ...] | None = None
        if self._keys and all(key.pads is not None for key in self._keys):
            self._fast_keys = tuple(
                (*key.pads, *key.templates) for key in self._keys if key.pads is not None
            )
        # Length of one bare hex signature, for the single-signature fast path; -1
        # for base64 schemes (their header always goes through decode_signatures).
        self._hex_len = 2 * scheme.digest_size if scheme.encoding == "hex" else -1

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
        return self._event(self._check(body, headers), headers)

    def verify_parsed(self, payload: Mapping[str, Any], headers: Mapping[str, str]) -> WebhookEvent:
        """Verify a body your framework already parsed, via its ``JSON.stringify`` form.

        Byte-exact only if the sender signed compact JSON (or re-serialised, as
        DHMAD's sample does); parse with ``parse_float=Decimal`` to keep numbers.
        """
        try:
            body = js_stringify(payload)
        except (TypeError, ValueError, RecursionError, OverflowError):
            raise WebhookVerificationError(_R.MALFORMED_BODY, "body is not JSON data") from None
        body, signed, _, timestamp, event_id = self._check(body, headers, raw_only=True)
        return self._event((body, signed, dict(payload), timestamp, event_id), headers)

    def verify_ignoring_window(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """:meth:`verify` without the timestamp window (for recognising late retries).

        Never act on the result alone: a stale delivery is exactly what the
        window exists to refuse. The receivers use it only to ask the dedup
        store whether the event was already handled.
        """
        return self._event(self._check(body, headers, check_window=False), headers)

    async def averify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        dedup: DedupStore | None = None,
        policy: DedupPolicy | None = None,
    ) -> WebhookEvent:
        """:meth:`verify`, then claim the event in ``dedup``; a repeat raises DUPLICATE.

        The claim is marked done at once (``policy`` picks the key and ttl): if
        your processing then fails, ``await dedup.forget(policy.key_for(event))``
        so a redelivery is processed, or use :class:`WebhookReceiver`, which does
        that for you. A validly signed delivery older than the window whose
        event was already handled raises DUPLICATE rather than TIMESTAMP_TOO_OLD.
        """
        policy = policy or DEFAULT_POLICY
        try:
            event = self.verify(body, headers)
        except WebhookVerificationError as exc:
            if dedup is None or exc.reason is not _R.TIMESTAMP_TOO_OLD:
                raise
            if await self.stale_state(body, headers, dedup, policy) is DedupState.NEW:
                raise
            raise WebhookVerificationError(_R.DUPLICATE, "event already received") from None
        if dedup is not None:
            key, ttl = policy.key_for(event), policy.ttl_for(event, dedup)
            if await dedup.claim(key, lease=ttl) is not DedupState.NEW:
                raise WebhookVerificationError(_R.DUPLICATE, "event already received")
            await dedup.complete(key, ttl=ttl)
        return event

    async def stale_state(
        self,
        body: bytes,
        headers: Mapping[str, str],
        dedup: DedupStore,
        policy: DedupPolicy | None = None,
    ) -> DedupState:
        """For a delivery refused as too old: what ``dedup`` knows about its event.

        NEW unless the signature is valid and the event was claimed or handled;
        a bad signature is always NEW, so an old forgery cannot probe the store.
        """
        try:
            event = self.verify_ignoring_window(body, headers)
        except WebhookVerificationError:
            return DedupState.NEW
        return await dedup.peek((policy or DEFAULT_POLICY).key_for(event))

    # -- internals --------------------------------------------------------------

    def _check(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        raw_only: bool = False,
        check_window: bool = True,
    ) -> _Checked:
        """Run every check; returns the body, the bytes the MAC matched and any parse."""
        if not self._keys:
            raise WebhookVerificationError(_R.NO_SECRET, "no webhook secret configured")
        # Header look-ups and the timestamp parse have their usual case inlined (a
        # str under the canonical name; a toISOString() value): each call saved is
        # a few percent of a 1 KiB check. Anything else takes the general helper.
        try:
            signature = headers.get(SIGNATURE_HEADER)
        except Exception:  # an exotic mapping: _header below copes, or answers None
            signature = None
        if type(signature) is not str:
            signature = _header(headers, SIGNATURE_HEADER, "x-webhook-signature")
            if signature is None:
                raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {SIGNATURE_HEADER}")
        timestamp = None
        tolerance = self.tolerance
        if tolerance is not None or self._needs_ts:
            try:
                timestamp = headers.get(TIMESTAMP_HEADER)
            except Exception:
                timestamp = None
            if type(timestamp) is not str:
                timestamp = _header(headers, TIMESTAMP_HEADER, "x-webhook-timestamp")
                if timestamp is None:
                    raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {TIMESTAMP_HEADER}")
            if tolerance is not None and check_window:
                # The window, inlined (it runs on every delivery); errors in _window_error.
                sent: float | None
                if len(timestamp) == 24 and timestamp[-1] == "Z" and timestamp[4] == "-":
                    try:  # parse_timestamp's own fast path, without the call
                        sent = _fromisoformat(timestamp).timestamp()
                    except ValueError:
                        sent = parse_timestamp(timestamp)
                else:
                    sent = parse_timestamp(timestamp)
                if sent is None:
                    raise WebhookVerificationError(
                        _R.MALFORMED_TIMESTAMP, "timestamp is not parsable"
                    )
                age = self._clock() - sent
                if age > tolerance or -age > tolerance:
                    self._window_error(age)
        event_id = None
        if self._needs_id:
            try:
                event_id = headers.get(ID_HEADER)
            except Exception:
                event_id = None
            if type(event_id) is not str:
                event_id = _header(headers, ID_HEADER, "x-webhook-id")
                if event_id is None:
                    raise WebhookVerificationError(_R.MISSING_HEADER, f"missing {ID_HEADER}")
        candidates: Sequence[bytes] | None = None
        if len(signature) == self._hex_len:
            # One bare hex signature, the default scheme's usual header: decoded here
            # exactly as decode_signatures' own fast path does, without the call.
            try:
                one = bytes.fromhex(signature)
            except ValueError:
                pass
            else:
                if 2 * len(one) == self._hex_len:
                    candidates = (one,)
        if candidates is None:
            candidates = self.scheme.decode_signatures(signature)
            if not candidates:
                raise WebhookVerificationError(_R.MALFORMED_SIGNATURE, "signature is malformed")
        if type(body) is not bytes:
            body = _as_bytes(body)
        fast_keys = self._fast_keys
        if fast_keys is not None:
            # The MAC loop of _matches with PreparedKey.mac inlined (same MACs; every
            # compare constant-time over the whole MAC).
            ts_text, id_text = timestamp or "", event_id or ""
            for inner_pad, outer_pad, before, after in fast_keys:
                inner = inner_pad.copy()
                if before:
                    inner.update(before.format(ts_text, id_text).encode("utf-8", "surrogatepass"))
                inner.update(body)
                if after:
                    inner.update(after.format(ts_text, id_text).encode("utf-8", "surrogatepass"))
                outer = outer_pad.copy()
                outer.update(inner.digest())
                expected = outer.digest()
                for candidate in candidates:
                    if _compare(expected, candidate):
                        return body, body, None, timestamp, event_id
        elif self._matches(body, candidates, timestamp or "", event_id or ""):
            return body, body, None, timestamp, event_id
        if self.allow_reserialized and not raw_only:
            payload = parse_body(body)
            try:
                again = js_stringify(payload)
            except (TypeError, ValueError, RecursionError, OverflowError):
                again = b""
            if again != body and self._matches(again, candidates, timestamp or "", event_id or ""):
                # The MAC covers the re-serialised form, so that form is the signed
                # content: every re-encoding of one body shares its dedup key.
                return body, again, payload, timestamp, event_id
        raise WebhookVerificationError(_R.NO_MATCHING_SIGNATURE, "no signature matched")

    def _matches(
        self, body: Any, candidates: Sequence[bytes], timestamp: str, event_id: str
    ) -> bool:
        """Whether any key's MAC equals any candidate; each compare is constant-time."""
        compare = _compare
        for key in self._keys:
            expected = key.mac(body, timestamp, event_id)
            for candidate in candidates:
                if compare(expected, candidate):
                    return True
        return False

    def _window_error(self, age: float) -> None:
        """Raise the error for a timestamp ``age`` seconds old, outside the window."""
        assert self.tolerance is not None
        if age > self.tolerance:
            raise WebhookVerificationError(
                _R.TIMESTAMP_TOO_OLD,
                f"timestamp is {age:.0f} s old, beyond the {self.tolerance:g} s window",
            )
        raise WebhookVerificationError(
            _R.TIMESTAMP_IN_FUTURE,
            f"timestamp is {-age:.0f} s in the future, beyond the {self.tolerance:g} s window",
        )

    def _event(self, checked: _Checked, headers: Mapping[str, str]) -> WebhookEvent:
        body, signed, payload, timestamp, event_id = checked
        if payload is None:
            payload = parse_body(body)
        # Headers the checks already read are not looked up again.
        if event_id is None:
            event_id = _header(headers, ID_HEADER, "x-webhook-id")
        if timestamp is None:
            timestamp = _header(headers, TIMESTAMP_HEADER, "x-webhook-timestamp")
        return build_event(
            payload,
            body=body,
            signed_body=signed,
            header_type=_header(headers, EVENT_HEADER, "x-webhook-event"),
            header_id=event_id,
            header_timestamp=timestamp,
            header_id_signed=self._needs_id,
        )
