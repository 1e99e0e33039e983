"""Asyncio SDK for the DHMAD escrow API."""

from __future__ import annotations

from dhmad_async._config import USE_CLIENT_DEFAULT, RateLimit, RetryPolicy, Timeout
from dhmad_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    DhmadError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
    WebhookFailureReason,
    WebhookVerificationError,
)

__all__ = [
    "USE_CLIENT_DEFAULT",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "DhmadError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "ResponseValidationError",
    "RetryPolicy",
    "Timeout",
    "UnprocessableEntityError",
    "WebhookFailureReason",
    "WebhookVerificationError",
]
