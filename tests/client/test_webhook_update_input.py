"""Webhook update takes a real bool and only PUT or PATCH; anything else sends nothing."""

from __future__ import annotations

import pytest
from client_fakes import InstantClock, RecordingTransport, response

from dhmad_async import DhmadDeveloperClient, InvalidParamsError, RateLimit

WEBHOOK = {
    "webhook": {
        "id": "507f1f77bcf86cd799439011",
        "url": "https://x.example/h",
        "events": ["escrow.status.updated"],
        "isActive": True,
        "createdAt": "2024-01-15T10:00:00Z",
    }
}


def _developer() -> tuple[DhmadDeveloperClient, RecordingTransport]:
    transport = RecordingTransport(response(200, WEBHOOK))
    client = DhmadDeveloperClient(
        "dev-token",
        environment="sandbox",
        transport=transport,
        rate_limit=RateLimit.disabled(),
        clock=InstantClock(),
    )
    return client, transport


@pytest.mark.parametrize("value", ["false", "False", "0", "", 0, 1, [], 1.0, "true"])
async def test_is_active_must_be_a_bool(value: object) -> None:
    """``is_active="false"`` used to turn the webhook *on* (``bool("false")`` is True)."""
    client, transport = _developer()
    with pytest.raises(InvalidParamsError, match="is_active") as info:
        await client.webhooks.update("w1", is_active=value)  # type: ignore[arg-type]
    assert "True or False" in str(info.value)
    assert transport.sent == []


@pytest.mark.parametrize("method", ["DELETE", "POST", "GET", "delete", "", None, "PUT "])
async def test_method_must_be_put_or_patch(method: object) -> None:
    """``method="DELETE"`` used to delete the webhook it was meant to update."""
    client, transport = _developer()
    with pytest.raises(InvalidParamsError, match="method"):
        await client.webhooks.update("w1", url="https://x.example/h", method=method)  # type: ignore[arg-type]
    assert transport.sent == []


@pytest.mark.parametrize(
    ("given", "sent"), [("PUT", "PUT"), ("PATCH", "PATCH"), ("patch", "PATCH")]
)
@pytest.mark.parametrize("active", [True, False])
async def test_valid_updates_are_sent(given: str, sent: str, active: bool) -> None:
    """A real bool goes out as a JSON boolean, with the chosen method."""
    client, transport = _developer()
    await client.webhooks.update("w1", is_active=active, method=given)  # type: ignore[arg-type]
    assert transport.last.method == sent
    assert transport.last.json() == {"isActive": active}
