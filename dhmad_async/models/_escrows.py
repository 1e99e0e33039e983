"""
Models for escrows, their contracts and proofs. Pure: no I/O.

A field is required (no default) only when every documented example of its
object has it; its type still admits ``None`` where the value may plausibly be
null (a signature not yet made, a deadline not yet set). Everything else is
optional, because the endpoints answer different subsets: the list items, for
example, carry no ``currency``, ``mode`` or ``buyerEmail``. A required field
the server leaves out is reported in one :class:`~dhmad_async.ResponseValidationError`
that lists every missing field and carries the body.
"""

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
    """Quick-mode proof policy; deadlines in hours."""

    #: Only ``"purchase_proof_required"`` is documented.
    type: str | None = None
    proof_upload_deadline_hours: int | None = None
    buyer_review_deadline_hours: int | None = None
    #: UI hints only; DHMAD does not enforce them.
    allowed_proof_types: list[ProofType | str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class DeliveryRejection(WireModel):
    """One rejected delivery of an escrow."""

    rejected_at: dt.datetime
    #: The buyer's reason; giving one is optional.
    reason: str | None = None
    previous_delivered_at: dt.datetime


@attrs.frozen(kw_only=True)
class DisputeTicket(WireModel):
    """A dispute support ticket attached to an escrow."""

    # The get-escrow example carries the ticket id only as escrow.disputeTicketId.
    id: str | None = None
    ticket_number: str
    type: str
    subject: str
    status: str
    created_at: dt.datetime
    preview_reason: str | None


@attrs.frozen(kw_only=True)
class Signatures(WireModel):
    """Contract signature state as shown on an escrow."""

    seller_signed: bool
    #: ``None`` until the seller signs.
    seller_signed_at: dt.datetime | None
    buyer_signed: bool
    #: ``None`` until the buyer signs.
    buyer_signed_at: dt.datetime | None
    is_fully_signed: bool
    #: ``None`` until both have signed.
    signed_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class Escrow(WireModel):
    """
    An escrow; most fields are absent from most responses, so most are optional.

    Only ``id`` and ``status`` are in every documented response (the instant
    deliver example has little else).
    """

    id: str
    status: EscrowStatus | str
    title: str | None = None
    #: Face amount in ``currency``.
    amount: Decimal | None = None
    currency: Currency | str | None = None
    #: Ledger amount in TND, locked at creation.
    amount_tnd: Decimal | None = None
    escrow_fee: Decimal | None = None
    developer_fee: Decimal | None = None
    developer_fee_percentage: Decimal | None = None
    mode: EscrowMode | str | None = None
    #: A string id (create response), a user object (list/get) or None for an
    #: invitee without an account.
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
    #: Proof lifecycle summary; only ``phase`` is documented.
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
    """The compact contract in the create-escrow response."""

    id: str
    pdf_url: str
    seller_signed: bool
    buyer_signed: bool
    is_fully_signed: bool


@attrs.frozen(kw_only=True)
class EscrowCreated(WireModel):
    """Response of ``POST /escrows``; ``contract`` is None for quick and instant modes."""

    message: str
    escrow: Escrow
    #: Always sent; ``None`` for quick and instant escrows.
    contract: ContractSummary | None
    #: Dashboard URL of the escrow.
    url: str
    tracking_id: str


@attrs.frozen(kw_only=True)
class EscrowResult(WireModel):
    """Response of update, deliver, reject-delivery and cancel: a message and the escrow."""

    message: str
    escrow: Escrow


@attrs.frozen(kw_only=True)
class EscrowPage(WireModel):
    """One page of ``GET /escrows``."""

    escrows: list[Escrow]
    pagination: Pagination


@attrs.frozen(kw_only=True)
class ContractSignature(WireModel):
    """One party's contract signature."""

    signed_at: dt.datetime
    #: A data URI; kept out of repr because it is large.
    signature_image: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class PdfVersion(WireModel):
    """A stored PDF rendering of a contract."""

    #: e.g. ``"fully-signed"``.
    type: str
    url: str
    mime_type: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class Contract(WireModel):
    """A standard-mode escrow contract."""

    id: str
    #: The escrow: its id as documented, or the escrow object if the server embeds it.
    escrow: str | Escrow
    terms: str
    language: str
    #: Presigned download URL; may expire (INF).
    pdf_url: str
    #: ``None`` until the seller signs.
    seller_signature: ContractSignature | None
    #: ``None`` until the buyer signs.
    buyer_signature: ContractSignature | None
    is_fully_signed: bool
    pdf_versions: list[PdfVersion]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def escrow_id(self) -> str:
        """The escrow's id, whichever form ``escrow`` took."""
        return self.escrow.id if isinstance(self.escrow, Escrow) else self.escrow


@attrs.frozen(kw_only=True)
class ProofAttachment(WireModel):
    """One uploaded proof file; ``view_url`` expires, re-fetch rather than cache."""

    mime_type: str
    view_url: str


@attrs.frozen(kw_only=True)
class ProofSubmission(WireModel):
    """One proof upload by the seller."""

    submitted_at: dt.datetime
    #: The seller's note, ``None`` when they wrote none.
    note: str | None
    attachments: list[ProofAttachment]


@attrs.frozen(kw_only=True)
class CheckoutActionHint(WireModel):
    """A checkout session the integrator should create next."""

    action: CheckoutAction | str
    target_user_email: str
    description: str


@attrs.frozen(kw_only=True)
class Proof(WireModel):
    """Proof state of a Quick Escrow with Proof."""

    phase: ProofPhase | str
    correction_rounds: int
    #: ``None`` until the escrow is funded.
    upload_deadline: dt.datetime | None
    #: ``None`` until proof is submitted.
    review_deadline: dt.datetime | None
    submission_count: int
    submissions: list[ProofSubmission]
    #: ``None`` before the first submission.
    latest_submission: ProofSubmission | None
    checkout_actions: list[CheckoutActionHint]
