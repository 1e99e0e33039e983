"""
Documented enum parameters: Literal types, the same lists at run time, and Unknown as the escape.

Before, ``mode: Literal[...] | str`` and ``action: str`` let a typo through
the type checker, and there was no supported way to send a value DHMAD adds later.
"""

from __future__ import annotations

import typing

import pytest
from client_fakes import RecordingTransport, make_client, response, sample

from dhmad_async import DhmadDeveloperClient, InvalidParamsError, RateLimit, Unknown
from dhmad_async.models import (
    CheckoutAction,
    CheckoutActionName,
    Currency,
    CurrencyCode,
    EscrowMode,
    EscrowModeName,
    EscrowStatus,
    EscrowStatusName,
    PartyRole,
    SubscribableEventName,
    WebhookEventType,
)
from dhmad_async.testing._routes_root import WEBHOOK_EVENTS

QUICK = {
    "title": "Kilim",
    "amount": "250",
    "buyer_email": "buyer@example.com",
    "seller_email": "seller@example.com",
    "estimated_delivery_days": 3,
}


@pytest.mark.parametrize(
    ("literal", "enum"),
    [
        (EscrowModeName, EscrowMode),
        (CurrencyCode, Currency),
        (EscrowStatusName, EscrowStatus),
        (CheckoutActionName, CheckoutAction),
    ],
)
def test_each_literal_lists_exactly_its_enum(literal: object, enum: type) -> None:
    """The static and run-time lists of documented values cannot drift apart."""
    assert list(typing.get_args(literal)) == [member.value for member in enum]


def test_subscribable_events_are_the_documented_list() -> None:
    """The events Literal is the Webhooks API's list (which the emulator keeps on its own)."""
    names = typing.get_args(SubscribableEventName)
    assert names == WEBHOOK_EVENTS
    assert set(names) <= {member.value for member in WebhookEventType}
    assert typing.get_args(PartyRole) == ("seller", "buyer")


def test_unknown_is_the_string_it_wraps() -> None:
    """Unknown("x") equals and encodes as "x", and shows that it was deliberate."""
    value = Unknown("escrow_plus")
    assert value == "escrow_plus" and isinstance(value, str)
    assert repr(value) == "Unknown('escrow_plus')"


async def test_unknown_values_are_sent_as_given_and_plain_typos_are_refused() -> None:
    """mode/currency/status/role/action: Unknown(...) is sent; a plain unknown str is refused."""
    transport = RecordingTransport(response(200, sample("escrow_create")))
    client = make_client(transport)
    await client.escrows.create(**QUICK, mode=Unknown("escrow_plus"), currency=Unknown("GBP"))
    assert transport.last.json()["mode"] == "escrow_plus"
    assert transport.last.json()["currency"] == "GBP"
    with pytest.raises(InvalidParamsError) as info:
        await client.escrows.create(**QUICK, mode="qiuck")  # type: ignore[arg-type]
    assert "wrap a value this SDK does not know yet" in info.value.errors["mode"]
    await client.escrows.create(**QUICK, mode=EscrowMode.QUICK, currency=Currency.EUR)
    assert transport.last.json()["mode"] == "quick"

    transport.default = response(200, sample("escrow_list"))
    pager = client.escrows.list(status=Unknown("disputed"), role=Unknown("agent"))
    await pager
    assert transport.last.query["status"] == "disputed"
    assert transport.last.query["role"] == "agent"
    with pytest.raises(InvalidParamsError, match="status"):
        client.escrows.list(status="disputed")  # type: ignore[arg-type]
    with pytest.raises(InvalidParamsError, match="role"):
        client.escrows.list(role="agent")  # type: ignore[arg-type]

    transport.default = response(200, sample("session_create"))
    await client.checkout_sessions.create(
        "e1",
        action=Unknown("extend_deadline"),
        target_user_email="buyer@example.com",
        redirect_url="https://myapp.com/cb",
    )
    assert transport.last.json()["action"] == "extend_deadline"
    sent = len(transport.sent)
    with pytest.raises(InvalidParamsError, match="action"):
        await client.checkout_sessions.create(
            "e1",
            action="accept_payment",  # type: ignore[arg-type]
            target_user_email="buyer@example.com",
            redirect_url="https://myapp.com/cb",
        )
    assert len(transport.sent) == sent


async def test_webhook_events_are_checked_the_same_way() -> None:
    """A misspelt event is refused; a proof event goes only as Unknown; Unknown goes as given."""
    transport = RecordingTransport(response(200, sample("webhook_create")))
    developer = DhmadDeveloperClient(
        "devtok", environment="sandbox", transport=transport, rate_limit=RateLimit.disabled()
    )
    with pytest.raises(InvalidParamsError, match="events"):
        await developer.webhooks.create(
            "https://x.example/h",
            events=["escrow.status.update"],  # type: ignore[list-item]
        )
    assert transport.sent == []
    # The proof events are not in the Webhooks API's subscribable list (the API
    # refuses them): as enum members they are refused before sending too.
    with pytest.raises(InvalidParamsError, match="Unknown"):
        await developer.webhooks.create(
            "https://x.example/h", events=[WebhookEventType.ESCROW_PROOF_SUBMITTED]
        )
    assert transport.sent == []
    await developer.webhooks.create(
        "https://x.example/h",
        events=[
            "escrow.status.updated",
            WebhookEventType.CONTRACT_SIGNED,
            Unknown("escrow.proof.submitted"),
            Unknown("escrow.disputed"),
        ],
    )
    assert transport.last.json()["events"] == [
        "escrow.status.updated",
        "contract.signed",
        "escrow.proof.submitted",
        "escrow.disputed",
    ]


def test_create_many_names_every_batch_option() -> None:
    """``escrows.create_many`` takes each BatchOptions field by name: none may drift away."""
    import inspect

    import attrs

    from dhmad_async.batch import BatchOptions
    from dhmad_async.resources.escrows import Escrows

    keywords = set(inspect.signature(Escrows.create_many).parameters)
    assert {field.name for field in attrs.fields(BatchOptions)} <= keywords
