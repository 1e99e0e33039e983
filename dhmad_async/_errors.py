"""
The exception tree of ``dhmad_async``. Pure: no I/O.

::

    DhmadError
    ├── APIConnectionError            no usable response (DNS, refused, reset, TLS, ...)
    │   └── APITimeoutError           an attempt ran out of time
    ├── APIStatusError                the server answered with a 4xx/5xx
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429 (or a server-imposed wait longer than allowed)
    │   └── InternalServerError       5xx
    ├── ResponseValidationError       a 2xx body that does not fit the model
    ├── RateLimiterUnavailableError   the shared rate limiter (Redis) could not be used
    ├── WebhookVerificationError      a webhook delivery failed verification
    └── ClientClosedError             the client was used after ``aclose()``

    InvalidParamsError (a ValueError) bad input, raised before anything is sent

Every error that may describe a non-idempotent request that reached the
server carries ``may_have_succeeded = True``: the SDK never retries such a
request blindly, and says so in the message.
"""

from __future__ import annotations

import enum
import http
from collections.abc import Mapping
from typing import Any

from dhmad_async._redact import redact, redact_data

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "DhmadError",
    "InternalServerError",
    "InvalidParamsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "WebhookFailureReason",
    "WebhookVerificationError",
]

_AMBIGUOUS_NOTE = (
    " The request may have been processed by the server, so it was not retried;"
    " check for its effect (e.g. list escrows) before sending it again."
)


class DhmadError(Exception):
    """Base class of every error raised by ``dhmad_async``."""

    #: True when a non-idempotent request may have taken effect on the server.
    may_have_succeeded: bool = False

    def __init__(self, message: str) -> None:
        # Messages are built from server text and transport errors, which may
        # echo credentials: they are redacted here, once, for every subclass.
        message = redact(message)
        super().__init__(message)
        self.message = message

    def mark_ambiguous(self) -> None:
        """Record that the failed request may have taken effect, and say so."""
        if not self.may_have_succeeded:
            self.may_have_succeeded = True
            self.message = self.message + _AMBIGUOUS_NOTE
            self.args = (self.message, *self.args[1:])


class APIConnectionError(DhmadError):
    """Raised when no usable response arrived: connection refused, reset, DNS or TLS failure."""

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        #: False when the request certainly never left this process (safe to resend),
        #: True when it was written to the socket, None when unknown.
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """Raised when one attempt exceeded its timeout."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, request_sent=request_sent)


class APIStatusError(DhmadError):
    """Raised when the API answered with a 4xx or 5xx status."""

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        user_message: str | None = None,
        error_type: str | None = None,
        body: bytes = b"",
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        #: Seconds the server asked us to wait (``Retry-After`` on a 429 or 503), when it said.
        self.retry_after = retry_after
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
        #: The short error word or code: ``"Bad Request"``, ``"invalid_grant"``,
        #: ``"PROOF_NOT_ACCEPTED"``.
        self.code = redact(code) if code else code
        #: Field-level details, e.g. ``{"amount": "Amount must be a positive number"}``,
        #: with credential-like values redacted (a proxy may echo request headers here).
        self.details: Mapping[str, Any] = redact_data(dict(details or {}))
        #: A message meant for end users (checkout business-rule errors carry one).
        self.user_message = redact(user_message) if user_message else user_message
        #: ``error.type`` of structured errors, e.g. ``"business_rule_violation"``.
        self.error_type = redact(error_type) if error_type else error_type
        #: The raw response body, exactly as received: unlike the message and
        #: ``details`` it is not redacted, so never log it whole.
        self.body = body
        #: The decoded JSON body (not redacted), or None when the body was not JSON.
        self.json_body = json_body
        #: The response headers, as received.
        self.headers: Mapping[str, str] = dict(headers or {})
        self.method = method
        self.url = url
        super().__init__(message or phrase)

    def __str__(self) -> str:
        parts = [f"{self.status}"]
        if self.code and self.code != self.message:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        if self.details:
            parts.append(
                "(" + "; ".join(f"{key}: {value}" for key, value in self.details.items()) + ")"
            )
        # Redacted again as a whole: a shape can span a key and its value.
        return redact(" ".join(parts))


class BadRequestError(APIStatusError):
    """Raised on 400: the request was invalid (validation or a business rule)."""


class AuthenticationError(APIStatusError):
    """Raised on 401: the API key is missing, invalid, or for the other environment."""


class PermissionDeniedError(APIStatusError):
    """Raised on 403: not allowed, or the developer account is not associated."""


class NotFoundError(APIStatusError):
    """Raised on 404: the resource does not exist or is not visible to this key."""


class ConflictError(APIStatusError):
    """Raised on 409: e.g. ``PROOF_NOT_ACCEPTED`` on deliver, or KYC already approved."""


class UnprocessableEntityError(APIStatusError):
    """Raised on 422: the server understood the request but rejected its content."""


class RateLimitError(APIStatusError):
    """Raised on 429, or when the server asks for a wait longer than the client allows."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)


class InternalServerError(APIStatusError):
    """Raised on any 5xx status."""


class ResponseValidationError(DhmadError):
    """
    Raised when a successful response body does not fit the expected model.

    One error lists every field that does not fit (``errors``), including
    each required field the server left out. ``body`` is the decoded body and
    ``raw_body`` the bytes as received (both ``None`` for models that hold
    secrets, such as OAuth tokens); neither is redacted, so never log them whole.
    """

    def __init__(
        self,
        message: str,
        *,
        body: Any = None,
        errors: list[str] | None = None,
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.body = body
        #: The response bytes the model was read from, when the client has them.
        self.raw_body = raw_body
        #: Flattened cattrs messages, e.g. ``["invalid value for type, expected str @ $.id"]``.
        self.errors = list(errors or [])


class RateLimiterUnavailableError(DhmadError):
    """
    Raised when a shared rate limiter cannot reach its store (Redis down, timeout, script error).

    Raised while waiting for a slot, nothing was sent. The cause is chained.
    See ``RedisRateLimit(on_redis_error=...)`` to fall back to a local limiter instead.
    """


class WebhookFailureReason(enum.StrEnum):
    """Why a webhook delivery was rejected; stable, machine-readable values."""

    MISSING_HEADER = "missing_header"
    MALFORMED_SIGNATURE = "malformed_signature"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    NO_SECRET = "no_secret_configured"
    MALFORMED_BODY = "malformed_body"
    DUPLICATE = "duplicate"


class WebhookVerificationError(DhmadError):
    """Raised when a webhook delivery cannot be trusted; ``reason`` says why."""

    def __init__(self, reason: WebhookFailureReason, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason.value.replace("_", " "))


class InvalidParamsError(ValueError):
    """
    Raised before sending when parameters break a documented rule; nothing was sent.

    ``errors`` maps each offending field to the rule it breaks.
    """

    def __init__(self, what: str, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        listed = "; ".join(f"{field}: {rule}" for field, rule in self.errors.items())
        super().__init__(f"Invalid {what}: {listed}")


class ClientClosedError(DhmadError, RuntimeError):
    """Raised when a closed client is used; create a new client instead."""


#: Status → exception class; statuses not listed fall back by range in :func:`error_class_for`.
STATUS_ERRORS: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIStatusError]:
    """Return the exception class for an error ``status``."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return InternalServerError
    return APIStatusError
