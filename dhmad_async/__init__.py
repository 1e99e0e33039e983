"""
Asyncio SDK for the DHMAD escrow API.

::

    from dhmad_async import DhmadClient

    async with DhmadClient(api_key="sk_sandbox_...") as client:
        created = await client.escrows.create(
            title="Logo design", amount=Decimal("500"), buyer_email="buyer@example.com",
            mode="standard", contract_terms="...", estimated_delivery_days=7,
        )

Sub-packages: ``dhmad_async.models`` (response types), ``dhmad_async.webhooks``
(verification), ``dhmad_async.batch`` (bulk creation), ``dhmad_async.testing``
(the local emulator).
"""

from __future__ import annotations

from dhmad_async._client import DhmadClient, DhmadDeveloperClient
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
from dhmad_async._pagination import AsyncPager, PaginationError
from dhmad_async._ratelimit import RateLimiter
from dhmad_async.resources import EscrowParams, InvalidParamsError

__all__ = [
    "USE_CLIENT_DEFAULT",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "DhmadClient",
    "DhmadDeveloperClient",
    "DhmadError",
    "EscrowParams",
    "InternalServerError",
    "InvalidParamsError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "ResponseValidationError",
    "RetryPolicy",
    "Timeout",
    "UnprocessableEntityError",
    "WebhookFailureReason",
    "WebhookVerificationError",
]

# Reprs and tracebacks say `dhmad_async.DhmadClient`, not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("dhmad_async."):
        _obj.__module__ = "dhmad_async"
del _name, _obj
