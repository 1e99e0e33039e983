"""The SDK against the emulator over loopback: every endpoint, every §3.2 transition, each error.

No aioresponses: ``DhmadClient`` talks real HTTP to ``dhmad_async.testing.Emulator`` on
127.0.0.1, and the buyer's and seller's actions on dhmad.tn go through the control API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest

from dhmad_async import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DhmadClient,
    NotFoundError,
    PermissionDeniedError,
)
from dhmad_async.models import FulfillmentPolicy
from dhmad_async.testing import ApiOptions, Emulator, Fidelity

BUYER = "buyer@example.com"
SELLER = "seller@example.com"  # a third-party seller (quick mode)
REDIRECT = "http://localhost:3000/checkout/done"
PROOF_POLICY = FulfillmentPolicy(
    type="purchase_proof_required", proof_upload_deadline_hours=24, buyer_review_deadline_hours=6
)


@pytest.fixture
async def emu(fidelity: Fidelity) -> AsyncIterator[Emulator]:
    """A started emulator in each profile; this file's own so it does not depend on conftest."""
    async with Emulator(fidelity=fidelity) as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[DhmadClient]:
    """The SDK client on the emulator's primary key (merchant, the associated user)."""
    async with DhmadClient(emu.api_key, base_url=emu.base_url) as c:
        yield c


async def _client_for(emu: Emulator, email: str) -> DhmadClient:
    """A client whose key is associated with ``email`` (another developer account)."""
    return DhmadClient(emu.create_api_key(user_email=email).key, base_url=emu.base_url)


async def _act(client: DhmadClient, emu: Emulator, escrow_id: str, action: str, who: str) -> None:
    """Create a checkout session through the SDK and complete it as ``who`` on "dhmad.tn"."""
    session = await client.checkout_sessions.create(
        escrow_id, action=action, target_user_email=who, redirect_url=REDIRECT
    )
    await emu.complete_session(session.session_id)


async def _reject_session(
    client: DhmadClient, emu: Emulator, escrow_id: str, action: str, who: str
) -> None:
    """Like :func:`_act` with ``outcome="reject"`` (corrections / seller refuses)."""
    session = await client.checkout_sessions.create(
        escrow_id, action=action, target_user_email=who, redirect_url=REDIRECT
    )
    await emu.complete_session(session.session_id, outcome="reject")


async def _standard(client: DhmadClient, **extra: object) -> str:
    created = await client.escrows.create(
        title="Website",
        amount=Decimal("1000.500"),
        buyer_email=BUYER,
        contract_terms="Deliver a website within 7 days.",
        estimated_delivery_days=7,
        **extra,  # type: ignore[arg-type]
    )
    return created.escrow.id


async def _paid_standard(client: DhmadClient, emu: Emulator) -> str:
    escrow_id = await _standard(client)
    await _act(client, emu, escrow_id, "sign_contract", emu.user_email)
    await _act(client, emu, escrow_id, "sign_contract", BUYER)
    await _act(client, emu, escrow_id, "accept_pay", BUYER)
    return escrow_id


# -- account, create, read, update ------------------------------------------------------------


async def test_me_and_balance(client: DhmadClient, emu: Emulator) -> None:
    """GET /me and GET /balance parse into models with the key's limit and Decimal money."""
    me = await client.account.me()
    assert me.api_key is not None and me.api_key.rate_limit == 100
    assert me.api_key.environment == "sandbox"
    balance = await client.account.balance()
    assert isinstance(balance.available, Decimal) and balance.escrow == 0


async def test_create_get_update_with_exact_decimals(client: DhmadClient) -> None:
    """Create answers with a 5 % fee and contract; get and update round-trip exact Decimals."""
    created = await client.escrows.create(
        title="Kilim",
        amount=Decimal("1500.50"),
        buyer_email=BUYER,
        contract_terms="Ship in 5 days.",
        estimated_delivery_days=5,
    )
    assert created.escrow.escrow_fee == Decimal("75.025")
    assert created.contract is not None and created.contract.is_fully_signed is False
    assert created.tracking_id == created.escrow.id
    got = await client.escrows.get(created.escrow.id)
    assert got.amount == Decimal("1500.50") and got.status == "pending"
    updated = await client.escrows.update(
        created.escrow.id,
        amount=Decimal("2000"),
        amount_currency="TND",
        title="Kilim XL",
        estimated_delivery_days=9,
    )
    assert updated.escrow.escrow_fee == Decimal("100") and updated.escrow.title == "Kilim XL"
    assert (await client.escrows.get(created.escrow.id)).estimated_delivery_days == 9


async def test_usd_escrow_locks_tnd_amount(client: DhmadClient) -> None:
    """A USD instant escrow carries the FX-locked amountTnd (fixed rate 3.1) as a Decimal."""
    created = await client.escrows.create(
        title="Pattern", amount=Decimal("10"), currency="USD", buyer_email=BUYER, mode="instant"
    )
    assert created.escrow.amount_tnd == Decimal("31") and created.contract is None


# -- the transitions of REFERENCE §3.2 -----------------------------------------------------------


async def test_standard_flow_sign_pay_deliver_complete(client: DhmadClient, emu: Emulator) -> None:
    """Standard: both sign, the buyer pays, the seller delivers, the buyer completes."""
    escrow_id = await _standard(client)
    await _act(client, emu, escrow_id, "sign_contract", emu.user_email)
    contract = await client.escrows.contract(escrow_id)
    assert contract.seller_signature is not None and contract.is_fully_signed is False
    await _act(client, emu, escrow_id, "sign_contract", BUYER)
    assert (await client.escrows.contract(escrow_id)).is_fully_signed is True
    await _act(client, emu, escrow_id, "accept_pay", BUYER)
    assert (await client.escrows.get(escrow_id)).status == "paid"
    delivered = await client.escrows.deliver(escrow_id)
    assert delivered.escrow.status == "delivered"
    assert delivered.escrow.completion_deadline is not None
    await _act(client, emu, escrow_id, "complete", BUYER)
    done = await client.escrows.get(escrow_id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.signatures is not None and done.signatures.is_fully_signed is True


async def test_session_get_reports_status_and_metadata(client: DhmadClient, emu: Emulator) -> None:
    """GET /sessions/:id echoes metadata and turns completed after the user acts."""
    escrow_id = await _standard(client)
    created = await client.checkout_sessions.create(
        escrow_id,
        action="sign_contract",
        target_user_email=BUYER,
        redirect_url=REDIRECT,
        metadata={"order_id": "ord_123"},
    )
    before = await client.checkout_sessions.get(created.session_id)
    assert before.status == "pending" and before.metadata == {"order_id": "ord_123"}
    assert before.escrow_id == escrow_id and before.action == "sign_contract"
    await emu.complete_session(created.session_id)
    after = await client.checkout_sessions.get(created.session_id)
    assert after.status == "completed" and after.completed_at is not None


async def test_quick_with_proof_accept_path(client: DhmadClient, emu: Emulator) -> None:
    """Quick+proof: deliver is 409 PROOF_NOT_ACCEPTED until the buyer accepts the proof."""
    async with await _client_for(emu, SELLER) as seller:
        created = await client.escrows.create(
            title="Phone",
            amount="800",
            buyer_email=BUYER,
            seller_email=SELLER,
            mode="quick",
            estimated_delivery_days=3,
            fulfillment_policy=PROOF_POLICY,
        )
        escrow_id = created.escrow.id
        assert created.contract is None
        await _act(client, emu, escrow_id, "accept_pay", BUYER)
        proof = await client.escrows.proof(escrow_id)
        assert proof.phase == "waiting_seller_proof"
        assert [a.action for a in proof.checkout_actions] == ["submit_proof"]
        with pytest.raises(ConflictError) as info:
            await seller.escrows.deliver(escrow_id)
        assert info.value.status == 409 and info.value.code == "PROOF_NOT_ACCEPTED"
        assert info.value.may_have_succeeded is False
        await _act(client, emu, escrow_id, "submit_proof", SELLER)
        proof = await client.escrows.proof(escrow_id)
        assert proof.phase == "submitted_waiting_buyer_review" and proof.submission_count == 1
        await _act(client, emu, escrow_id, "review_proof", BUYER)
        assert (await client.escrows.proof(escrow_id)).phase == "accepted"
        assert (await seller.escrows.deliver(escrow_id)).escrow.status == "delivered"
        await _act(client, emu, escrow_id, "complete", BUYER)
        assert (await client.escrows.get(escrow_id)).status == "completed"


async def test_quick_with_proof_corrections_then_timeout(
    client: DhmadClient, emu: Emulator
) -> None:
    """review_proof "reject" asks for corrections; the review deadline then auto-accepts."""
    created = await client.escrows.create(
        title="Laptop",
        amount="900",
        buyer_email=BUYER,
        seller_email=SELLER,
        mode="quick",
        estimated_delivery_days=3,
        fulfillment_policy=PROOF_POLICY,
    )
    escrow_id = created.escrow.id
    await _act(client, emu, escrow_id, "accept_pay", BUYER)
    await _act(client, emu, escrow_id, "submit_proof", SELLER)
    await _reject_session(client, emu, escrow_id, "review_proof", BUYER)
    proof = await client.escrows.proof(escrow_id)
    assert proof.phase == "corrections_requested" and proof.correction_rounds == 1
    await _act(client, emu, escrow_id, "submit_proof", SELLER)
    await emu.advance(7 * 3600)  # past the 6 h review deadline
    proof = await client.escrows.proof(escrow_id)
    assert proof.phase == "accepted_by_timeout" and proof.submission_count == 2
    assert len(proof.submissions) == 2 and proof.latest_submission is not None


async def test_instant_deliver_completes(client: DhmadClient, emu: Emulator) -> None:
    """Instant: accept_pay then deliver goes straight to completed (funds released)."""
    created = await client.escrows.create(
        title="Pattern", amount=Decimal("0.01"), buyer_email=BUYER, mode="instant"
    )
    await _act(client, emu, created.escrow.id, "accept_pay", BUYER)
    result = await client.escrows.deliver(created.escrow.id)
    assert result.escrow.status == "completed" and "instant" in (result.message or "")


async def test_buyer_rejects_delivery_back_to_paid(client: DhmadClient, emu: Emulator) -> None:
    """The buyer's key rejects a delivery with a reason; the escrow returns to paid."""
    escrow_id = await _paid_standard(client, emu)
    await client.escrows.deliver(escrow_id)
    async with await _client_for(emu, BUYER) as buyer:
        result = await buyer.escrows.reject_delivery(escrow_id, reason="Two items missing.")
    assert result.escrow.status == "paid" and result.escrow.delivered_at is None
    assert [r.reason for r in result.escrow.delivery_rejections] == ["Two items missing."]


async def test_cancel_pending(client: DhmadClient) -> None:
    """A pending escrow is cancelled by POST /cancel; a second cancel is the documented 400."""
    escrow_id = await _standard(client)
    cancelled = await client.escrows.cancel(escrow_id)
    assert cancelled.escrow.status == "cancelled" and cancelled.escrow.cancelled_at is not None
    with pytest.raises(BadRequestError) as info:
        await client.escrows.cancel(escrow_id)
    assert info.value.status == 400 and info.value.code == "Bad Request"
    assert info.value.message.startswith("Only pending escrows can be cancelled via API")


async def test_cancellation_request_rejected_then_accepted(
    client: DhmadClient, emu: Emulator
) -> None:
    """Buyer requests cancellation; seller rejects (still paid); asks again; seller accepts."""
    escrow_id = await _paid_standard(client, emu)
    await _act(client, emu, escrow_id, "request_cancellation", BUYER)
    await _act(client, emu, escrow_id, "reject_cancellation", emu.user_email)
    assert (await client.escrows.get(escrow_id)).status == "paid"
    await _act(client, emu, escrow_id, "request_cancellation", BUYER)
    await _act(client, emu, escrow_id, "accept_cancellation", emu.user_email)
    assert (await client.escrows.get(escrow_id)).status == "cancelled"


async def test_seller_cancel_escrow_session_on_delivered(
    client: DhmadClient, emu: Emulator
) -> None:
    """The seller's cancel_escrow session cancels a delivered escrow at once."""
    escrow_id = await _paid_standard(client, emu)
    await client.escrows.deliver(escrow_id)
    await _act(client, emu, escrow_id, "cancel_escrow", emu.user_email)
    assert (await client.escrows.get(escrow_id)).status == "cancelled"


async def test_dispute_attaches_ticket_and_blocks_reject_delivery(
    client: DhmadClient, emu: Emulator
) -> None:
    """A dispute session attaches a disputeTicket; status stays; reject-delivery is refused."""
    escrow_id = await _paid_standard(client, emu)
    await client.escrows.deliver(escrow_id)
    await _act(client, emu, escrow_id, "dispute", BUYER)
    escrow = await client.escrows.get(escrow_id)
    assert escrow.status == "delivered" and escrow.dispute_ticket is not None
    assert (escrow.dispute_ticket.ticket_number or "").startswith("DHM-")
    async with await _client_for(emu, BUYER) as buyer:
        with pytest.raises(BadRequestError) as info:
            await buyer.escrows.reject_delivery(escrow_id)
    assert info.value.message == "Cannot reject delivery while a dispute is open"


# -- documented rejections, through the SDK ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "standard"}, "contractTerms"),  # standard without terms
        ({"mode": "quick", "contract_terms": "x", "seller_email": SELLER}, "contractTerms"),
        ({"mode": "instant", "seller_email": SELLER}, "sellerEmail"),
        ({"mode": "instant", "auto_sign": True}, "autoSign"),
        ({"mode": "quick"}, "sellerEmail"),
        ({"mode": "instant", "amount": "0"}, "amount"),
    ],
)
async def test_bad_mode_combinations_are_400_with_details(
    client: DhmadClient, fields: dict[str, object], field: str
) -> None:
    """With validate=False the server's 400 arrives as BadRequestError naming the field."""
    params: dict[str, object] = {
        "title": "T",
        "amount": "100",
        "buyer_email": BUYER,
        "estimated_delivery_days": 3,
    }
    params.update(fields)
    with pytest.raises(BadRequestError) as info:
        await client.escrows.create(validate=False, **params)  # type: ignore[arg-type]
    err = info.value
    assert (err.status, err.code, err.message) == (400, "Bad Request", "Invalid request parameters")
    assert field in err.details and err.may_have_succeeded is False


async def test_below_minimum_amount_is_rejected(client: DhmadClient) -> None:
    """A standard escrow under 5 TND (after FX) is refused by the server with details.amount."""
    with pytest.raises(BadRequestError) as info:
        await client.escrows.create(
            title="T",
            amount="4.99",
            buyer_email=BUYER,
            contract_terms="x",
            estimated_delivery_days=1,
            validate=False,
        )
    assert "amount" in info.value.details


async def test_wrong_party_wrong_status_and_not_found(client: DhmadClient, emu: Emulator) -> None:
    """Deliver on pending → 400, by the buyer → 403, unknown id → 404, each with its text."""
    escrow_id = await _standard(client)
    with pytest.raises(BadRequestError) as bad:
        await client.escrows.deliver(escrow_id)
    assert bad.value.message == "Escrow must be in paid status before delivery"
    async with await _client_for(emu, BUYER) as buyer:
        with pytest.raises(PermissionDeniedError) as forbidden:
            await buyer.escrows.deliver(escrow_id)
    assert forbidden.value.status == 403 and forbidden.value.code == "Forbidden"
    assert forbidden.value.message == "Only the seller can mark an escrow as delivered"
    with pytest.raises(NotFoundError) as missing:
        await client.escrows.get("f" * 24)
    assert (missing.value.status, missing.value.message) == (404, "Escrow not found")


async def test_update_and_contract_rejections(client: DhmadClient, emu: Emulator) -> None:
    """Updating a paid escrow is 400; a quick escrow's contract is 404; standard proof is 400."""
    escrow_id = await _paid_standard(client, emu)
    with pytest.raises(BadRequestError) as info:
        await client.escrows.update(escrow_id, title="New")
    assert info.value.message == "Can only update escrows in pending status"
    # We are the buyer here: only parties may read a contract (§2.10).
    quick = await client.escrows.create(
        title="Q", amount="50", buyer_email=emu.user_email, seller_email=SELLER, mode="quick",
        estimated_delivery_days=2,
    )  # fmt: skip
    with pytest.raises(NotFoundError) as nf:
        await client.escrows.contract(quick.escrow.id)
    assert nf.value.message == "Contract not found for this escrow"
    with pytest.raises(BadRequestError):
        await client.escrows.proof(escrow_id)


@pytest.mark.parametrize(
    ("action", "target", "code"),
    [
        ("request_cancellation", "merchant@example.com", "CANCELLATION_REQUEST_BUYER_ONLY"),
        ("cancel_escrow", BUYER, "CANCEL_ESCROW_SELLER_ONLY"),
        ("accept_pay", "merchant@example.com", "CHECKOUT_TARGET_NOT_BUYER"),
        ("accept_pay", BUYER, "CONTRACT_NOT_FULLY_SIGNED"),
        ("sign_contract", "stranger@example.com", "CHECKOUT_TARGET_NOT_PARTY"),
    ],
)
async def test_session_business_rules_raise_with_code_and_user_message(
    client: DhmadClient, action: str, target: str, code: str
) -> None:
    """A business-rule refusal is BadRequestError with code, error_type and user_message."""
    escrow_id = await _standard(client)
    with pytest.raises(BadRequestError) as info:
        await client.checkout_sessions.create(
            escrow_id, action=action, target_user_email=target, redirect_url=REDIRECT
        )
    err = info.value
    assert err.code == code and err.error_type == "business_rule_violation"
    assert err.user_message and err.message


async def test_quick_sign_contract_is_refused(client: DhmadClient) -> None:
    """sign_contract on a quick escrow: 400 QUICK_ESCROW_NO_CONTRACT (§2.12)."""
    quick = await client.escrows.create(
        title="Q", amount="50", buyer_email=BUYER, seller_email=SELLER, mode="quick",
        estimated_delivery_days=2,
    )  # fmt: skip
    with pytest.raises(BadRequestError) as info:
        await client.checkout_sessions.create(
            quick.escrow.id, action="sign_contract", target_user_email=BUYER, redirect_url=REDIRECT
        )
    assert info.value.code == "QUICK_ESCROW_NO_CONTRACT"


async def test_redirect_not_allowed_is_400(fidelity: Fidelity) -> None:
    """A redirect URL outside the allowed prefixes is refused by the server (§2.12)."""
    allowed = ApiOptions(allowed_redirect_urls=("https://shop.example/",))
    async with (
        Emulator(fidelity=fidelity, api=allowed) as emu,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        escrow_id = await _standard(client)
        with pytest.raises(BadRequestError) as info:
            await client.checkout_sessions.create(
                escrow_id, action="sign_contract", target_user_email=BUYER,
                redirect_url="https://evil.example/x",
            )  # fmt: skip
    assert "redirect" in info.value.message.lower()


async def test_auth_errors(emu: Emulator) -> None:
    """Unknown key, live key and an unassociated key give 401, 401 and 403 through the SDK."""
    async with DhmadClient("sk_sandbox_" + "0" * 64, base_url=emu.base_url) as unknown:
        with pytest.raises(AuthenticationError) as info:
            await unknown.account.me()
    assert info.value.message == "Invalid or expired API key"
    live = emu.create_api_key(user_email=emu.user_email, environment="live").key
    async with DhmadClient(live, base_url=emu.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.account.me()
    assert "sk_sandbox_" in info.value.message and live not in str(info.value)
    unassociated = emu.create_api_key(user_email=None).key
    async with DhmadClient(unassociated, base_url=emu.base_url, auth_header="x-api-key") as c:
        assert (await c.account.me()).api_key is not None
        with pytest.raises(PermissionDeniedError):
            await c.account.balance()


# -- identity verifications --------------------------------------------------------------------


async def test_identity_verification_lifecycle(fidelity: Fidelity) -> None:
    """Create (pending), duplicate → same record, list, decide approve, link → linked."""
    async with (
        Emulator(fidelity=fidelity, api=ApiOptions(kyc_auto_approve=False)) as emu,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        first = await client.identity_verifications.create(
            email="New.Seller@Example.com",
            external_user_id="seller_42",
            metadata={"plan": "pro"},
        )
        assert first.kyc_status == "pending" and first.email == "new.seller@example.com"
        again = await client.identity_verifications.create(email="new.seller@example.com")
        assert again.id == first.id
        await emu.decide_verification(first.id, "approve")
        got = await client.identity_verifications.get(first.id)
        assert got.kyc_status == "approved" and got.claim_status == "pending"
        await emu.link_verification(first.id)
        listed = await client.identity_verifications.list(email="new.seller@example.com")
        assert [v.id for v in listed] == [first.id]
        assert listed[0].claim_status == "linked" and listed[0].linked_user_id
        assert listed[0].external_user_id == "seller_42"


async def test_identity_sandbox_auto_approves_and_errors(client: DhmadClient) -> None:
    """Sandbox auto-approval; unknown id → 404; blocked domain → 403 (§2.14, §3.9)."""
    created = await client.identity_verifications.create(email="kyc@example.com")
    assert created.kyc_status == "approved"
    with pytest.raises(NotFoundError) as nf:
        await client.identity_verifications.get("6655abc1234567890abcdef99")
    assert nf.value.message == "Verification not found"
    with pytest.raises(PermissionDeniedError):
        await client.identity_verifications.create(email="someone@blocked.example")


# -- shapes the docs leave open (emulator options) ----------------------------------------------


async def test_null_empty_arrays_read_as_empty_lists(fidelity: Fidelity) -> None:
    """An empty page and an unsigned contract's pdfVersions written as null read as []."""
    async with (
        Emulator(fidelity=fidelity, api=ApiOptions(null_empty_arrays=True)) as emu,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        assert [e async for e in client.escrows.list()] == []
        escrow_id = await _standard(client)
        assert (await client.escrows.contract(escrow_id)).pdf_versions == []
        assert (await client.escrows.get(escrow_id)).delivery_rejections == []


async def test_data_envelope_is_accepted(fidelity: Fidelity) -> None:
    """Escrow endpoints answering {"data": ...} parse like the bare bodies."""
    async with (
        Emulator(fidelity=fidelity, api=ApiOptions(data_envelope=True)) as emu,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        escrow_id = await _standard(client)
        assert (await client.escrows.get(escrow_id)).id == escrow_id
        assert [e.id async for e in client.escrows.list()] == [escrow_id]


# -- OAuth -------------------------------------------------------------------------------------


async def test_oauth_sign_in_flow(client: DhmadClient, emu: Emulator) -> None:
    """authorization_url → emulator authorize redirect → parse_callback → tokens → userinfo."""
    client_id, client_secret = emu.oauth_client
    redirect_uri = "https://example.com/callback"
    request = client.oauth.authorization_url(client_id=client_id, redirect_uri=redirect_uri)
    # The SDK builds its URL from base_url's root; the emulator serves that same path.
    assert request.url.startswith(emu.root_url + "/oauth/authorize?")
    async with (
        aiohttp.ClientSession() as http,
        # emulator_user is the emulator's documented hook for who logs in (docs/emulator.md).
        http.get(request.url + "&emulator_user=" + quote(BUYER), allow_redirects=False) as resp,
    ):
        assert resp.status == 302
        callback = resp.headers["Location"]
    assert callback.startswith(redirect_uri)
    code = client.oauth.parse_callback(callback, expected_state=request.state)
    token = await client.oauth.exchange_code(
        code,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        code_verifier=request.code_verifier,
    )
    assert token.token_type == "Bearer" and token.id_token
    info = await client.oauth.userinfo(token.access_token)
    assert info.email == BUYER and info.sub
    with pytest.raises(BadRequestError) as reused:
        await client.oauth.exchange_code(
            code,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            code_verifier=request.code_verifier,
        )
    assert reused.value.code == "invalid_grant"
    with pytest.raises(AuthenticationError) as bad_token:
        await client.oauth.userinfo("not-a-token")
    assert bad_token.value.code == "invalid_token"


async def test_oauth_denied_callback(client: DhmadClient, emu: Emulator) -> None:
    """A denial redirect (emulator_deny=1) makes parse_callback raise access_denied."""
    client_id, _ = emu.oauth_client
    request = client.oauth.authorization_url(
        client_id=client_id, redirect_uri="https://example.com/callback"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(request.url + "&emulator_deny=1", allow_redirects=False) as resp,
    ):
        callback = resp.headers["Location"]
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    with pytest.raises(AuthenticationError) as info:
        client.oauth.parse_callback(callback, expected_state=request.state)
    assert info.value.code == "access_denied"
