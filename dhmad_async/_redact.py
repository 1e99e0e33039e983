"""
Credential redaction for every text the SDK builds: error messages, details, logs. Pure.

Servers, proxies and debug pages sometimes echo the request back (headers
included) in error bodies, and aiohttp's own exceptions carry the request
headers. Anything such a text could hold is redacted by shape (API keys,
access tokens, JWTs, ``Bearer …``, ``Authorization: …``, ``"secret": "…"``,
URL passwords), by key in structured data, and by exact value for the
credential a request was sent with, whatever its shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["REDACTED", "credential_values", "is_sensitive_key", "redact", "redact_data"]

REDACTED: Final = "[REDACTED]"

# Words that follow "Bearer" in prose ("a Bearer token is required"), not tokens.
_BEARER_PROSE: Final = (
    r"(?:tokens?|auth|authentication|authorization|scheme|header|required|realm)\b"
)
# Names whose value is a credential, in headers, JSON bodies, forms and queries.
_SECRET_NAMES: Final = (
    r"proxy-authorization|authorization|x-api-key|api[-_]?key|set-cookie|cookie"
    r"|client[-_]?secret|webhook[-_]?secret|secret|password|passwd"
    r"|access[-_]?token|refresh[-_]?token|id[-_]?token|developer[-_]?token|code[-_]?verifier"
)

_PATTERNS: Final = (
    # A header, JSON member, form or query field named like a credential:
    # keep the name and separator, drop the value (with its auth scheme).
    (
        re.compile(
            rf"(?<![A-Za-z0-9_-])({_SECRET_NAMES})(\\?[\"']?\s*[:=]\s*\\?[\"']?)"
            # Possessive "?+": a scheme once matched is never re-read as the value,
            # so redacting twice changes nothing.
            r"((?:Bearer|Basic|Digest|Token)\s+)?+(?!\[REDACTED\])[^\s\"'\\,;&}\]]+",
            re.IGNORECASE,
        ),
        rf"\1\2\3{REDACTED}",
    ),
    # DHMAD API keys, whatever their length ("sk_sandbox_..." in prose has no key material).
    (re.compile(r"\bsk_(?:live|sandbox)_[A-Za-z0-9]+"), REDACTED),
    # OAuth access tokens (at_…), webhook signing secrets (whsec_…).
    (re.compile(r"\bat_[A-Za-z0-9]{12,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), REDACTED),
    # JWTs (ID tokens, developer tokens): base64url of '{"', in one to three parts.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    # "Bearer <anything>" outside a header echo.
    (
        re.compile(rf"\b(Bearer\s+)(?!{_BEARER_PROSE})[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
        rf"\1{REDACTED}",
    ),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
)

# Key names, normalised (lower case, no "-" or "_"), whose values are credentials.
_SENSITIVE_KEYS: Final = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "xapikey",
        "apikey",
        "cookie",
        "setcookie",
        "codeverifier",
        "password",
        "passwd",
    }
)
_SENSITIVE_SUFFIXES: Final = ("secret", "token", "password", "apikey")

# An exact credential shorter than this is not searched for: replacing "x"
# everywhere would destroy the text without protecting anything real.
_MIN_EXACT: Final = 8
_MAX_DEPTH: Final = 20


def credential_values(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credential values a request carries (``Authorization`` token, ``X-API-Key``)."""
    values = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            values.append(value.split(None, 1)[-1] if " " in value else value)
        elif lowered == "x-api-key":
            values.append(value)
    return tuple(v for v in values if len(v) >= _MIN_EXACT)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``: exact ``secrets``, then shapes."""
    for secret in secrets:
        if len(secret) >= _MIN_EXACT:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a credential (``authorization``, ``client_secret``, …)."""
    if not isinstance(key, str):
        return False
    name = key.lower().replace("-", "").replace("_", "")
    return name in _SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def redact_data(data: Any, secrets: Iterable[str] = (), *, _depth: int = 0) -> Any:
    """A copy of decoded JSON with credentials redacted: by key, and by shape in strings."""
    secrets = tuple(secrets)
    if _depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, Mapping):
        result = {}
        for key, value in data.items():
            if is_sensitive_key(key):
                result[key] = REDACTED
            else:
                result[key] = redact_data(value, secrets, _depth=_depth + 1)
        return result
    if isinstance(data, list | tuple):
        return [redact_data(item, secrets, _depth=_depth + 1) for item in data]
    return data
