"""The public surface is deliberate: `__all__` lists exactly the public names."""

from __future__ import annotations

import dhmad_async
from dhmad_async import models


def test_all_lists_every_public_name_once() -> None:
    """Every non-underscore name of the package namespace is in __all__, exactly once."""
    public = {
        name
        for name in dir(dhmad_async)
        if not name.startswith("_")
        and name not in {"annotations"}
        and not isinstance(getattr(dhmad_async, name), type(dhmad_async))
    } | {"__version__"}

    assert sorted(public) == sorted(dhmad_async.__all__)
    assert len(set(dhmad_async.__all__)) == len(dhmad_async.__all__)


def test_architecture_names_are_importable() -> None:
    """The names other code relies on (design/ARCHITECTURE.md) import from the top level."""
    for name in (
        "DhmadClient",
        "RateLimit",
        "RetryPolicy",
        "Timeout",
        "DhmadError",
        "APIConnectionError",
        "APITimeoutError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "RateLimitError",
        "InternalServerError",
        "WebhookVerificationError",
        "ResponseValidationError",
    ):
        assert hasattr(dhmad_async, name), name


def test_exports_present_themselves_as_public() -> None:
    """Reprs and tracebacks show `dhmad_async.X`, not the private module."""
    assert "dhmad_async" == dhmad_async.DhmadClient.__module__
    assert "dhmad_async" == dhmad_async.RateLimitError.__module__


def test_models_all_is_sorted_and_complete() -> None:
    """The models namespace exports an __all__ whose names all exist."""
    for name in models.__all__:
        assert hasattr(models, name), name
