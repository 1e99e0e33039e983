"""
Webhook signature schemes: how a delivery's MAC is computed and encoded. Pure: no I/O.

DHMAD's exact scheme is UNKNOWN. The default is the most probable
one (INF): ``hex(HMAC-SHA256(key=secret as UTF-8, msg=raw body))``, with an
optional ``sha256=`` prefix accepted on the header. Every part of it (digest,
encoding, signed-message template, key handling, prefixes) is a field of
:class:`SignatureScheme`, so a sandbox capture that disagrees only needs a
different value object, and :func:`candidate_schemes` lists what
``webhooks detect-scheme`` tries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from typing import Any, Literal

import attrs

__all__ = [
    "DEFAULT_SCHEME",
    "STANDARD_WEBHOOKS_SCHEME",
    "KeyEncoding",
    "PreparedKey",
    "SignatureEncoding",
    "SignatureScheme",
    "candidate_schemes",
    "sign",
    "signed_headers",
]

SignatureEncoding = Literal["hex", "base64"]
#: How the secret string becomes HMAC key bytes: its UTF-8 bytes, hex-decoded,
#: base64-decoded, or Standard-Webhooks style (``whsec_`` prefix, then base64).
KeyEncoding = Literal["utf-8", "hex", "base64", "whsec"]

_PLACEHOLDER = re.compile(r"\{(body|timestamp|id)\}")
_ANY_BRACE = re.compile(r"[{}]")


def _parse_template(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``template`` into the parts before and after ``{body}``.

    Each part is a tuple of tokens: literal text, or ``"{timestamp}"``/``"{id}"``.
    """
    if template.count("{body}") != 1:
        raise ValueError("the message template must contain '{body}' exactly once")
    tokens: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[pos : match.start()]
        if _ANY_BRACE.search(literal):
            raise ValueError(
                "unknown placeholder in message template (use {body}, {timestamp}, {id})"
            )
        if literal:
            tokens.append(literal)
        tokens.append(match.group(0))
        pos = match.end()
    tail = template[pos:]
    if _ANY_BRACE.search(tail):
        raise ValueError("unknown placeholder in message template (use {body}, {timestamp}, {id})")
    if tail:
        tokens.append(tail)
    split = tokens.index("{body}")
    return tuple(tokens[:split]), tuple(tokens[split + 1 :])


def _format_of(tokens: tuple[str, ...]) -> str:
    """``tokens`` as a ``str.format`` template over (timestamp, id); literals have no braces."""
    return "".join(
        "{0}" if token == "{timestamp}" else "{1}" if token == "{id}" else token for token in tokens
    )


def _render(tokens: tuple[str, ...], timestamp: str, event_id: str) -> bytes:
    out: list[str] = []
    for token in tokens:
        if token == "{timestamp}":
            out.append(timestamp)
        elif token == "{id}":
            out.append(event_id)
        else:
            out.append(token)
    # surrogateescape-free strict UTF-8 would raise on lone surrogates from odd
    # header values; "surrogatepass" keeps rendering total (the MAC then just fails).
    return "".join(out).encode("utf-8", "surrogatepass")


@attrs.frozen
class SignatureScheme:
    """A webhook signing scheme, as a small immutable value.

    ``message`` is the signed-message template over ``{body}`` (raw body bytes),
    ``{timestamp}`` (the ``X-Webhook-Timestamp`` header exactly as sent) and
    ``{id}`` (the ``X-Webhook-Id`` header).
    """

    name: str = "hmac-sha256-hex"
    digest: str = "sha256"
    encoding: SignatureEncoding = "hex"
    message: str = "{body}"
    key: KeyEncoding = "utf-8"
    #: Prefixes stripped from each signature in the header before decoding.
    accepted_prefixes: tuple[str, ...] = ("sha256=",)
    #: Prefix :func:`sign` puts in front of the encoded MAC.
    header_prefix: str = ""

    _before: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _after: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _digest_size: int = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        before, after = _parse_template(self.message)
        try:
            size = hashlib.new(self.digest).digest_size
        except (ValueError, TypeError) as exc:
            raise ValueError(f"unknown digest {self.digest!r}") from exc
        if self.encoding not in ("hex", "base64"):
            raise ValueError(f"unknown signature encoding {self.encoding!r}")
        if self.key not in ("utf-8", "hex", "base64", "whsec"):
            raise ValueError(f"unknown key encoding {self.key!r}")
        object.__setattr__(self, "_before", before)
        object.__setattr__(self, "_after", after)
        object.__setattr__(self, "_digest_size", size)
        # Longest first so "sha256=" wins over a hypothetical "sha" prefix.
        object.__setattr__(
            self, "accepted_prefixes", tuple(sorted(self.accepted_prefixes, key=len, reverse=True))
        )

    @property
    def digest_size(self) -> int:
        """Length in bytes of one raw MAC under this scheme's digest."""
        return self._digest_size

    @property
    def needs_timestamp(self) -> bool:
        """Whether the signed message includes the timestamp header."""
        return "{timestamp}" in self._before or "{timestamp}" in self._after

    @property
    def needs_id(self) -> bool:
        """Whether the signed message includes the event id header."""
        return "{id}" in self._before or "{id}" in self._after

    def key_bytes(self, secret: str) -> bytes:
        """Turn ``secret`` into HMAC key bytes; ``ValueError`` (secret not shown) if it can't."""
        try:
            if self.key == "utf-8":
                return secret.encode("utf-8")
            if self.key == "hex":
                return bytes.fromhex(secret.strip())
            text = secret.strip()
            if self.key == "whsec" and text.startswith("whsec_"):
                text = text[len("whsec_") :]
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error, UnicodeError):
            # Never echo the secret itself.
            raise ValueError(f"the secret is not valid for key encoding {self.key!r}") from None

    def prepare(self, secret: str, *, native: bool = True) -> PreparedKey:
        """Derive the key once, for repeated verification (see :class:`PreparedKey`)."""
        return PreparedKey(self, self.key_bytes(secret), native=native)

    def encode(self, mac: bytes) -> str:
        """Encode a raw MAC as it appears in the header (without ``header_prefix``)."""
        if self.encoding == "hex":
            return mac.hex()
        return base64.b64encode(mac).decode("ascii")

    def decode_signatures(self, header_value: str) -> list[bytes]:
        """Decode every well-formed signature in a header value.

        Several signatures may be sent separated by spaces (and, for hex, commas),
        as during a sender-side secret rotation. Malformed entries are skipped;
        an empty result means the header is malformed.
        """
        if self.encoding == "hex":
            if len(header_value) == 2 * self._digest_size:
                # Fast path: one bare hex signature, the common (default) case.
                try:
                    fast = bytes.fromhex(header_value)
                except ValueError:
                    pass
                else:
                    if len(fast) == self._digest_size:
                        return [fast]
            tokens = header_value.replace(",", " ").split()
        else:
            fast_b64 = self._decode_single_b64(header_value)
            if fast_b64 is not None:
                return [fast_b64]
            tokens = header_value.split()
        out: list[bytes] = []
        for token in tokens:
            lowered = token.lower()
            for prefix in self.accepted_prefixes:
                if lowered.startswith(prefix.lower()):
                    token = token[len(prefix) :]
                    break
            raw = self._decode_one(token)
            if raw is not None and len(raw) == self._digest_size:
                out.append(raw)
        return out

    def _decode_single_b64(self, header_value: str) -> bytes | None:
        """One ``prefix + standard base64`` signature (Standard Webhooks' usual header).

        Returns what the general loop would for such a header, or None to let it run:
        more than one token, no accepted prefix, URL-safe or malformed base64.
        """
        lowered = header_value[:16].lower()  # prefixes are matched case-insensitively
        for prefix in self.accepted_prefixes:
            if lowered.startswith(prefix.lower()):
                token = header_value[len(prefix) :]
                break
        else:
            return None
        if len(token) != 4 * ((self._digest_size + 2) // 3) or not token.isascii():
            return None
        if " " in token or "-" in token or "_" in token or token != token.strip():
            return None
        try:
            # strict_mode (C, no regex) accepts only what b64decode(validate=True)
            # accepts, and whatever it refuses goes to the loop: the loop's result.
            raw = binascii.a2b_base64(token, strict_mode=True)
        except (ValueError, binascii.Error):
            return None
        return raw if len(raw) == self._digest_size else None

    def _decode_one(self, token: str) -> bytes | None:
        if not token or not token.isascii():
            return None
        try:
            if self.encoding == "hex":
                return bytes.fromhex(token)
            if "-" in token or "_" in token:
                return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return base64.b64decode(token, validate=True)
        except (ValueError, binascii.Error):
            return None

    def signed_message(self, body: bytes, *, timestamp: str = "", event_id: str = "") -> bytes:
        """Return the exact bytes that are MACed (mainly for diagnostics)."""
        return (
            _render(self._before, timestamp, event_id)
            + body
            + _render(self._after, timestamp, event_id)
        )


# RFC 2104's pads: every key byte XOR 0x36 (inner) and XOR 0x5C (outer).
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


def hmac_pads(key: bytes, digest: str) -> tuple[Any, Any] | None:
    """The two keyed hash states of HMAC (RFC 2104) for ``key``, or None if unavailable.

    ``inner`` has absorbed ``key XOR ipad`` and ``outer`` ``key XOR opad`` (a key
    longer than the block is hashed first, zero-padded to the block), so
    ``HMAC(key, m) = H(outer || H(inner || m))`` costs two cheap hash-state copies
    per message: the construction ``hmac.HMAC`` itself uses without OpenSSL, and
    faster than copying OpenSSL's HMAC context (about 1.2 against 1.4 us for
    1 KiB). None for a digest ``hashlib`` cannot build this way (no block size,
    variable-length output); the caller then uses ``hmac.new``.
    """
    try:
        inner, outer = hashlib.new(digest), hashlib.new(digest)
    except (ValueError, TypeError):
        return None
    block = getattr(inner, "block_size", 0)
    if not isinstance(block, int) or block <= 0 or inner.digest_size <= 0:
        return None
    if len(key) > block:
        key = hashlib.new(digest, key).digest()
    key = key.ljust(block, b"\0")
    inner.update(key.translate(_INNER_PAD))
    outer.update(key.translate(_OUTER_PAD))
    return inner, outer


class PreparedKey:
    """One secret's key bytes under one scheme, derived once; never shows the key.

    ``native=False`` forces the ``hmac.new`` fallback (for tests: both give the
    same MACs).
    """

    __slots__ = ("_after", "_base", "_before", "_pads", "_plain", "scheme")

    # _before/_after hold the template parts around the body as str.format
    # templates (see _format_of): one format call renders what _render renders.

    def __init__(self, scheme: SignatureScheme, key: bytes, *, native: bool = True) -> None:
        self.scheme = scheme
        # Keyed states derived once and copied per message, so no message re-derives
        # the padded key.
        self._pads: tuple[Any, Any] | None = hmac_pads(key, scheme.digest) if native else None
        self._base: Any = hmac.new(key, digestmod=scheme.digest) if self._pads is None else None
        self._before = _format_of(scheme._before)
        self._after = _format_of(scheme._after)
        self._plain = not self._before and not self._after

    @property
    def plain(self) -> bool:
        """True when the signed message is the body alone (template ``{body}``)."""
        return self._plain

    @property
    def pads(self) -> tuple[Any, Any] | None:
        """``(inner, outer)`` keyed hash states (see :func:`hmac_pads`), or None.

        Copy them before updating: they are shared by every message MACed with
        this key.
        """
        return self._pads

    @property
    def templates(self) -> tuple[str, str]:
        """The signed message around the body, as ``str.format`` templates over (timestamp, id).

        ``""`` for an empty part; the body alone (the default scheme) is ``("", "")``.
        """
        return self._before, self._after

    def __repr__(self) -> str:
        return f"PreparedKey(scheme={self.scheme.name!r}, key=<hidden>)"

    def mac(self, body: bytes, timestamp: str = "", event_id: str = "") -> bytes:
        """Return the raw MAC of ``body`` (and timestamp/id when the template uses them)."""
        pads = self._pads
        h = self._base.copy() if pads is None else pads[0].copy()
        # "surrogatepass" as in _render: rendering stays total for odd header values.
        if self._before:
            h.update(self._before.format(timestamp, event_id).encode("utf-8", "surrogatepass"))
        h.update(body)
        if self._after:
            h.update(self._after.format(timestamp, event_id).encode("utf-8", "surrogatepass"))
        if pads is None:
            return h.digest()  # type: ignore[no-any-return]
        outer = pads[1].copy()
        outer.update(h.digest())
        return outer.digest()  # type: ignore[no-any-return]


#: The most probable DHMAD scheme (inferred): hex HMAC-SHA256 of the raw
#: body, key = the secret's UTF-8 bytes, optional ``sha256=`` prefix accepted.
DEFAULT_SCHEME = SignatureScheme()

#: The Standard Webhooks scheme (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``,
#: ``whsec_`` base64 key); a plausible alternative, and the benchmark's comparison.
STANDARD_WEBHOOKS_SCHEME = SignatureScheme(
    name="standard-webhooks",
    digest="sha256",
    encoding="base64",
    message="{id}.{timestamp}.{body}",
    key="whsec",
    accepted_prefixes=("v1,",),
    header_prefix="v1,",
)

_TEMPLATES = ("{body}", "{timestamp}.{body}", "{timestamp}{body}", "{id}.{timestamp}.{body}")


def candidate_schemes() -> list[SignatureScheme]:
    """Every scheme ``detect-scheme`` tries: digests x encodings x templates x key handling."""
    out: list[SignatureScheme] = [DEFAULT_SCHEME, STANDARD_WEBHOOKS_SCHEME]
    for digest in ("sha256", "sha512", "sha1"):
        for encoding in ("hex", "base64"):
            for template in _TEMPLATES:
                for key in ("utf-8", "hex", "base64"):
                    name = f"hmac-{digest}-{encoding}-key:{key}-msg:{template}"
                    scheme = SignatureScheme(
                        name=name,
                        digest=digest,
                        encoding=encoding,
                        message=template,
                        key=key,
                        accepted_prefixes=(f"{digest}=", "v1=", "v1,"),
                    )
                    if (digest, encoding, template, key) != ("sha256", "hex", "{body}", "utf-8"):
                        out.append(scheme)  # the default is already first
    return out


def sign(
    body: bytes,
    secret: str,
    *,
    timestamp: str | None = None,
    scheme: SignatureScheme = DEFAULT_SCHEME,
    event_id: str | None = None,
) -> str:
    """Return the ``X-Webhook-Signature`` value DHMAD would send for ``body`` under ``scheme``.

    ``timestamp`` (the ``X-Webhook-Timestamp`` value) and ``event_id`` are only
    used when the scheme's message template includes them; a scheme that needs
    one raises ``ValueError`` when it is missing.
    """
    if scheme.needs_timestamp and timestamp is None:
        raise ValueError(f"scheme {scheme.name!r} signs the timestamp; pass timestamp=")
    if scheme.needs_id and event_id is None:
        raise ValueError(f"scheme {scheme.name!r} signs the event id; pass event_id=")
    mac = scheme.prepare(secret).mac(body, timestamp=timestamp or "", event_id=event_id or "")
    return scheme.header_prefix + scheme.encode(mac)


def signed_headers(
    body: bytes,
    secret: str,
    *,
    event_type: str,
    event_id: str,
    timestamp: str | None = None,
    scheme: SignatureScheme = DEFAULT_SCHEME,
) -> dict[str, str]:
    """Return the four ``X-Webhook-*`` headers DHMAD would send (timestamp defaults to now)."""
    from dhmad_async.webhooks._timestamps import format_timestamp

    if timestamp is None:
        timestamp = format_timestamp(time.time())
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign(
            body, secret, timestamp=timestamp, scheme=scheme, event_id=event_id
        ),
        "X-Webhook-Event": event_type,
        "X-Webhook-Id": event_id,
        "X-Webhook-Timestamp": timestamp,
    }
