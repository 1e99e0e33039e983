"""
Which webhook events ``create()`` subscribes to, and which the SDK lets you ask for.

The Webhooks API documents a list of subscribable ``events`` and a default
(``escrow.status.updated``); the purchase-proof events are parsed by the SDK but
are not in that list. The emulator keeps its own copy of the list
(``testing/_routes_root.WEBHOOK_EVENTS``) and refuses anything else, as the
documented API may. Real HTTP on 127.0.0.1: the SDK, the emulator, a receiver.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from emulator_support import Receiver

from dhmad_async import BadRequestError, DhmadClient, DhmadDeveloperClient, InvalidParamsError
from dhmad_async.models import Unknown, WebhookEventType
from dhmad_async.resources import DEFAULT_WEBHOOK_EVENTS, SUBSCRIBABLE_EVENTS, WebhookEndpoints
from dhmad_async.testing import Emulator
from dhmad_async.testing._routes_root import WEBHOOK_EVENTS

PROOF_EVENTS = {
    "escrow.proof.required",
    "escrow.proof.submitted",
    "escrow.proof.needs_review",
    "escrow.proof.accepted_by_timeout",
    "escrow.proof.accepted",
}


@pytest.fixture
async def developer(emu: Emulator) -> AsyncIterator[DhmadDeveloperClient]:
    """The SDK's developer-token client on the emulator."""
    async with DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as d:
        yield d


def _webhook_posts(emu: Emulator) -> int:
    return emu.request_count("POST", "/api/developer/webhooks")


def test_the_sdk_list_is_the_documented_list_and_apart_from_what_it_parses() -> None:
    """SUBSCRIBABLE_EVENTS is the emulator's (documented) list; the SDK parses five more."""
    assert SUBSCRIBABLE_EVENTS == WEBHOOK_EVENTS
    assert DEFAULT_WEBHOOK_EVENTS == ("escrow.status.updated",)
    parsed = {member.value for member in WebhookEventType}
    assert parsed - set(SUBSCRIBABLE_EVENTS) == PROOF_EVENTS
    assert WebhookEndpoints.SUBSCRIBABLE_EVENTS is SUBSCRIBABLE_EVENTS
    assert WebhookEndpoints.DEFAULT_EVENTS is DEFAULT_WEBHOOK_EVENTS


def test_create_says_what_it_subscribes_to_by_default() -> None:
    """The docstring a user reads with help() names the default and the escape hatch."""
    doc = WebhookEndpoints.create.__doc__ or ""
    assert "escrow.status.updated" in doc and "only" in doc
    assert "SUBSCRIBABLE_EVENTS" in doc and "Unknown(" in doc


async def test_create_without_events_receives_status_updates_only(
    emu: Emulator, developer: DhmadDeveloperClient, receiver: Receiver
) -> None:
    """No events sent; the server's default applies; a contract signature is not delivered."""
    hook = await developer.webhooks.create(receiver.url)
    assert list(hook.events) == list(DEFAULT_WEBHOOK_EVENTS)
    async with DhmadClient(emu.api_key, base_url=emu.base_url) as client:
        created = await client.escrows.create(
            title="Logo",
            amount=Decimal("100"),
            buyer_email="buyer@example.com",
            contract_terms="Deliver a logo.",
            estimated_delivery_days=3,
        )
        escrow_id = created.escrow.id
        steps = [
            ("sign_contract", emu.user_email),  # we are the seller
            ("sign_contract", "buyer@example.com"),
            ("accept_pay", "buyer@example.com"),
        ]
        for action, person in steps:
            session = await client.checkout_sessions.create(
                escrow_id,
                action=action,  # type: ignore[arg-type]
                target_user_email=person,
                redirect_url="http://localhost:3000/done",
            )
            await emu.complete_session(session.session_id)
    await emu.wait_for_deliveries()
    emitted = [e["type"] for e in emu.outbox.events if e["data"]["escrow"]["id"] == escrow_id]
    assert emitted.count("contract.signed") == 2  # the signatures happened ...
    delivered = [json.loads(body)["type"] for _, body in receiver.seen]
    assert delivered == ["escrow.status.updated"]  # ... but only the default was delivered


async def test_every_subscribable_event_is_accepted(
    emu: Emulator, developer: DhmadDeveloperClient
) -> None:
    """events=SUBSCRIBABLE_EVENTS is one request the API takes whole."""
    hook = await developer.webhooks.create("https://shop.example/hooks", events=SUBSCRIBABLE_EVENTS)
    assert tuple(hook.events) == SUBSCRIBABLE_EVENTS
    updated = await developer.webhooks.update(hook.id, events=list(WebhookEventType)[:3])
    assert list(updated.events) == [e.value for e in list(WebhookEventType)[:3]]


async def test_every_event_the_sdk_parses_is_refused_before_sending(
    emu: Emulator, developer: DhmadDeveloperClient
) -> None:
    """Before this check the SDK sent all of WebhookEventType and the API answered 400."""
    before = _webhook_posts(emu)
    with pytest.raises(InvalidParamsError) as info:
        await developer.webhooks.create("https://shop.example/hooks", events=list(WebhookEventType))
    message = info.value.errors["events"]
    assert "escrow.proof.required" in message and "subscribable" in message
    assert "Unknown('escrow.proof.required')" in message
    assert _webhook_posts(emu) == before  # nothing was sent
    hook = await developer.webhooks.create("https://shop.example/hooks")
    with pytest.raises(InvalidParamsError, match="subscribable"):
        await developer.webhooks.update(
            hook.id, events=[WebhookEventType.ESCROW_PROOF_ACCEPTED_BY_TIMEOUT]
        )
    assert list((await developer.webhooks.get(hook.id)).events) == ["escrow.status.updated"]


@pytest.mark.parametrize(
    ("events", "rule"),
    [
        (["escrow.paid"], "must be one of escrow.status.updated, contract.signed"),
        ([], "at least one event"),
    ],
)
async def test_a_typo_or_an_empty_list_is_refused_naming_the_rule(
    emu: Emulator, developer: DhmadDeveloperClient, events: list[str], rule: str
) -> None:
    """The message lists the subscribable events (or says how to get the default)."""
    before = _webhook_posts(emu)
    with pytest.raises(InvalidParamsError) as info:
        await developer.webhooks.create("https://shop.example/hooks", events=events)  # type: ignore[arg-type]
    assert rule in info.value.errors["events"]
    assert _webhook_posts(emu) == before


async def test_unknown_asks_the_server_which_decides(
    emu: Emulator, developer: DhmadDeveloperClient
) -> None:
    """Unknown("escrow.proof.required") is sent as given; the documented API refuses it."""
    before = _webhook_posts(emu)
    with pytest.raises(BadRequestError) as info:
        await developer.webhooks.create(
            "https://shop.example/hooks",
            events=["escrow.status.updated", Unknown("escrow.proof.required")],
        )
    assert "events" in (info.value.details or {})
    assert _webhook_posts(emu) == before + 1  # it did go to the server
