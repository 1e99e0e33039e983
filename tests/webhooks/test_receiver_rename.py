"""The webhook receiver is WebhookReceiver; WebhookEndpoint stays as a deprecated alias."""

from __future__ import annotations

import importlib

import pytest

from dhmad_async import models, webhooks
from dhmad_async.webhooks import WebhookReceiver, WebhookVerifier


async def test_old_name_warns_and_is_the_same_class() -> None:
    """``webhooks.WebhookEndpoint`` warns with DeprecationWarning and still works."""
    with pytest.warns(DeprecationWarning, match="use WebhookReceiver"):
        from dhmad_async.webhooks import WebhookEndpoint
    assert WebhookEndpoint is WebhookReceiver
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("dhmad_async.webhooks._receivers").WebhookEndpoint

    async def handler(event: object) -> None:
        return None

    receiver = old(WebhookVerifier(["s" * 32]), handler)
    assert isinstance(receiver, WebhookReceiver)


def test_new_name_is_exported_and_the_old_one_is_not() -> None:
    """__all__ lists WebhookReceiver only; the API model keeps its name, without warning."""
    assert "WebhookReceiver" in webhooks.__all__
    assert "WebhookEndpoint" not in webhooks.__all__
    assert models.WebhookEndpoint is not WebhookReceiver  # the API's webhook configuration
    with pytest.raises(AttributeError):
        webhooks.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
