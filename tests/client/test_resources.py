"""Every endpoint method: method, path, query and JSON body sent; REFERENCE examples parsed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from client_fakes import (
    SANDBOX_KEY,
    SANDBOX_ROOT,
    SANDBOX_V1,
    InstantClock,
    RecordingTransport,
    Sent,
    make_client,
    response,
    sample,
)

from dhmad_async import (
    BadRequestError,
    DhmadDeveloperClient,
    InvalidParamsError,
    PaginationError,
    RateLimit,
)
from dhmad_async.models import FulfillmentPolicy, UserRef

ESCROW_ID = "507f1f77bcf86cd799439011"
SESSION_ID = "550e8400-e29b-41d4-a716-446655440000"
KYC_ID = "6655abc1234567890abcdef12"


def _client(*replies: Any) -> tuple[Any, RecordingTransport]:
    transport = RecordingTransport().queue(*replies)
    return make_client(transport), transport


async def test_me() -> None:
    """GET /me parses the key info including its rate limit."""
    client, t = _client(response(200, sample("me")))
    me = await client.account.me()
    assert (t.last.method, t.last.url) == ("GET", f"{SANDBOX_V1}/me")
    assert t.last.body is None
    assert me.api_key is not None
    assert me.api_key.rate_limit == 100
    assert me.developer is not None
    assert me.developer.company_name == "Example Corp"


async def test_balance() -> None:
    """GET /balance unwraps the envelope into exact Decimals."""
    client, t = _client(response(200, sample("balance")))
    balance = await client.account.balance()
    assert t.last.url == f"{SANDBOX_V1}/balance"
    assert balance.available == Decimal("1500.50")
    assert balance.escrow == Decimal("500.25")


async def test_create_escrow_standard_body_and_exact_decimal() -> None:
    """POST /escrows sends a camelCase body with the amount's exact digits."""
    client, t = _client(response(201, sample("escrow_create")))
    created = await client.escrows.create(
        title="Website design",
        amount=Decimal("1500.505"),
        buyer_email=" buyer@example.com ",
        seller_email="seller@example.com",
        estimated_delivery_days=14,
        contract_terms="Deliver a website.",
        developer_fee_percentage=Decimal("5"),
        description="Landing page",
    )
    assert (t.last.method, t.last.url) == ("POST", f"{SANDBOX_V1}/escrows")
    assert t.last.body is not None
    assert b'"amount":1500.505' in t.last.body
    assert t.last.headers["Content-Type"] == "application/json"
    assert t.last.json() == {
        "title": "Website design",
        "amount": Decimal("1500.505"),
        "currency": "TND",
        "buyerEmail": "buyer@example.com",
        "mode": "standard",
        "sellerEmail": "seller@example.com",
        "estimatedDeliveryDays": 14,
        "contractTerms": "Deliver a website.",
        "developerFeePercentage": 5,
        "description": "Landing page",
    }
    assert created.escrow.id == ESCROW_ID
    assert created.contract is not None
    assert created.tracking_id == ESCROW_ID


async def test_create_escrow_quick_with_policy() -> None:
    """A quick escrow sends its fulfillment policy in camelCase and no contract terms."""
    client, t = _client(response(201, sample("escrow_create_quickstart")))
    policy = FulfillmentPolicy(
        type="purchase_proof_required",
        proof_upload_deadline_hours=24,
        buyer_review_deadline_hours=48,
        allowed_proof_types=["receipt"],
    )
    created = await client.escrows.create(
        title="Phone",
        amount="250",
        buyer_email="b@example.com",
        seller_email="s@example.com",
        mode="quick",
        estimated_delivery_days=3,
        fulfillment_policy=policy,
    )
    body = t.last.json()
    assert body["mode"] == "quick"
    assert body["amount"] == 250
    assert "contractTerms" not in body
    assert body["fulfillmentPolicy"] == {
        "type": "purchase_proof_required",
        "proofUploadDeadlineHours": 24,
        "buyerReviewDeadlineHours": 48,
        "allowedProofTypes": ["receipt"],
    }
    assert created.contract is None


async def test_list_escrows_filters_on_every_page() -> None:
    """Iteration sends status, role and limit with every page and stops at the last."""

    def page(sent: Sent) -> Any:
        number = int(sent.query["page"])
        data = sample("escrow_list")
        item = data["escrows"][0]
        data["escrows"] = [dict(item, id=f"{number:024x}")]
        data["pagination"] = {"page": number, "limit": 1, "total": 3, "pages": 3}
        return response(200, data)

    transport = RecordingTransport(page)
    client = make_client(transport)
    ids = [e.id async for e in client.escrows.list(status="pending", role="seller", limit=1)]
    assert ids == [f"{n:024x}" for n in (1, 2, 3)]
    assert [s.query for s in transport.sent] == [
        {"status": "pending", "role": "seller", "page": str(n), "limit": "1"} for n in (1, 2, 3)
    ]
    assert {s.path for s in transport.sent} == {"/api/v1/escrows"}


async def test_list_escrows_pages_and_sample() -> None:
    """pages() yields EscrowPage objects parsed from the REFERENCE example."""
    data = sample("escrow_list")
    data["pagination"]["pages"] = 1
    client, t = _client(response(200, data))
    pages = [p async for p in client.escrows.list()]
    assert len(pages) == 1
    assert "status" not in t.last.query
    client2, _ = _client(response(200, data))
    [first] = [p async for p in client2.escrows.list().pages()]
    assert first.pagination.total == 45
    assert isinstance(first.escrows[0].seller, UserRef)
    assert first.escrows[0].amount == Decimal("1000.00")


async def test_list_escrows_repeated_page_raises() -> None:
    """A server that repeats page 1 for page 2 raises PaginationError."""

    def same_items(sent: Sent) -> Any:
        data = sample("escrow_list")
        data["pagination"]["page"] = int(sent.query["page"])
        return response(200, data)

    client = make_client(RecordingTransport(same_items))
    with pytest.raises(PaginationError, match="same items"):
        _ = [e async for e in client.escrows.list()]


async def test_list_escrows_wrong_page_raises() -> None:
    """A server that answers page 1 when page 2 was asked raises PaginationError."""
    client, _ = _client(response(200, sample("escrow_list")), response(200, sample("escrow_list")))
    with pytest.raises(PaginationError, match="Asked for page 2"):
        _ = [e async for e in client.escrows.list()]


def test_list_escrows_validates_parameters() -> None:
    """limit above 100 and an unknown role are refused before anything is sent."""
    client, t = _client()
    with pytest.raises(InvalidParamsError) as info:
        client.escrows.list(limit=101, role="admin")  # type: ignore[arg-type]
    assert set(info.value.errors) == {"limit", "role"}
    assert t.sent == []


async def test_get_escrow() -> None:
    """GET /escrows/:id unwraps ``escrow`` and parses nested objects."""
    client, t = _client(response(200, sample("escrow_get")))
    escrow = await client.escrows.get(ESCROW_ID)
    assert (t.last.method, t.last.url) == ("GET", f"{SANDBOX_V1}/escrows/{ESCROW_ID}")
    assert escrow.status == "paid"
    assert escrow.dispute_ticket is not None
    assert escrow.dispute_ticket.ticket_number == "DHM-00042"


async def test_path_ids_are_escaped_and_required() -> None:
    """An id cannot change the path, and a blank id is refused (more in test_path_ids.py)."""
    client, t = _client(response(200, sample("escrow_get")))
    await client.escrows.get("a?b#c")
    assert t.last.url == f"{SANDBOX_V1}/escrows/a%3Fb%23c"
    for bad in (" ", "../me"):
        with pytest.raises(InvalidParamsError):
            await client.escrows.get(bad)


async def test_update_escrow() -> None:
    """PUT /escrows/:id sends only the given fields, camelCased."""
    client, t = _client(response(200, sample("escrow_update")))
    result = await client.escrows.update(
        ESCROW_ID, amount=Decimal("1500.00"), amount_currency="TND", estimated_delivery_days=14
    )
    assert (t.last.method, t.last.path) == ("PUT", f"/api/v1/escrows/{ESCROW_ID}")
    assert t.last.body == b'{"amount":1500.00,"estimatedDeliveryDays":14}'
    assert result.escrow.escrow_fee == Decimal("75.00")


async def test_update_escrow_needs_a_field() -> None:
    """An update with nothing to change is refused locally."""
    client, t = _client()
    with pytest.raises(InvalidParamsError, match="at least one"):
        await client.escrows.update(ESCROW_ID)
    assert t.sent == []


@pytest.mark.parametrize(
    ("method", "action", "sample_name", "status"),
    [
        ("deliver", "deliver", "escrow_deliver", "delivered"),
        ("cancel", "cancel", "escrow_cancel", "cancelled"),
    ],
)
async def test_bodiless_transitions(
    method: str, action: str, sample_name: str, status: str
) -> None:
    """deliver and cancel POST to their action path without a body."""
    client, t = _client(response(200, sample(sample_name)))
    result = await getattr(client.escrows, method)(ESCROW_ID)
    assert (t.last.method, t.last.path) == ("POST", f"/api/v1/escrows/{ESCROW_ID}/{action}")
    assert t.last.body is None
    assert result.escrow.status == status


async def test_reject_delivery_with_reason() -> None:
    """reject-delivery sends the optional reason and parses the rejections."""
    client, t = _client(response(200, sample("escrow_reject_delivery")))
    result = await client.escrows.reject_delivery(ESCROW_ID, reason="Item missing")
    assert t.last.path == f"/api/v1/escrows/{ESCROW_ID}/reject-delivery"
    assert t.last.json() == {"reason": "Item missing"}
    assert result.escrow.delivery_rejections[0].reason is not None


async def test_contract_and_proof() -> None:
    """GET contract and proof unwrap their envelopes."""
    client, t = _client(response(200, sample("contract_get")), response(200, sample("proof_get")))
    contract = await client.escrows.contract(ESCROW_ID)
    assert t.last.path == f"/api/v1/escrows/{ESCROW_ID}/contract"
    assert contract.is_fully_signed is True
    proof = await client.escrows.proof(ESCROW_ID)
    assert t.last.path == f"/api/v1/escrows/{ESCROW_ID}/proof"
    assert proof.submission_count == 1


async def test_checkout_session_create_and_get() -> None:
    """Sessions: camelCase body with metadata; GET unwraps ``session``."""
    client, t = _client(
        response(201, sample("session_create")), response(200, sample("session_get"))
    )
    created = await client.checkout_sessions.create(
        ESCROW_ID,
        action="sign_contract",
        target_user_email="buyer@example.com",
        redirect_url="https://myapp.com/checkout/callback",
        metadata={"order_id": "ord_123"},
    )
    assert (t.last.method, t.last.path) == ("POST", f"/api/v1/escrows/{ESCROW_ID}/sessions")
    assert t.last.json() == {
        "action": "sign_contract",
        "targetUserEmail": "buyer@example.com",
        "redirectUrl": "https://myapp.com/checkout/callback",
        "metadata": {"order_id": "ord_123"},
    }
    assert created.session_id == SESSION_ID
    session = await client.checkout_sessions.get(SESSION_ID)
    assert t.last.url == f"{SANDBOX_V1}/sessions/{SESSION_ID}"
    assert session.metadata == {"order_id": "ord_123"}


async def test_checkout_session_validation_and_business_error() -> None:
    """An unknown action is refused locally; a business-rule 400 keeps user_message."""
    client, t = _client(
        response(
            400,
            {
                "error": {
                    "type": "business_rule_violation",
                    "code": "QUICK_ESCROW_NO_CONTRACT",
                    "message": "No contract",
                    "user_message": "Nothing to sign.",
                }
            },
        )
    )
    with pytest.raises(InvalidParamsError, match="action"):
        await client.checkout_sessions.create(
            ESCROW_ID, action="pay", target_user_email="b@example.com", redirect_url="https://x/y"
        )
    assert t.sent == []
    with pytest.raises(BadRequestError) as info:
        await client.checkout_sessions.create(
            ESCROW_ID,
            action="sign_contract",
            target_user_email="b@example.com",
            redirect_url="https://x/y",
        )
    assert info.value.user_message == "Nothing to sign."
    assert info.value.code == "QUICK_ESCROW_NO_CONTRACT"


async def test_identity_verifications() -> None:
    """KYC endpoints use snake_case bodies and a lowercased email query."""
    client, t = _client(
        response(201, sample("identity_create")),
        response(200, sample("identity_get")),
        response(200, sample("identity_list")),
    )
    created = await client.identity_verifications.create(
        email="Seller@Example.com",
        external_user_id="seller_42",
        redirect_url="https://myapp.com/kyc/done",
        metadata={"plan": "pro"},
    )
    assert (t.last.method, t.last.path) == ("POST", "/api/v1/identity-verifications")
    assert t.last.json() == {
        "email": "seller@example.com",
        "external_user_id": "seller_42",
        "redirect_url": "https://myapp.com/kyc/done",
        "metadata": {"plan": "pro"},
    }
    assert created.id == KYC_ID
    got = await client.identity_verifications.get(KYC_ID)
    assert t.last.path == f"/api/v1/identity-verifications/{KYC_ID}"
    assert got.kyc_status == "approved"
    listed = await client.identity_verifications.list(email="Seller@Example.com")
    assert t.last.query == {"email": "seller@example.com"}
    assert listed[0].claim_status == "linked"


async def test_developer_webhooks_use_root_and_token() -> None:
    """Webhook management goes to /api/developer/webhooks with the developer token."""
    created = sample("webhook_create")
    webhook = created["webhook"]
    transport = RecordingTransport().queue(
        response(201, created),
        response(200, [webhook]),
        response(200, {"webhook": webhook}),
        response(200, {"webhook": webhook}),
        response(200, {"webhook": webhook}),
        response(204, b""),
    )
    client = DhmadDeveloperClient(
        "dev-token",
        environment="sandbox",
        transport=transport,
        rate_limit=RateLimit.disabled(),
        clock=InstantClock(),
    )
    endpoint = await client.webhooks.create(
        "https://example.com/webhooks/dhmad", events=["escrow.status.updated"]
    )
    assert (transport.last.method, transport.last.url) == (
        "POST",
        f"{SANDBOX_ROOT}/developer/webhooks",
    )
    assert transport.last.headers["Authorization"] == "Bearer dev-token"
    assert transport.last.json() == {
        "url": "https://example.com/webhooks/dhmad",
        "events": ["escrow.status.updated"],
    }
    assert endpoint.secret is not None
    assert len(await client.webhooks.list()) == 1
    assert (transport.last.method, transport.last.path) == ("GET", "/api/developer/webhooks")
    await client.webhooks.get(ESCROW_ID)
    assert transport.last.path == f"/api/developer/webhooks/{ESCROW_ID}"
    await client.webhooks.update(ESCROW_ID, is_active=False, method="PATCH")
    assert (transport.last.method, transport.last.json()) == ("PATCH", {"isActive": False})
    await client.webhooks.regenerate_secret(ESCROW_ID)
    assert transport.last.path == f"/api/developer/webhooks/{ESCROW_ID}/regenerate-secret"
    assert await client.webhooks.delete(ESCROW_ID) is None
    assert transport.last.method == "DELETE"
    assert "dev-token" not in repr(client)
    await client.aclose()


def test_sandbox_key_constant_is_well_formed() -> None:
    """The test key has the documented shape (prefix + 64 hex)."""
    assert len(SANDBOX_KEY) == len("sk_sandbox_") + 64
