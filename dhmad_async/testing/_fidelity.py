"""Fidelity profiles: which fields each endpoint's response may carry. Pure: no I/O.

``documented`` (the default) answers with exactly the fields the DHMAD documentation's
examples show for that endpoint; ``generous`` answers with everything the emulator
stores, as it always did. Each allow-list below names the documentation section its
example comes from (see docs/emulator.md for the choices where the docs are vague).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

__all__ = ["FIDELITY_PROFILES", "VIEWS", "Fidelity", "check_fidelity", "shape"]

Fidelity = Literal["documented", "generous"]
FIDELITY_PROFILES: tuple[Fidelity, ...] = ("documented", "generous")

#: A field allow-list: field name -> nested allow-list, or ``None`` to keep the value as is.
#: A list value is shaped element by element with the same allow-list.
Spec: TypeAlias = Mapping[str, "Spec | None"]


def _fields(*names: str, **nested: Spec | None) -> Spec:
    out: dict[str, Spec | None] = dict.fromkeys(names)
    out.update(nested)
    return out


_USER = _fields("_id", "email", "firstName", "lastName")  # list/get seller and buyer objects
_SIGNATURE = _fields("signedAt", "signatureImage")  # contract signatures
_SUBMISSION = _fields(
    "submittedAt", "note", attachments=_fields("mimeType", "viewUrl")
)  # proof submissions
_VERIFICATION = (  # identity verification create / get
    "id",
    "email",
    "external_user_id",
    "kyc_status",
    "didit_session_status",
    "needs_admin_review",
    "claim_status",
    "linked_user_id",
    "linked_at",
    "created_at",
    "updated_at",
    "expires_at",
    "verification_email_sent",
    "verification_email_sent_at",
)

VIEWS: dict[str, Spec] = {
    # GET /me
    "me": _fields(
        apiKey=_fields(
            "id",
            "name",
            "keyPrefix",
            "environment",
            "isActive",
            "lastUsedAt",
            "expiresAt",
            "rateLimit",
            "metadata",
            "createdAt",
        ),
        developer=_fields("id", "email", "companyName"),
    ),
    # GET /balance
    "balance": _fields(balance=_fields("available", "pending", "escrow")),
    # POST /escrows (both create examples merged)
    "escrows.create": _fields(
        "message",
        "url",
        "trackingId",
        escrow=_fields(
            "id",
            "title",
            "amount",
            "currency",
            "amountTnd",
            "escrowFee",
            "developerFee",
            "developerFeePercentage",
            "status",
            "mode",
            "seller",
            "sellerEmail",
            "buyer",
            "buyerEmail",
            "estimatedDeliveryDays",
            "createdAt",
        ),
        contract=_fields("id", "pdfUrl", "sellerSigned", "buyerSigned", "isFullySigned"),
    ),
    # GET /escrows: no buyerEmail, sellerEmail, currency or mode
    "escrows.list": _fields(
        escrows=_fields(
            "id",
            "title",
            "amount",
            "escrowFee",
            "status",
            "estimatedDeliveryDays",
            "paidAt",
            "deliveredAt",
            "completedAt",
            "cancelledAt",
            "createdAt",
            "updatedAt",
            seller=_USER,
            buyer=_USER,
        ),
        pagination=_fields("page", "limit", "total", "pages"),
    ),
    # GET /escrows/:id: no currency, amountTnd, emails, description, proofInfo, deliveryRejections
    "escrows.get": _fields(
        escrow=_fields(
            "id",
            "_id",
            "title",
            "amount",
            "escrowFee",
            "status",
            "mode",
            "estimatedDeliveryDays",
            "expiresAt",
            "paidAt",
            "deliveredAt",
            "completedAt",
            "cancelledAt",
            "createdAt",
            "updatedAt",
            "createdViaThirdParty",
            "createdByApplicationName",
            "disputeTicketId",
            seller=_USER,
            buyer=_USER,
            disputeTicket=_fields(
                "ticketNumber", "type", "subject", "status", "createdAt", "previewReason"
            ),
            signatures=_fields(
                "sellerSigned",
                "sellerSignedAt",
                "buyerSigned",
                "buyerSignedAt",
                "isFullySigned",
                "signedAt",
            ),
        )
    ),
    # PUT /escrows/:id
    "escrows.update": _fields(
        "message",
        escrow=_fields(
            "id",
            "title",
            "amount",
            "escrowFee",
            "status",
            "description",
            "estimatedDeliveryDays",
            "createdAt",
            "updatedAt",
        ),
    ),
    # deliver, standard and quick
    "escrows.deliver": _fields(
        "message",
        escrow=_fields(
            "id",
            "title",
            "amount",
            "status",
            "deliveredAt",
            "completionDeadline",
            "createdAt",
            "updatedAt",
        ),
    ),
    # deliver, instant: the example lists only these four before its ellipsis
    "escrows.deliver.instant": _fields(
        "message", escrow=_fields("id", "status", "deliveredAt", "completedAt")
    ),
    # reject-delivery
    "escrows.reject_delivery": _fields(
        "message",
        escrow=_fields(
            "id",
            "title",
            "amount",
            "status",
            "deliveredAt",
            "completionDeadline",
            "createdAt",
            "updatedAt",
            deliveryRejections=_fields("rejectedAt", "reason", "previousDeliveredAt"),
        ),
    ),
    # cancel
    "escrows.cancel": _fields(
        "message",
        escrow=_fields("id", "title", "amount", "status", "cancelledAt", "createdAt", "updatedAt"),
    ),
    # GET /escrows/:id/contract
    "escrows.contract": _fields(
        contract=_fields(
            "id",
            "escrow",
            "terms",
            "language",
            "pdfUrl",
            "isFullySigned",
            "createdAt",
            "updatedAt",
            sellerSignature=_SIGNATURE,
            buyerSignature=_SIGNATURE,
            pdfVersions=_fields("type", "url", "mimeType", "createdAt"),
        )
    ),
    # GET /escrows/:id/proof
    "escrows.proof": _fields(
        proof=_fields(
            "phase",
            "correctionRounds",
            "uploadDeadline",
            "reviewDeadline",
            "submissionCount",
            submissions=_SUBMISSION,
            latestSubmission=_SUBMISSION,
            checkoutActions=_fields("action", "targetUserEmail", "description"),
        )
    ),
    # POST /escrows/:id/sessions
    "sessions.create": _fields("sessionId", "url", "expiresAt"),
    # GET /sessions/:id: no redirectUrl
    "sessions.get": _fields(
        session=_fields(
            "sessionId",
            "escrowId",
            "action",
            "targetUserEmail",
            "status",
            "metadata",
            "expiresAt",
            "completedAt",
            "createdAt",
        )
    ),
    # identity verifications: create, get, list
    "identity.create": _fields(*_VERIFICATION, "message"),
    "identity.get": _fields(*_VERIFICATION),
    "identity.list": _fields(verifications=_fields(*_VERIFICATION)),
    # webhook create: the example has no updatedAt
    "webhooks.create": _fields(
        "message", webhook=_fields("id", "url", "secret", "events", "isActive", "createdAt")
    ),
}


def check_fidelity(value: object) -> Fidelity:
    """``value`` if it names a profile, else a ``ValueError`` listing the profiles."""
    if value == "documented":
        return "documented"
    if value == "generous":
        return "generous"
    raise ValueError(f"fidelity must be one of {', '.join(FIDELITY_PROFILES)} (got {value!r})")


def _keep(value: Any, spec: Spec | None) -> Any:
    if spec is None:
        return value
    if isinstance(value, list):
        return [_keep(item, spec) for item in value]
    if isinstance(value, dict):
        return {name: _keep(value[name], sub) for name, sub in spec.items() if name in value}
    return value


def _null_empty_arrays(value: Any) -> Any:
    if isinstance(value, list):
        return None if not value else [_null_empty_arrays(item) for item in value]
    if isinstance(value, dict):
        return {name: _null_empty_arrays(item) for name, item in value.items()}
    return value


def shape(
    view: str,
    data: Any,
    *,
    fidelity: Fidelity,
    null_empty_arrays: bool = False,
    data_envelope: bool = False,
) -> Any:
    """
    The response body for ``view``: allow-listed when ``documented``, then the options.

    ``null_empty_arrays`` writes every empty array as ``null``; ``data_envelope`` wraps
    the escrow endpoints' bodies as ``{"data": ...}``. Both are off unless a test asks.
    """
    if fidelity == "documented":
        data = _keep(data, VIEWS[view])
    if null_empty_arrays:
        data = _null_empty_arrays(data)
    if data_envelope and view.startswith("escrows."):
        data = {"data": data}
    return data
