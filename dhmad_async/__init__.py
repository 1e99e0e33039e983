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

import typing

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
    InvalidParamsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimiterUnavailableError,
    ResponseValidationError,
    UnprocessableEntityError,
    WebhookFailureReason,
    WebhookVerificationError,
)
from dhmad_async._pagination import AsyncPager, PaginationDriftWarning, PaginationError
from dhmad_async._response import APIResponse
from dhmad_async._version import __version__
from dhmad_async.ratelimit._local import RateLimiter

if typing.TYPE_CHECKING:  # pragma: no cover
    from dhmad_async.models import Unknown
    from dhmad_async.resources import EscrowParams

__all__ = [
    "USE_CLIENT_DEFAULT",
    "APIConnectionError",
    "APIResponse",
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
    "PaginationDriftWarning",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "ResponseValidationError",
    "RetryPolicy",
    "Timeout",
    "Unknown",
    "UnprocessableEntityError",
    "WebhookFailureReason",
    "WebhookVerificationError",
    "__version__",
]

# Loaded on first use: the resources and models double the import time of the
# package, and most processes that import it never build an EscrowParams.
_LAZY = {"EscrowParams": "dhmad_async.resources", "Unknown": "dhmad_async.models"}


def __getattr__(name: str) -> typing.Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dhmad_async' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Reprs and tracebacks say `dhmad_async.DhmadClient`, not the private module.
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) and _obj.__module__.startswith("dhmad_async."):
        _obj.__module__ = "dhmad_async"
del _name, _obj
