"""Every REFERENCE response example parses into its model; model-specific behaviour."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from dhmad_async import models
from dhmad_async._serialization import structure
from dhmad_async.models import (
    Balance,
    CheckoutAction,
    CheckoutSession,
    CheckoutSessionCreated,
    ClaimStatus,
    Contract,
    Escrow,
    EscrowCreated,
    EscrowMode,
    EscrowPage,
    EscrowResult,
    EscrowStatus,
    FulfillmentPolicy,
    IdentityVerification,
    IdentityVerificationList,
    KycStatus,
    Me,
    OAuthToken,
    Proof,
    ProofPhase,
    ProofType,
    SignatureStatus,
    UserInfo,
    UserRef,
    WebhookEndpointResult,
    WebhookEventType,
)

SAMPLES = Path(__file__).parent.parent / "samples"

# Sample file stem → (model, path of keys to the object the model describes).
SAMPLE_MODELS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "me": (Me, ()),
    "balance": (Balance, ("balance",)),
    "escrow_create": (EscrowCreated, ()),
    "escrow_create_quickstart": (EscrowCreated, ()),
    "escrow_list": (EscrowPage, ()),
    "escrow_get": (Escrow, ("escrow",)),
    "escrow_update": (EscrowResult, ()),
    "escrow_deliver": (EscrowResult, ()),
    "escrow_deliver_instant": (EscrowResult, ()),
    "escrow_reject_delivery": (EscrowResult, ()),
    "escrow_cancel": (EscrowResult, ()),
    "contract_get": (Contract, ("contract",)),
    "proof_get": (Proof, ("proof",)),
    "fulfillment_policy": (FulfillmentPolicy, ()),
    "session_create": (CheckoutSessionCreated, ()),
    "session_get": (CheckoutSession, ("session",)),
    "identity_create": (IdentityVerification, ()),
    "identity_get": (IdentityVerification, ()),
    "identity_list": (IdentityVerificationList, ()),
    "webhook_create": (WebhookEndpointResult, ()),
    "signature_put": (SignatureStatus, ()),
    "signature_get": (SignatureStatus, ()),
    "oauth_token": (OAuthToken, ()),
    "oauth_userinfo": (UserInfo, ()),
    "webhook_payload_status_updated": (Escrow, ("data", "escrow")),
}


def load(stem: str) -> Any:
    """Read a sample the way the client does: Decimal for every JSON float."""
    data = json.loads((SAMPLES / f"{stem}.json").read_text(), parse_float=Decimal)
    for key in SAMPLE_MODELS[stem][1]:
        data = data[key]
    return data


def parse(stem: str) -> Any:
    """Structure a sample into its model."""
    return structure(load(stem), SAMPLE_MODELS[stem][0])


def iter_values(obj: Any) -> Any:
    """Yield every attribute value of a model tree."""
    if attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            yield from iter_values(getattr(obj, field.name))
    elif isinstance(obj, list):
        for item in obj:
            yield from iter_values(item)
    else:
        yield obj


def test_every_sample_file_has_a_model() -> None:
    """No sample file is left out of the parametrised parse test, and none is missing."""
    assert {p.stem for p in SAMPLES.glob("*.json")} == set(SAMPLE_MODELS)


@pytest.mark.parametrize("stem", sorted(SAMPLE_MODELS))
def test_sample_parses(stem: str) -> None:
    """Each REFERENCE example parses, with aware datetimes and no float anywhere."""
    model = parse(stem)
    assert isinstance(model, SAMPLE_MODELS[stem][0])
    for value in iter_values(model):
        assert not isinstance(value, float)
        if isinstance(value, dt.datetime):
            assert value.utcoffset() == dt.timedelta(0)


def test_create_escrow_response() -> None:
    """The create response keeps fees exact, seller null, and the compact contract."""
    created = parse("escrow_create")
    assert created.escrow.amount == Decimal("500")
    assert created.escrow.developer_fee_percentage == Decimal("5")
    assert created.escrow.status is EscrowStatus.PENDING
    assert created.escrow.mode is EscrowMode.STANDARD
    assert created.escrow.seller is None
    assert created.escrow.created_at == dt.datetime(2024, 1, 15, 10, tzinfo=dt.UTC)
    assert created.contract is not None
    assert created.contract.is_fully_signed is False
    assert created.tracking_id == "507f1f77bcf86cd799439011"


def test_quickstart_seller_is_a_string_id() -> None:
    """In the quickstart variant the seller is a bare id and the contract is null."""
    created = parse("escrow_create_quickstart")
    assert created.escrow.seller == "507f1f77bcf86cd799439013"
    assert created.escrow.seller_id == "507f1f77bcf86cd799439013"
    assert created.escrow.seller_email is None
    assert created.contract is None


def test_get_escrow_users_dispute_and_signatures() -> None:
    """Nested users read ``_id``; dispute ticket and signatures are typed."""
    escrow = parse("escrow_get")
    assert escrow.seller == UserRef(
        id="507f1f77bcf86cd799439013",
        email="seller@example.com",
        first_name="John",
        last_name="Doe",
    )
    assert escrow.buyer_id == "507f1f77bcf86cd799439014"
    assert escrow.amount == Decimal("1000.00")
    assert escrow.dispute_ticket is not None
    assert escrow.dispute_ticket.ticket_number == "DHM-00042"
    assert escrow.signatures is not None
    assert escrow.signatures.signed_at == dt.datetime(2024, 1, 16, 9, tzinfo=dt.UTC)


def test_list_page() -> None:
    """The list response yields escrows and the pagination numbers."""
    page = parse("escrow_list")
    assert page.pagination.total == 45
    assert page.pagination.pages == 3
    assert [e.id for e in page.escrows] == ["507f1f77bcf86cd799439011"]
    assert page.escrows[0].buyer is None


def test_reject_delivery_history() -> None:
    """Delivery rejections become a list of typed records."""
    result = parse("escrow_reject_delivery")
    (rejection,) = result.escrow.delivery_rejections
    assert rejection.reason == "One item was missing from the shipment."
    assert rejection.previous_delivered_at == dt.datetime(2024, 1, 20, 14, tzinfo=dt.UTC)
    assert result.escrow.completion_deadline is None


def test_contract_and_proof() -> None:
    """Contract signatures and proof submissions parse into nested models."""
    contract = parse("contract_get")
    assert contract.escrow == "507f1f77bcf86cd799439011"
    assert contract.pdf_versions[0].mime_type == "application/pdf"
    assert contract.buyer_signature is not None
    proof = parse("proof_get")
    assert proof.phase is ProofPhase.SUBMITTED_WAITING_BUYER_REVIEW
    assert proof.checkout_actions[0].action is CheckoutAction.REVIEW_PROOF
    assert proof.latest_submission is not None
    assert proof.latest_submission.attachments[0].mime_type == "image/jpeg"


def test_fulfillment_policy_proof_types() -> None:
    """Allowed proof types map to the open enum."""
    policy = parse("fulfillment_policy")
    assert policy.allowed_proof_types == [
        ProofType.RECEIPT,
        ProofType.TRACKING_PROOF,
        ProofType.PRODUCT_PHOTO,
    ]
    assert policy.proof_upload_deadline_hours == 24


def test_checkout_session() -> None:
    """The session echoes metadata and maps action/status to enums."""
    session = parse("session_get")
    assert session.action is CheckoutAction.SIGN_CONTRACT
    assert session.metadata == {"order_id": "ord_123"}
    assert session.escrow_id == "507f1f77bcf86cd799439011"


def test_identity_verification_is_snake_case() -> None:
    """Identity verification fields are read from snake_case keys."""
    created = parse("identity_create")
    assert created.external_user_id == "seller_42"
    assert created.kyc_status is KycStatus.PENDING
    assert created.verification_email_sent is True
    assert created.message == "A verification email has been sent to the user."
    linked = parse("identity_list").verifications[0]
    assert linked.claim_status is ClaimStatus.LINKED
    assert linked.linked_user_id == "6655user1234567890abcdef"


def test_oauth_tokens_stay_out_of_repr() -> None:
    """Access and ID tokens parse but never appear in repr."""
    token = parse("oauth_token")
    assert token.access_token == "eyJhbGciOiJIUzI1NiIs..."
    assert token.expires_in == 3600
    assert "eyJ" not in repr(token)
    info = parse("oauth_userinfo")
    assert info.kyc_status is KycStatus.APPROVED
    assert info.phone_number == "+21612345678"


def test_webhook_secret_stays_out_of_repr() -> None:
    """The webhook signing secret parses but never appears in repr."""
    result = parse("webhook_create")
    assert result.webhook.secret == "a1b2c3d4e5f6...your_webhook_secret_hex"
    assert result.webhook.events == [
        WebhookEventType.ESCROW_STATUS_UPDATED,
        WebhookEventType.CONTRACT_SIGNED,
    ]
    assert "a1b2c3" not in repr(result)
    built = attrs.evolve(result.webhook, secret="a1b2c3")
    assert "a1b2c3" not in repr(built)


def test_me_and_balance() -> None:
    """Key metadata and balance amounts parse exactly."""
    me = parse("me")
    assert me.api_key is not None
    assert me.api_key.rate_limit == 100
    assert me.api_key.expires_at is None
    assert me.developer is not None
    assert me.developer.company_name == "Example Corp"
    balance = parse("balance")
    assert balance.available == Decimal("1500.50")
    assert str(balance.escrow) == "500.25"


def test_models_are_frozen() -> None:
    """Models are immutable values."""
    escrow = Escrow(id="e", status=EscrowStatus.PAID)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        escrow.title = "x"  # type: ignore[misc]


def test_public_names_sorted_and_importable() -> None:
    """``models.__all__`` is sorted and every name in it exists."""
    assert models.__all__ == sorted(models.__all__)
    for name in models.__all__:
        assert getattr(models, name) is not None
