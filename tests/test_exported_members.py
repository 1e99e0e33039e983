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


def test_issue_13_names_are_exported() -> None:
    """The API-surface additions import from where the README shows them."""
    from dhmad_async import resources, webhooks

    for name in ("APIResponse", "PaginationDriftWarning", "Unknown"):
        assert name in dhmad_async.__all__, name
        assert hasattr(dhmad_async, name), name
    assert dhmad_async.Unknown is models.Unknown
    for name in (
        "CheckoutActionName",
        "CurrencyCode",
        "EscrowModeName",
        "EscrowStatusName",
        "PartyRole",
        "SubscribableEventName",
        "Unknown",
    ):
        assert name in models.__all__, name
    for name in ("Signature", "signature_data_uri", "EscrowsWithRawResponse"):
        assert name in resources.__all__, name
    assert "WebhookReceiver" in webhooks.__all__
    assert "WebhookEndpoint" not in webhooks.__all__  # deprecated alias, still importable
    assert "WebhookEndpoint" in models.__all__  # the API object keeps its name


def test_client_surface() -> None:
    """with_options on both clients; signature on the developer client; raw views on resources."""
    for cls in (dhmad_async.DhmadClient, dhmad_async.DhmadDeveloperClient):
        assert callable(cls.with_options)
    client = dhmad_async.DhmadDeveloperClient("token")
    assert hasattr(client, "signature") and hasattr(client.signature, "with_raw_response")
    assert "PaginationDriftWarning" == dhmad_async.PaginationDriftWarning.__name__
    assert dhmad_async.APIResponse.__module__ == "dhmad_async"
