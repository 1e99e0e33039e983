"""The escrow state machine, checkout sessions and proof flow of REFERENCE §3.2–§3.6."""

from __future__ import annotations

import pytest
from emulator_support import Raw

from dhmad_async.testing import ApiError, Emulator

BUYER, SELLER = "buyer@example.com", "merchant@example.com"


async def _paid_standard(raw: Raw) -> str:
    esc_id = str((await raw.create())["escrow"]["id"])
    await raw.act(esc_id, "sign_contract", SELLER)
    await raw.act(esc_id, "sign_contract", BUYER)
    await raw.act(esc_id, "accept_pay", BUYER)
    return esc_id


async def test_full_standard_flow(raw: Raw) -> None:
    """sign ×2 → accept_pay → deliver → complete ends completed with signatures set."""
    esc_id = await _paid_standard(raw)
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver")
    assert status == 200 and body["escrow"]["status"] == "delivered"
    assert body["escrow"]["completionDeadline"] is not None
    await raw.act(esc_id, "complete", BUYER)
    _, body, _ = await raw.call("GET", f"/escrows/{esc_id}")
    assert body["escrow"]["status"] == "completed"
    assert body["escrow"]["signatures"]["isFullySigned"] is True
    assert body["escrow"]["buyer"]["email"] == BUYER
    _, contract, _ = await raw.call("GET", f"/escrows/{esc_id}/contract")
    assert contract["contract"]["isFullySigned"] is True


async def test_deliver_wrong_status_and_wrong_party(raw: Raw) -> None:
    """Deliver on pending is 400; deliver by the buyer's key is 403 with the documented text."""
    esc_id = str((await raw.create())["escrow"]["id"])
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver")
    assert (status, body) == (
        400,
        {"error": "Bad Request", "message": "Escrow must be in paid status before delivery"},
    )
    buyer_key = raw.emu.create_api_key(user_email=BUYER).key
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver", key=buyer_key)
    assert status == 403
    assert body["message"] == "Only the seller can mark an escrow as delivered"


async def test_reject_delivery_buyer_only_and_back_to_paid(raw: Raw) -> None:
    """Only the buyer may reject delivery; it returns the escrow to paid with a rejection."""
    esc_id = await _paid_standard(raw)
    await raw.call("POST", f"/escrows/{esc_id}/deliver")
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/reject-delivery", json={})
    assert status == 403
    assert body["message"] == "Only the buyer can reject delivery for this escrow"
    buyer_key = raw.emu.create_api_key(user_email=BUYER).key
    status, body, _ = await raw.call(
        "POST", f"/escrows/{esc_id}/reject-delivery", json={"reason": "missing"}, key=buyer_key
    )
    assert status == 200 and body["escrow"]["status"] == "paid"
    assert body["escrow"]["deliveryRejections"][0]["reason"] == "missing"
    status, body, _ = await raw.call(
        "POST", f"/escrows/{esc_id}/reject-delivery", json={}, key=buyer_key
    )
    assert status == 400
    assert body["message"] == "Escrow must be in delivered status to reject delivery"


async def test_cancel_and_update_only_pending(raw: Raw) -> None:
    """Cancel and update work on pending escrows and give the documented 400 afterwards."""
    esc_id = str((await raw.create())["escrow"]["id"])
    status, body, _ = await raw.call("PUT", f"/escrows/{esc_id}", json={"amount": 1500})
    assert status == 200 and body["escrow"]["escrowFee"] == 75
    status, body, _ = await raw.call("PUT", f"/escrows/{esc_id}", json={})
    assert (status, body["message"]) == (400, "No valid fields to update")
    assert (await raw.call("POST", f"/escrows/{esc_id}/cancel"))[0] == 200
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/cancel")
    assert status == 400 and body["message"].startswith("Only pending escrows can be cancelled")
    status, body, _ = await raw.call("PUT", f"/escrows/{esc_id}", json={"title": "x"})
    assert (status, body["message"]) == (400, "Can only update escrows in pending status")


@pytest.mark.parametrize(
    ("mode", "action", "target", "code"),
    [
        ("quick", "sign_contract", BUYER, "QUICK_ESCROW_NO_CONTRACT"),
        ("standard", "request_cancellation", SELLER, "CANCELLATION_REQUEST_BUYER_ONLY"),
        ("standard", "cancel_escrow", BUYER, "CANCEL_ESCROW_SELLER_ONLY"),
        ("standard", "accept_pay", SELLER, "CHECKOUT_TARGET_NOT_BUYER"),
        ("standard", "accept_pay", BUYER, "CONTRACT_NOT_FULLY_SIGNED"),
        ("instant", "complete", BUYER, "INSTANT_ESCROW_NO_COMPLETE"),
    ],
)
async def test_session_business_rules(
    raw: Raw, mode: str, action: str, target: str, code: str
) -> None:
    """Session pre-validation returns the structured business_rule_violation error."""
    fields: dict[str, object] = {"mode": mode}
    if mode != "standard":
        fields["contractTerms"] = None
    if mode == "quick":
        fields.update(sellerEmail="seller@example.com")
        target = "seller@example.com" if target == SELLER else target
    esc_id = (await raw.create(**fields))["escrow"]["id"]
    status, body, _ = await raw.call(
        "POST",
        f"/escrows/{esc_id}/sessions",
        json={"action": action, "targetUserEmail": target, "redirectUrl": "https://a.example/x"},
    )
    assert status == 400
    assert body["error"]["type"] == "business_rule_violation" and body["error"]["code"] == code
    assert body["error"]["user_message"]


async def test_session_redirect_must_be_allowed_and_session_is_single_use(raw: Raw) -> None:
    """A non-allowed redirect is 400; a completed session cannot be completed again."""
    esc_id = (await raw.create())["escrow"]["id"]
    status, body, _ = await raw.call(
        "POST",
        f"/escrows/{esc_id}/sessions",
        json={"action": "sign_contract", "targetUserEmail": BUYER, "redirectUrl": "ftp://x/y"},
    )
    assert status == 400 and "redirect" in body["message"]
    sid = await raw.session_for(esc_id, "sign_contract", BUYER)
    _, got, _ = await raw.call("GET", f"/sessions/{sid}")
    assert got["session"]["status"] == "pending" and got["session"]["escrowId"] == esc_id
    await raw.emu.complete_session(sid)
    with pytest.raises(ApiError) as info:
        await raw.emu.complete_session(sid)
    assert info.value.body["error"]["code"] == "SESSION_NOT_PENDING"
    other = raw.emu.create_api_key(user_email="x@example.com").key
    status, body, _ = await raw.call("GET", f"/sessions/{sid}", key=other)
    assert status == 403
    status, body, _ = await raw.call("GET", "/sessions/550e8400-e29b-41d4-a716-446655440000")
    assert (status, body) == (404, {"error": "Checkout session not found"})


async def test_sessions_expire_after_thirty_emulated_minutes(raw: Raw) -> None:
    """Advancing emulated time past 30 min expires a pending session."""
    esc_id = (await raw.create())["escrow"]["id"]
    sid = await raw.session_for(esc_id, "sign_contract", BUYER)
    await raw.emu.advance(31 * 60)
    _, got, _ = await raw.call("GET", f"/sessions/{sid}")
    assert got["session"]["status"] == "expired"
    status, body, _ = await raw.call(
        "POST", f"/__emulator__/sessions/{sid}/complete", key=None, base=raw.emu.origin
    )
    assert status == 409 and body["error"]["code"] == "SESSION_NOT_PENDING"


async def test_cancellation_request_then_reject_then_accept(raw: Raw) -> None:
    """Buyer requests, seller rejects (status unchanged), buyer requests, seller accepts."""
    esc_id = await _paid_standard(raw)
    await raw.act(esc_id, "request_cancellation", BUYER)
    await raw.act(esc_id, "accept_cancellation", SELLER, outcome="reject")
    assert raw.emu.escrow(esc_id)["status"] == "paid"
    await raw.act(esc_id, "request_cancellation", BUYER)
    await raw.act(esc_id, "accept_cancellation", SELLER)
    assert raw.emu.escrow(esc_id)["status"] == "cancelled"


async def test_instant_deliver_completes(raw: Raw) -> None:
    """Instant mode: accept_pay then deliver goes straight to completed."""
    esc_id = (await raw.create(mode="instant", contractTerms=None))["escrow"]["id"]
    await raw.act(esc_id, "accept_pay", BUYER)
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver")
    assert status == 200 and body["escrow"]["status"] == "completed"
    assert "instant mode" in body["message"]


async def test_quick_with_proof_flow(raw: Raw) -> None:
    """Proof phases: required → submitted → corrections → submitted → timeout-accepted."""
    seller_key = raw.emu.create_api_key(user_email="seller@example.com").key
    esc_id = (
        await raw.create(
            mode="quick",
            contractTerms=None,
            sellerEmail="seller@example.com",
            fulfillmentPolicy={"type": "purchase_proof_required", "buyerReviewDeadlineHours": 6},
        )
    )["escrow"]["id"]
    await raw.act(esc_id, "accept_pay", BUYER)
    _, proof, _ = await raw.call("GET", f"/escrows/{esc_id}/proof")
    assert proof["proof"]["phase"] == "waiting_seller_proof"
    assert proof["proof"]["checkoutActions"][0]["action"] == "submit_proof"
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver", key=seller_key)
    assert status == 409 and body["error"] == "PROOF_NOT_ACCEPTED"
    await raw.act(esc_id, "submit_proof", "seller@example.com")
    await raw.act(esc_id, "review_proof", BUYER, outcome="reject")
    assert raw.emu.escrow(esc_id)["proofInfo"]["phase"] == "corrections_requested"
    await raw.act(esc_id, "submit_proof", "seller@example.com")
    await raw.emu.advance(7 * 3600)
    _, proof, _ = await raw.call("GET", f"/escrows/{esc_id}/proof")
    assert proof["proof"]["phase"] == "accepted_by_timeout"
    assert proof["proof"]["submissionCount"] == 2 and proof["proof"]["correctionRounds"] == 1
    status, body, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver", key=seller_key)
    assert status == 200 and body["escrow"]["status"] == "delivered"


async def test_contract_missing_for_quick_and_proof_missing_for_standard(raw: Raw) -> None:
    """Quick escrows have no contract (404); standard escrows have no proof (400)."""
    quick = await raw.create(
        mode="quick", contractTerms=None, sellerEmail="s@example.com", buyerEmail=SELLER
    )
    status, body, _ = await raw.call("GET", f"/escrows/{quick['escrow']['id']}/contract")
    assert (status, body) == (404, {"error": "Contract not found for this escrow"})
    std = (await raw.create())["escrow"]["id"]
    assert (await raw.call("GET", f"/escrows/{std}/proof"))[0] == 400


async def test_state_persists_in_sqlite(tmp_path: object) -> None:
    """With state_path, escrows and the primary key survive a restart."""
    from pathlib import Path

    import aiohttp

    path = Path(str(tmp_path)) / "emu.sqlite"
    async with Emulator(state_path=path) as first, aiohttp.ClientSession() as http:
        esc_id = (await Raw(first, http).create())["escrow"]["id"]
        key = first.api_key
    async with Emulator(state_path=path) as second, aiohttp.ClientSession() as http:
        assert second.api_key == key
        status, body, _ = await Raw(second, http).call("GET", f"/escrows/{esc_id}")
        assert status == 200 and body["escrow"]["amount"] == 1000
