"""Checkout sessions and the buyer/seller actions on dhmad.tn.

A session is completed by its target user on the hosted checkout page (``_pages``) or
through the control API; both apply the documented transition and emit the documented
webhooks here. No I/O.
"""

from __future__ import annotations

from typing import Any

from dhmad_async.testing._common import ApiError, bad_request, business_error, iso, new_uuid
from dhmad_async.testing._escrows import escrow_view, status_changed, visible_escrow
from dhmad_async.testing._state import KeyContext, Store

__all__ = [
    "ACTIONS",
    "complete_session",
    "create_session",
    "get_session",
    "session_status",
    "sign_contract",
    "tick",
]

JsonDict = dict[str, Any]
SESSION_TTL = 30 * 60.0  # EX: expiresAt = createdAt + 30 min
ACTIONS = (
    "sign_contract",
    "accept_pay",
    "complete",
    "dispute",
    "request_cancellation",
    "reject_cancellation",
    "accept_cancellation",
    "cancel_escrow",
    "submit_proof",
    "review_proof",
)
_NEEDS = {  # action -> required target role (None: either party)
    "sign_contract": None,
    "accept_pay": "buyer",
    "complete": "buyer",
    "dispute": None,
    "request_cancellation": "buyer",
    "reject_cancellation": "seller",
    "accept_cancellation": "seller",
    "cancel_escrow": "seller",
    "submit_proof": "seller",
    "review_proof": "buyer",
}
# Documented codes first; the rest are INF (the full code table is UNKNOWN).
_WRONG_PARTY = {
    "request_cancellation": "CANCELLATION_REQUEST_BUYER_ONLY",
    "cancel_escrow": "CANCEL_ESCROW_SELLER_ONLY",
}


def session_status(store: Store, sess: JsonDict) -> str:
    """``pending`` / ``completed`` / ``expired`` (INF: only ``completed`` is documented)."""
    if sess["status"] == "pending" and store.clock.now() >= sess["_expiresEpoch"]:
        sess["status"] = "expired"
    return str(sess["status"])


def _session_view(store: Store, sess: JsonDict) -> JsonDict:
    session_status(store, sess)
    return {k: v for k, v in sess.items() if not k.startswith("_")}


def _check_rules(store: Store, esc: JsonDict, action: str, target: str) -> None:
    """Pre-validate ``action`` for ``target`` against the documented rules; raise the error."""
    role = store.role_of(esc, target)
    mode, status = esc["mode"], esc["status"]
    needed = _NEEDS[action]
    if role is None:
        raise business_error("CHECKOUT_TARGET_NOT_PARTY", "The target user is not a party")
    if needed is not None and role != needed:
        code = _WRONG_PARTY.get(action, f"CHECKOUT_TARGET_NOT_{needed.upper()}")
        raise business_error(code, f"The {action} action can only be performed by the {needed}")
    if action == "sign_contract":
        if mode == "quick":
            raise business_error("QUICK_ESCROW_NO_CONTRACT", "Quick escrows have no contract")
        if mode == "instant":
            raise business_error("INSTANT_ESCROW_NO_CONTRACT", "Instant escrows have no contract")
        if status != "pending":
            raise business_error("ESCROW_NOT_PENDING", "The contract can no longer be signed")
        if esc["signatures"][f"{role}Signed"]:
            raise business_error("CONTRACT_ALREADY_SIGNED", "You have already signed")
    elif action == "accept_pay":
        if status != "pending":
            raise business_error("ESCROW_ALREADY_PAID", "This escrow is no longer pending")
        if mode == "standard" and not esc["signatures"]["isFullySigned"]:
            raise business_error("CONTRACT_NOT_FULLY_SIGNED", "Both parties must sign first")
    elif action == "complete":
        if mode == "instant":
            raise business_error("INSTANT_ESCROW_NO_COMPLETE", "Instant escrows auto-complete")
        if status != "delivered":
            raise business_error("ESCROW_NOT_DELIVERED", "The escrow is not delivered")
    elif action in ("dispute", "request_cancellation", "cancel_escrow"):
        if status not in ("paid", "delivered"):
            raise business_error("ESCROW_NOT_ACTIVE", "The escrow must be paid or delivered")
        if action == "dispute" and esc["disputeTicket"] is not None:
            raise business_error("DISPUTE_ALREADY_OPEN", "A dispute is already open")
        if action == "request_cancellation" and esc["cancellationRequest"] is not None:
            raise business_error("CANCELLATION_ALREADY_REQUESTED", "Cancellation already requested")
    elif action in ("accept_cancellation", "reject_cancellation"):
        if esc["cancellationRequest"] is None or status not in ("paid", "delivered"):
            raise business_error("NO_PENDING_CANCELLATION", "There is no pending cancellation")
    elif action in ("submit_proof", "review_proof"):
        proof = esc["proofInfo"]
        if mode != "quick" or esc["fulfillmentPolicy"] is None:
            raise business_error("PROOF_NOT_REQUIRED", "This escrow does not use purchase proof")
        expected = (
            ("waiting_seller_proof", "corrections_requested")
            if action == "submit_proof"
            else ("submitted_waiting_buyer_review",)
        )
        if status != "paid" or proof is None or proof["phase"] not in expected:
            raise business_error("PROOF_PHASE_MISMATCH", f"{action} is not expected now")


def create_session(
    store: Store, ctx: KeyContext, escrow_id: str, body: object, allowed_redirects: tuple[str, ...]
) -> JsonDict:
    """``POST /escrows/:id/sessions``: validate, pre-check business rules, store."""
    esc = visible_escrow(store, ctx, escrow_id)
    if not isinstance(body, dict):
        body = {}
    details: dict[str, str] = {}
    action, target, redirect = (
        body.get("action"),
        body.get("targetUserEmail"),
        body.get("redirectUrl"),
    )
    metadata = body.get("metadata")
    if action not in ACTIONS:
        details["action"] = "action must be one of " + ", ".join(ACTIONS)
    if not isinstance(target, str) or "@" not in target:
        details["targetUserEmail"] = "targetUserEmail is required"
    if not isinstance(redirect, str) or not redirect:
        details["redirectUrl"] = "redirectUrl is required"
    if metadata is not None and not isinstance(metadata, dict):
        details["metadata"] = "metadata must be an object"
    if details:
        raise bad_request("Invalid request parameters", details)
    assert isinstance(action, str) and isinstance(target, str) and isinstance(redirect, str)
    if not any(redirect.startswith(prefix) for prefix in allowed_redirects):
        raise bad_request(
            "redirectUrl is not in your allowed redirect URLs (Dashboard → Settings)."
        )
    _check_rules(store, esc, action, target.lower())
    now = store.clock.now()
    sid = new_uuid()
    sess = {
        "sessionId": sid,
        "escrowId": esc["id"],
        "action": action,
        "targetUserEmail": target.lower(),
        "status": "pending",
        "metadata": metadata or {},
        "redirectUrl": redirect,
        "expiresAt": iso(now + SESSION_TTL),
        "completedAt": None,
        "createdAt": iso(now),
        "_expiresEpoch": now + SESSION_TTL,
        "_developerId": ctx.developer["id"],
    }
    store.t["sessions"][sid] = sess
    store.save()
    return {
        "sessionId": sid,
        # The emulator's own checkout page, so following the URL never leaves the machine.
        "url": f"{store.web_origin or 'http://127.0.0.1'}/checkout/{sid}",
        "expiresAt": sess["expiresAt"],
    }


def get_session(store: Store, ctx: KeyContext, session_id: str) -> JsonDict:
    """``GET /sessions/:id``: own developer account only."""
    sess = store.t["sessions"].get(session_id)
    if sess is None:
        raise ApiError(404, {"error": "Checkout session not found"})
    if sess["_developerId"] != ctx.developer["id"]:
        raise ApiError(
            403,
            {"error": "Forbidden", "message": "You do not have access to this checkout session."},
        )
    return {"session": _session_view(store, sess)}


def sign_contract(store: Store, esc: JsonDict, role: str) -> None:
    """Record ``role``'s signature and emit ``contract.signed``."""
    now = store.now_iso()
    contract = store.t["contracts"][esc["id"]]
    contract[f"{role}Signature"] = {"signedAt": now, "signatureImage": "data:image/png;base64,AA=="}
    sigs = esc["signatures"]
    sigs[f"{role}Signed"], sigs[f"{role}SignedAt"] = True, now
    if sigs["sellerSigned"] and sigs["buyerSigned"]:
        sigs["isFullySigned"], sigs["signedAt"] = True, now
        contract["isFullySigned"] = True
        contract["pdfVersions"].append(
            {
                "type": "fully-signed",
                "url": contract["pdfUrl"],
                "mimeType": "application/pdf",
                "createdAt": now,
            }
        )
    contract["updatedAt"] = esc["updatedAt"] = now
    store.emit(
        "contract.signed",
        {"escrow": escrow_view(store, esc), "contract": {"signedBy": role}},
        esc["developerId"],
    )


def _proof_event(store: Store, esc: JsonDict, event: str) -> None:
    store.emit(
        event,
        {"escrow": escrow_view(store, esc), "proof": dict(esc["proofInfo"])},
        esc["developerId"],
    )


def _apply(store: Store, esc: JsonDict, sess: JsonDict, outcome: str, note: str | None) -> None:
    action, now = sess["action"], store.clock.now()
    role = store.role_of(esc, sess["targetUserEmail"])
    store.ensure_user(sess["targetUserEmail"])  # acting on dhmad.tn implies an account
    if action == "sign_contract":
        assert role is not None
        sign_contract(store, esc, role)
    elif action == "accept_pay":
        esc["paidAt"] = iso(now)
        status_changed(store, esc, "paid")
        policy = esc["fulfillmentPolicy"]
        if policy is not None:
            upload = now + float(policy.get("proofUploadDeadlineHours", 24)) * 3600
            esc["proofInfo"] = {
                "phase": "waiting_seller_proof",
                "correctionRounds": 0,
                "uploadDeadline": iso(upload),
                "reviewDeadline": None,
                "submissionCount": 0,
                "submissions": [],
            }
            _proof_event(store, esc, "escrow.proof.required")
    elif action == "complete":
        esc["completedAt"] = iso(now)
        status_changed(store, esc, "completed")
    elif action == "dispute":
        tid = esc["id"][:12] + "d15" + esc["id"][15:]
        esc["disputeTicketId"] = tid
        esc["disputeTicket"] = {
            "ticketNumber": f"DHM-{store.next_seq():05d}",
            "type": "dispute",
            "subject": f"Dispute: {esc['title']}",
            "status": "open",
            "createdAt": iso(now),
            "previewReason": note,
        }
        esc["updatedAt"] = iso(now)  # INF: no dispute webhook is documented
    elif action == "request_cancellation":
        esc["cancellationRequest"] = {"requestedAt": iso(now), "reason": note}
        store.emit(
            "escrow.cancellation.requested", {"escrow": escrow_view(store, esc)}, esc["developerId"]
        )
    elif action in ("accept_cancellation", "reject_cancellation"):
        accepted = action == "accept_cancellation" and outcome == "accept"
        esc["cancellationRequest"] = None
        if accepted:
            esc["cancelledAt"] = iso(now)
            status_changed(store, esc, "cancelled")
            store.emit(
                "escrow.cancellation.accepted",
                {"escrow": escrow_view(store, esc)},
                esc["developerId"],
            )
        else:
            store.emit(
                "escrow.cancellation.rejected",
                {"escrow": escrow_view(store, esc)},
                esc["developerId"],
            )
    elif action == "cancel_escrow":
        esc["cancelledAt"] = iso(now)
        esc["cancellationRequest"] = None
        status_changed(store, esc, "cancelled")
    elif action == "submit_proof":
        proof = esc["proofInfo"]
        hours = float(esc["fulfillmentPolicy"].get("buyerReviewDeadlineHours", 24))
        submission = {
            "submittedAt": iso(now),
            "note": note,
            "attachments": [
                {
                    "mimeType": "image/jpeg",
                    "viewUrl": f"https://cdn.dhmad.tn/escrow-proof/{esc['id']}",
                }
            ],
        }
        proof["submissions"].append(submission)
        proof["submissionCount"] += 1
        proof["phase"] = "submitted_waiting_buyer_review"
        proof["reviewDeadline"] = iso(now + hours * 3600)
        proof["_reviewEpoch"] = now + hours * 3600
        _proof_event(store, esc, "escrow.proof.submitted")
    elif action == "review_proof":
        proof = esc["proofInfo"]
        proof.pop("_reviewEpoch", None)
        if outcome == "accept":
            proof["phase"] = "accepted"
            _proof_event(store, esc, "escrow.proof.accepted")  # INF: event name not seen
        else:
            # INF: the corrections phase value is UNKNOWN; the guide names needs_review here.
            proof["phase"] = "corrections_requested"
            proof["correctionRounds"] += 1
            _proof_event(store, esc, "escrow.proof.needs_review")
    if esc["proofInfo"] is not None:
        esc["proofInfo"]["checkoutActions"] = _proof_actions(esc)


def _proof_actions(esc: JsonDict) -> list[JsonDict]:
    phase = esc["proofInfo"]["phase"]
    if phase in ("waiting_seller_proof", "corrections_requested"):
        return [
            {
                "action": "submit_proof",
                "targetUserEmail": esc["sellerEmail"],
                "description": "Create a checkout session with this action and redirect the "
                "seller to DHMAD to upload purchase proof.",
            }
        ]
    if phase == "submitted_waiting_buyer_review":
        return [
            {
                "action": "review_proof",
                "targetUserEmail": esc["buyerEmail"],
                "description": "Create a checkout session with this action and redirect the "
                "buyer to DHMAD to accept the proof or request corrections.",
            }
        ]
    return []


def complete_session(
    store: Store, session_id: str, outcome: str = "accept", note: str | None = None
) -> JsonDict:
    """Perform the session's action as its target user; returns the session view.

    ``outcome="reject"`` means "request corrections" for ``review_proof`` and "reject the
    request" for ``accept_cancellation``; other actions ignore it.
    """
    if outcome not in ("accept", "reject"):
        raise bad_request("outcome must be accept or reject")
    sess = store.t["sessions"].get(session_id)
    if sess is None:
        raise ApiError(404, {"error": "Checkout session not found"})
    status = session_status(store, sess)
    if status != "pending":
        # Sessions are single-use.
        raise business_error("SESSION_NOT_PENDING", f"Checkout session is {status}")
    esc = store.get_escrow(sess["escrowId"])
    _check_rules(store, esc, sess["action"], sess["targetUserEmail"])  # state may have moved
    _apply(store, esc, sess, outcome, note)
    sess["status"] = "completed"
    sess["completedAt"] = store.now_iso()
    store.save()
    return _session_view(store, sess)


def tick(store: Store) -> None:
    """Apply time-driven changes: proof auto-acceptance at ``reviewDeadline``."""
    now = store.clock.now()
    changed = False
    for esc in store.t["escrows"].values():
        proof = esc["proofInfo"]
        if proof is None or proof["phase"] != "submitted_waiting_buyer_review":
            continue
        if now >= proof.get("_reviewEpoch", float("inf")):
            proof.pop("_reviewEpoch", None)
            proof["phase"] = "accepted_by_timeout"
            proof["checkoutActions"] = []
            _proof_event(store, esc, "escrow.proof.accepted_by_timeout")
            changed = True
    if changed:
        store.save()


def proof_view(store: Store, ctx: KeyContext, escrow_id: str) -> JsonDict:
    """``GET /escrows/:id/proof``."""
    esc = visible_escrow(store, ctx, escrow_id)
    if esc["fulfillmentPolicy"] is None:
        raise bad_request("This escrow does not use purchase proof")
    proof = esc["proofInfo"] or {
        "phase": "waiting_payment",
        "correctionRounds": 0,
        "uploadDeadline": None,
        "reviewDeadline": None,
        "submissionCount": 0,
        "submissions": [],
    }
    out = {k: v for k, v in proof.items() if not k.startswith("_")}
    out["latestSubmission"] = proof["submissions"][-1] if proof["submissions"] else None
    out.setdefault("checkoutActions", [])
    return {"proof": out}
