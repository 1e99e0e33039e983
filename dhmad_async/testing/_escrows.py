"""Escrow rules of the emulator: create/update validation, deliver/reject/cancel, views. No I/O."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs

from dhmad_async.testing._common import ApiError, bad_request, iso, new_object_id, quantize_tnd
from dhmad_async.testing._state import KeyContext, Store

__all__ = [
    "NOT_ASSOCIATED",
    "EscrowRules",
    "cancel",
    "create_escrow",
    "deliver",
    "escrow_view",
    "reject_delivery",
    "require_association",
    "status_changed",
    "update_escrow",
    "visible_escrow",
]

JsonDict = dict[str, Any]
DAY = 86400.0

NOT_ASSOCIATED = ApiError(
    403,
    {
        "error": "Forbidden",
        "message": "Developer account must be associated with a user account. "
        "Please associate your account in the developer dashboard.",
    },
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INTERNAL = ("developerId", "seq", "cancellationRequest")


@attrs.frozen
class EscrowRules:
    """Tunable business rules; defaults follow the documented modes, proof bounds and fees."""

    fee_rate: Decimal = Decimal("0.05")  # INF: every example is 5 %
    fx_rates: dict[str, Decimal] = attrs.field(
        factory=lambda: {"TND": Decimal(1), "USD": Decimal("3.1"), "EUR": Decimal("3.4")}
    )  # INF: rate source UNKNOWN; fixed rates keep tests reproducible
    min_amount_tnd: Decimal = Decimal(5)
    min_amount_tnd_instant: Decimal = Decimal("0.01")
    proof_hours_min: int = 6
    proof_hours_max: int = 72
    # Quick mode "requires sellerEmail" (overview) vs "use with sellerEmail" (create).
    quick_requires_seller_email: bool = True


def require_association(ctx: KeyContext) -> str:
    """The associated user's email or the documented 403."""
    if ctx.user_email is None:
        raise NOT_ASSOCIATED
    return ctx.user_email


def _user_ref(store: Store, email: str | None) -> JsonDict | None:
    user = store.user(email)
    if user is None:
        return None  # an invitee without an account shows as null
    return {k: user[k] for k in ("_id", "email", "firstName", "lastName")}


def escrow_view(store: Store, esc: JsonDict, *, compact_parties: bool = False) -> JsonDict:
    """The API shape of an escrow; ``compact_parties`` gives create's string seller id."""
    view = {k: v for k, v in esc.items() if k not in _INTERNAL}
    if esc["proofInfo"] is not None:
        view["proofInfo"] = {k: v for k, v in esc["proofInfo"].items() if not k.startswith("_")}
    if compact_parties:
        for party in ("seller", "buyer"):
            user = store.user(esc[f"{party}Email"])
            view[party] = user["_id"] if user else None
    else:
        view["seller"] = _user_ref(store, esc["sellerEmail"])
        view["buyer"] = _user_ref(store, esc["buyerEmail"])
    return view


def status_changed(store: Store, esc: JsonDict, status: str) -> None:
    """Move ``esc`` to ``status`` and emit ``escrow.status.updated``."""
    esc["status"] = status
    esc["updatedAt"] = store.now_iso()
    store.emit("escrow.status.updated", {"escrow": escrow_view(store, esc)}, esc["developerId"])


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _positive_int(value: object) -> bool:
    return _is_number(value) and Decimal(str(value)) == int(value) and int(value) >= 1  # type: ignore[call-overload]


def _fees(rules: EscrowRules, amount_tnd: Decimal, dev_pct: Decimal | None) -> JsonDict:
    dev_fee = quantize_tnd(amount_tnd * dev_pct / 100) if dev_pct else Decimal(0)
    return {
        "escrowFee": quantize_tnd(amount_tnd * rules.fee_rate),
        "developerFee": dev_fee,
        "developerFeePercentage": dev_pct if dev_pct is not None else Decimal(0),
    }


def _validate_policy(rules: EscrowRules, policy: object, details: dict[str, str]) -> JsonDict:
    if not isinstance(policy, dict) or policy.get("type") != "purchase_proof_required":
        details["fulfillmentPolicy"] = "fulfillmentPolicy.type must be purchase_proof_required"
        return {}
    out: JsonDict = {"type": "purchase_proof_required"}
    for name in ("proofUploadDeadlineHours", "buyerReviewDeadlineHours"):
        hours = policy.get(name, 24)  # proof guide: defaults to 24 h when omitted
        if not _is_number(hours) or not rules.proof_hours_min <= hours <= rules.proof_hours_max:
            details[f"fulfillmentPolicy.{name}"] = (
                f"{name} must be between {rules.proof_hours_min} and {rules.proof_hours_max} hours"
            )
        else:
            out[name] = hours
    out["allowedProofTypes"] = list(policy.get("allowedProofTypes") or [])
    return out


def create_escrow(store: Store, rules: EscrowRules, ctx: KeyContext, body: object) -> JsonDict:
    """Validate a ``POST /escrows`` body and store the escrow; returns the response."""
    if not isinstance(body, dict):
        raise bad_request("Invalid request parameters", {"body": "Body must be a JSON object"})
    seller_email = body.get("sellerEmail")
    if seller_email is None and ctx.user_email is None:
        raise NOT_ASSOCIATED  # only creation with sellerEmail works unassociated
    details: dict[str, str] = {}
    mode = body.get("mode", "standard")
    if mode not in ("standard", "quick", "instant"):
        details["mode"] = "mode must be one of standard, quick, instant"
    title = body.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
        details["title"] = "Title is required and must be 1-200 characters"
    amount = body.get("amount")
    if not _is_number(amount) or Decimal(str(amount)) <= 0:
        details["amount"] = "Amount must be a positive number"
    currency = body.get("currency", "TND")
    if currency not in rules.fx_rates:
        details["currency"] = "currency must be one of " + ", ".join(sorted(rules.fx_rates))
    buyer_email = body.get("buyerEmail")
    if not isinstance(buyer_email, str) or not _EMAIL.match(buyer_email):
        details["buyerEmail"] = "A valid buyerEmail is required"
    if seller_email is not None and (
        not isinstance(seller_email, str) or not _EMAIL.match(seller_email)
    ):
        details["sellerEmail"] = "sellerEmail must be a valid email"
    edd = body.get("estimatedDeliveryDays")
    if edd is None and mode in ("standard", "quick"):
        details["estimatedDeliveryDays"] = f"estimatedDeliveryDays is required for {mode} mode"
    elif edd is not None and not _positive_int(edd):
        details["estimatedDeliveryDays"] = "estimatedDeliveryDays must be at least 1"
    terms = body.get("contractTerms")
    if mode == "standard":
        if not isinstance(terms, str) or not terms.strip():
            details["contractTerms"] = "contractTerms is required for standard mode"
        elif len(terms) > 10_000:
            details["contractTerms"] = "contractTerms must be at most 10000 characters"
    elif terms is not None:
        details["contractTerms"] = f"contractTerms is not allowed in {mode} mode"
    auto_sign = body.get("autoSign", False)
    if auto_sign and mode != "standard":
        details["autoSign"] = f"autoSign is not allowed in {mode} mode"
    elif auto_sign and seller_email is not None:
        details["autoSign"] = "autoSign is only allowed when you are the seller (omit sellerEmail)"
    if mode == "instant" and seller_email is not None:
        details["sellerEmail"] = "sellerEmail is not allowed in instant mode"
    if mode == "quick" and seller_email is None and rules.quick_requires_seller_email:
        details["sellerEmail"] = "sellerEmail is required for quick mode"
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        details["description"] = "description must be at most 2000 characters"
    policy_in = body.get("fulfillmentPolicy")
    policy: JsonDict | None = None
    if policy_in is not None:
        if mode != "quick":
            details["fulfillmentPolicy"] = "fulfillmentPolicy is only valid with mode quick"
        else:
            policy = _validate_policy(rules, policy_in, details)
    seller = (seller_email or ctx.user_email or "").lower()
    dev_pct = body.get("developerFeePercentage")
    if dev_pct is not None:
        if not _is_number(dev_pct) or not 0 <= Decimal(str(dev_pct)) <= 100:
            details["developerFeePercentage"] = "developerFeePercentage must be between 0 and 100"
        elif Decimal(str(dev_pct)) > 0 and seller == (ctx.user_email or ""):
            details["developerFeePercentage"] = "developerFeePercentage needs a third-party seller"
    if isinstance(buyer_email, str) and buyer_email.lower() == seller:
        details["buyerEmail"] = "Buyer and seller must be different users"  # INF
    amount_tnd = Decimal(0)
    if "amount" not in details and "currency" not in details:
        amount_tnd = quantize_tnd(Decimal(str(amount)) * rules.fx_rates[currency])
        minimum = rules.min_amount_tnd_instant if mode == "instant" else rules.min_amount_tnd
        if amount_tnd < minimum:
            details["amount"] = f"Amount must be at least {minimum} TND for {mode} mode"
    if details:
        raise bad_request("Invalid request parameters", details)
    dev = ctx.developer
    if auto_sign and not dev["hasSignature"]:
        raise bad_request("autoSign requires a signature configured in the developer dashboard")
    assert isinstance(buyer_email, str) and isinstance(title, str)
    now = store.clock.now()
    esc_id = new_object_id()
    pct = Decimal(str(dev_pct)) if dev_pct is not None else None
    esc: JsonDict = {
        "id": esc_id,
        "_id": esc_id,
        "title": title,
        "description": description,
        "amount": Decimal(str(amount)),
        "currency": currency,
        "amountTnd": amount_tnd,
        **_fees(rules, amount_tnd, pct),
        "status": "pending",
        "mode": mode,
        "sellerEmail": seller,
        "buyerEmail": buyer_email.lower(),
        "estimatedDeliveryDays": int(edd) if edd is not None else 1,
        "expiresAt": iso(now + 30 * DAY),  # EX: one month after creation
        "paidAt": None,
        "deliveredAt": None,
        "completedAt": None,
        "cancelledAt": None,
        "completionDeadline": None,
        "deliveryRejections": [],
        "createdAt": iso(now),
        "updatedAt": iso(now),
        "createdViaThirdParty": True,
        "createdByApplicationName": dev["applicationName"],
        "disputeTicketId": None,
        "disputeTicket": None,
        "signatures": None,
        "fulfillmentPolicy": policy,
        "proofInfo": None,
        "developerId": dev["id"],
        "seq": store.next_seq(),
        "cancellationRequest": None,
    }
    contract_out: JsonDict | None = None
    if mode == "standard":
        assert isinstance(terms, str)
        contract_out = _create_contract(store, esc, terms, now)
    store.t["escrows"][esc_id] = esc
    if auto_sign:
        from dhmad_async.testing._sessions import sign_contract

        sign_contract(store, esc, "seller")
        assert contract_out is not None
        contract_out["sellerSigned"] = True
    store.save()
    return {
        "message": "Escrow created successfully",
        "escrow": escrow_view(store, esc, compact_parties=True),
        "contract": contract_out,
        "url": f"https://sandbox.dhmad.tn/dashboard/escrow/{esc_id}",
        "trackingId": esc_id,
    }


def _create_contract(store: Store, esc: JsonDict, terms: str, now: float) -> JsonDict:
    cid = new_object_id()
    pdf = f"https://sandbox.dhmad.tn/contracts/{cid}.pdf"
    store.t["contracts"][esc["id"]] = {
        "id": cid,
        "escrow": esc["id"],
        "terms": terms,
        "language": "en",
        "pdfUrl": pdf,
        "sellerSignature": None,
        "buyerSignature": None,
        "isFullySigned": False,
        "pdfVersions": [],
        "createdAt": iso(now),
        "updatedAt": iso(now),
    }
    esc["signatures"] = {
        "sellerSigned": False,
        "sellerSignedAt": None,
        "buyerSigned": False,
        "buyerSignedAt": None,
        "isFullySigned": False,
        "signedAt": None,
    }
    return {
        "id": cid,
        "pdfUrl": pdf,
        "sellerSigned": False,
        "buyerSigned": False,
        "isFullySigned": False,
    }


def visible_escrow(store: Store, ctx: KeyContext, escrow_id: str) -> JsonDict:
    """Escrow the caller may act on: 403 association, 404 unknown, 403 not a party."""
    require_association(ctx)
    esc = store.get_escrow(escrow_id)
    if not store.can_see(ctx, esc):
        raise ApiError(
            403,
            {
                "error": "Forbidden",
                "message": "You do not have access to this escrow. You can only view escrows "
                "where you are the seller or buyer.",
            },
        )
    return esc


def update_escrow(
    store: Store, rules: EscrowRules, ctx: KeyContext, escrow_id: str, body: object
) -> JsonDict:
    """``PUT /escrows/:id``: pending only, at least one of the known fields."""
    esc = visible_escrow(store, ctx, escrow_id)
    if not isinstance(body, dict):
        body = {}
    fields = {
        k: body[k] for k in ("title", "amount", "description", "estimatedDeliveryDays") if k in body
    }
    if "contractTerms" in body:
        # INF: escrow.updated covers terms changed "via API"; accept them for standard escrows.
        fields["contractTerms"] = body["contractTerms"]
    if esc["status"] != "pending":
        raise bad_request("Can only update escrows in pending status")
    if not fields:
        raise bad_request("No valid fields to update")
    details: dict[str, str] = {}
    title = fields.get("title")
    if "title" in fields and (not isinstance(title, str) or not 1 <= len(title.strip()) <= 200):
        details["title"] = "Title must be 1-200 characters"
    amount = fields.get("amount")
    if "amount" in fields and (not _is_number(amount) or Decimal(str(amount)) <= 0):
        details["amount"] = "Amount must be a positive number"
    desc = fields.get("description")
    if "description" in fields and (not isinstance(desc, str) or len(desc) > 2000):
        details["description"] = "description must be at most 2000 characters"
    edd = fields.get("estimatedDeliveryDays")
    if "estimatedDeliveryDays" in fields and not _positive_int(edd):
        details["estimatedDeliveryDays"] = "estimatedDeliveryDays must be at least 1"
    terms = fields.get("contractTerms")
    if "contractTerms" in fields and (
        esc["mode"] != "standard" or not isinstance(terms, str) or not 1 <= len(terms) <= 10_000
    ):
        details["contractTerms"] = "contractTerms must be 1-10000 characters (standard mode only)"
    if details:
        raise bad_request("Invalid request parameters", details)
    for key in ("title", "description"):
        if key in fields:
            esc[key] = fields[key]
    if "estimatedDeliveryDays" in fields:
        esc["estimatedDeliveryDays"] = int(edd)  # type: ignore[arg-type]
    if "amount" in fields:
        # The update page says the amount is "in TND"; INF: for USD/EUR escrows we treat it as
        # the face amount and re-lock amountTnd with the same fixed rate.
        esc["amount"] = Decimal(str(amount))
        esc["amountTnd"] = quantize_tnd(esc["amount"] * rules.fx_rates[esc["currency"]])
        pct = esc["developerFeePercentage"] or None
        esc.update(_fees(rules, esc["amountTnd"], pct))
    if "contractTerms" in fields:
        store.t["contracts"][esc["id"]]["terms"] = terms
    esc["updatedAt"] = store.now_iso()
    store.emit("escrow.updated", {"escrow": escrow_view(store, esc)}, esc["developerId"])
    store.save()
    return {"message": "Escrow updated successfully", "escrow": escrow_view(store, esc)}


def deliver(store: Store, ctx: KeyContext, escrow_id: str) -> JsonDict:
    """``POST /escrows/:id/deliver``."""
    esc = visible_escrow(store, ctx, escrow_id)
    if store.role_of(esc, ctx.user_email) != "seller":
        raise ApiError(
            403,
            {"error": "Forbidden", "message": "Only the seller can mark an escrow as delivered"},
        )
    if esc["status"] != "paid":
        raise bad_request("Escrow must be in paid status before delivery")
    proof = esc["proofInfo"]
    if proof is not None and proof["phase"] not in ("accepted", "accepted_by_timeout"):
        # The deliver page: 409 PROOF_NOT_ACCEPTED; body shape UNKNOWN, INF error+message+code.
        raise ApiError(
            409,
            {
                "error": "PROOF_NOT_ACCEPTED",
                "message": "Purchase proof must be accepted before delivery",
                "code": "PROOF_NOT_ACCEPTED",
            },
        )
    now = store.clock.now()
    esc["deliveredAt"] = iso(now)
    if esc["mode"] == "instant":
        esc["completedAt"] = iso(now)
        status_changed(store, esc, "completed")
        store.save()
        return {
            "message": "Escrow delivered and completed (instant mode). Funds released.",
            "escrow": escrow_view(store, esc),
        }
    esc["completionDeadline"] = iso(now + 7 * DAY)  # EX: deliveredAt + 7 days
    status_changed(store, esc, "delivered")
    store.save()
    return {"message": "Escrow marked as delivered", "escrow": escrow_view(store, esc)}


def reject_delivery(store: Store, ctx: KeyContext, escrow_id: str, body: object) -> JsonDict:
    """``POST /escrows/:id/reject-delivery``."""
    esc = visible_escrow(store, ctx, escrow_id)
    if store.role_of(esc, ctx.user_email) != "buyer":
        raise ApiError(
            403,
            {"error": "Forbidden", "message": "Only the buyer can reject delivery for this escrow"},
        )
    if esc["mode"] == "instant" or esc["status"] != "delivered":
        raise bad_request("Escrow must be in delivered status to reject delivery")
    if esc["disputeTicket"] is not None and esc["disputeTicket"]["status"] == "open":
        raise bad_request("Cannot reject delivery while a dispute is open")
    reason = body.get("reason") if isinstance(body, dict) else None
    esc["deliveryRejections"].append(
        {"rejectedAt": store.now_iso(), "reason": reason, "previousDeliveredAt": esc["deliveredAt"]}
    )
    esc["deliveredAt"] = None
    esc["completionDeadline"] = None
    status_changed(store, esc, "paid")
    store.emit(
        "escrow.delivery.rejected",
        {"escrow": escrow_view(store, esc), "reason": reason},
        esc["developerId"],
    )
    store.save()
    return {
        "message": "Delivery rejected. Escrow returned to paid status.",
        "escrow": escrow_view(store, esc),
    }


def cancel(store: Store, ctx: KeyContext, escrow_id: str) -> JsonDict:
    """``POST /escrows/:id/cancel``: pending only, either party."""
    esc = visible_escrow(store, ctx, escrow_id)
    if esc["status"] != "pending":
        raise bad_request(
            "Only pending escrows can be cancelled via API. For paid or delivered escrows, "
            "buyers use a request_cancellation checkout session; sellers use a cancel_escrow "
            "checkout session."
        )
    esc["cancelledAt"] = store.now_iso()
    status_changed(store, esc, "cancelled")
    store.save()
    return {"message": "Escrow cancelled successfully", "escrow": escrow_view(store, esc)}
