"""Models for escrows, their contracts and proofs (REFERENCE §2.3 to §2.11, §3). Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from dhmad_async.models._common import Pagination, UserRef, WireModel
from dhmad_async.models._enums import (
    CheckoutAction,
    Currency,
    EscrowMode,
    EscrowStatus,
    ProofPhase,
    ProofType,
)

__all__ = [
    "CheckoutActionHint",
    "Contract",
    "ContractSignature",
    "ContractSummary",
    "DeliveryRejection",
    "DisputeTicket",
    "Escrow",
    "EscrowCreated",
    "EscrowPage",
    "EscrowResult",
    "FulfillmentPolicy",
    "PdfVersion",
    "Proof",
    "ProofAttachment",
    "ProofSubmission",
    "Signatures",
]


@attrs.frozen(kw_only=True)
class FulfillmentPolicy(WireModel):
    """Quick-mode proof policy (REFERENCE §3.5); deadlines in hours."""

    #: Only ``"purchase_proof_required"`` is documented.
    type: str | None = None
    proof_upload_deadline_hours: int | None = None
    buyer_review_deadline_hours: int | None = None
    #: UI hints only; DHMAD does not enforce them.
    allowed_proof_types: list[ProofType | str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class DeliveryRejection(WireModel):
    """One rejected delivery of an escrow (REFERENCE §2.8)."""

    rejected_at: dt.datetime | None = None
    reason: str | None = None
    previous_delivered_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class DisputeTicket(WireModel):
    """A dispute support ticket attached to an escrow (REFERENCE §2.5, §3.2)."""

    # The get-escrow example carries the ticket id only as escrow.disputeTicketId.
    id: str | None = None
    ticket_number: str | None = None
    type: str | None = None
    subject: str | None = None
    status: str | None = None
    created_at: dt.datetime | None = None
    preview_reason: str | None = None


@attrs.frozen(kw_only=True)
class Signatures(WireModel):
    """Contract signature state as shown on an escrow (REFERENCE §2.5, §3.4)."""

    seller_signed: bool | None = None
    seller_signed_at: dt.datetime | None = None
    buyer_signed: bool | None = None
    buyer_signed_at: dt.datetime | None = None
    is_fully_signed: bool | None = None
    signed_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Escrow(WireModel):
    """An escrow; most fields are absent from most responses, so most are optional."""

    id: str
    title: str | None = None
    #: Face amount in ``currency``.
    amount: Decimal | None = None
    currency: Currency | str | None = None
    #: Ledger amount in TND, locked at creation (REFERENCE §3.8).
    amount_tnd: Decimal | None = None
    escrow_fee: Decimal | None = None
    developer_fee: Decimal | None = None
    developer_fee_percentage: Decimal | None = None
    status: EscrowStatus | str | None = None
    mode: EscrowMode | str | None = None
    #: A string id (create response), a user object (list/get) or None for an
    #: invitee (REFERENCE §7 item 10).
    seller: str | UserRef | None = None
    seller_email: str | None = None
    buyer: str | UserRef | None = None
    buyer_email: str | None = None
    description: str | None = None
    contract_terms: str | None = None
    estimated_delivery_days: int | None = None
    expires_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    completion_deadline: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    created_via_third_party: bool | None = None
    created_by_application_name: str | None = None
    dispute_ticket_id: str | None = None
    dispute_ticket: DisputeTicket | None = None
    signatures: Signatures | None = None
    delivery_rejections: list[DeliveryRejection] = attrs.field(factory=list)
    #: Proof lifecycle summary; only ``phase`` is documented (REFERENCE §3.5).
    proof_info: dict[str, Any] | None = None
    fulfillment_policy: FulfillmentPolicy | None = None

    @property
    def seller_id(self) -> str | None:
        """The seller's user id, whichever form ``seller`` took."""
        return self.seller.id if isinstance(self.seller, UserRef) else self.seller

    @property
    def buyer_id(self) -> str | None:
        """The buyer's user id, whichever form ``buyer`` took."""
        return self.buyer.id if isinstance(self.buyer, UserRef) else self.buyer


@attrs.frozen(kw_only=True)
class ContractSummary(WireModel):
    """The compact contract in the create-escrow response (REFERENCE §2.3, §3.4)."""

    id: str
    pdf_url: str | None = None
    seller_signed: bool | None = None
    buyer_signed: bool | None = None
    is_fully_signed: bool | None = None


@attrs.frozen(kw_only=True)
class EscrowCreated(WireModel):
    """Response of ``POST /escrows``; ``contract`` is None for quick and instant modes."""

    message: str | None = None
    escrow: Escrow
    contract: ContractSummary | None = None
    #: Dashboard URL of the escrow.
    url: str | None = None
    tracking_id: str | None = None


@attrs.frozen(kw_only=True)
class EscrowResult(WireModel):
    """Response of update, deliver, reject-delivery and cancel: a message and the escrow."""

    message: str | None = None
    escrow: Escrow


@attrs.frozen(kw_only=True)
class EscrowPage(WireModel):
    """One page of ``GET /escrows``."""

    escrows: list[Escrow] = attrs.field(factory=list)
    pagination: Pagination


@attrs.frozen(kw_only=True)
class ContractSignature(WireModel):
    """One party's contract signature (REFERENCE §2.10)."""

    signed_at: dt.datetime | None = None
    #: A data URI; kept out of repr because it is large.
    signature_image: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class PdfVersion(WireModel):
    """A stored PDF rendering of a contract (REFERENCE §2.10)."""

    #: e.g. ``"fully-signed"``.
    type: str | None = None
    url: str | None = None
    mime_type: str | None = None
    created_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Contract(WireModel):
    """A standard-mode escrow contract (REFERENCE §2.10, §3.4)."""

    id: str
    #: The escrow: its id as documented, or the escrow object if the server embeds it.
    escrow: str | Escrow | None = None
    terms: str | None = None
    language: str | None = None
    #: Presigned download URL; may expire (INF).
    pdf_url: str | None = None
    seller_signature: ContractSignature | None = None
    buyer_signature: ContractSignature | None = None
    is_fully_signed: bool | None = None
    pdf_versions: list[PdfVersion] = attrs.field(factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def escrow_id(self) -> str | None:
        """The escrow's id, whichever form ``escrow`` took."""
        return self.escrow.id if isinstance(self.escrow, Escrow) else self.escrow


@attrs.frozen(kw_only=True)
class ProofAttachment(WireModel):
    """One uploaded proof file; ``view_url`` expires, re-fetch rather than cache."""

    mime_type: str | None = None
    view_url: str | None = None


@attrs.frozen(kw_only=True)
class ProofSubmission(WireModel):
    """One proof upload by the seller (REFERENCE §2.11)."""

    submitted_at: dt.datetime | None = None
    note: str | None = None
    attachments: list[ProofAttachment] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class CheckoutActionHint(WireModel):
    """A checkout session the integrator should create next (REFERENCE §2.11)."""

    action: CheckoutAction | str | None = None
    target_user_email: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class Proof(WireModel):
    """Proof state of a Quick Escrow with Proof (REFERENCE §2.11, §3.5)."""

    phase: ProofPhase | str | None = None
    correction_rounds: int | None = None
    upload_deadline: dt.datetime | None = None
    review_deadline: dt.datetime | None = None
    submission_count: int | None = None
    submissions: list[ProofSubmission] = attrs.field(factory=list)
    latest_submission: ProofSubmission | None = None
    checkout_actions: list[CheckoutActionHint] = attrs.field(factory=list)
