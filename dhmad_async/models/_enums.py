"""
Open enumerations of the DHMAD API. Pure: no I/O.

Every enum here is an :class:`enum.StrEnum` holding the values the docs name,
and is *open*: the converter (``dhmad_async._serialization``) turns a known
wire value into its member and keeps an unknown one (a status DHMAD adds
next month) as a plain ``str`` instead of raising. Fields are therefore typed
``EscrowStatus | str``.

Why ``StrEnum`` plus a fallback rather than a custom ``str`` subclass: members
are real ``str`` values (``status == "paid"`` and ``match`` on the members both
work, JSON encoding needs no hook), type checkers know the constants, and an
unknown value stays distinguishable (``isinstance(value, EscrowStatus)`` is
False) without inventing pseudo-members that would leak between processes.
"""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias

__all__ = [
    "CheckoutAction",
    "CheckoutActionName",
    "ClaimStatus",
    "Currency",
    "CurrencyCode",
    "EscrowMode",
    "EscrowModeName",
    "EscrowStatus",
    "EscrowStatusName",
    "KycStatus",
    "PartyRole",
    "ProofPhase",
    "ProofType",
    "SessionStatus",
    "SubscribableEventName",
    "Unknown",
    "WebhookEventType",
]


class Unknown(str):
    """
    A value this SDK version does not list, sent exactly as given.

    Parameters with documented values are typed as ``Literal`` unions, so a
    typo such as ``mode="qiuck"`` is a type error. When DHMAD adds a value the
    SDK does not know yet, wrap it: ``mode=Unknown("escrow_plus")``. It type-checks,
    skips the SDK's own check of that value, and the server decides. (A
    ``typing.cast`` also silences the type checker, but the run-time check
    would still refuse the value; ``Unknown`` is the supported escape.)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Unknown({str.__repr__(self)})"


class EscrowStatus(enum.StrEnum):
    """Escrow lifecycle status; disputes are not a status."""

    PENDING = "pending"
    PAID = "paid"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EscrowMode(enum.StrEnum):
    """Escrow mode."""

    STANDARD = "standard"
    QUICK = "quick"
    INSTANT = "instant"


class Currency(enum.StrEnum):
    """Face currency of an escrow amount; the ledger is TND."""

    TND = "TND"
    USD = "USD"
    EUR = "EUR"


class CheckoutAction(enum.StrEnum):
    """Action a checkout session lets its target user perform."""

    SIGN_CONTRACT = "sign_contract"
    ACCEPT_PAY = "accept_pay"
    COMPLETE = "complete"
    DISPUTE = "dispute"
    REQUEST_CANCELLATION = "request_cancellation"
    REJECT_CANCELLATION = "reject_cancellation"
    ACCEPT_CANCELLATION = "accept_cancellation"
    CANCEL_ESCROW = "cancel_escrow"
    SUBMIT_PROOF = "submit_proof"
    REVIEW_PROOF = "review_proof"


class SessionStatus(enum.StrEnum):
    """Checkout session status; only ``completed`` is documented."""

    COMPLETED = "completed"
    # INF (REFERENCE §3.6): the docs show only "completed"; these two are guesses
    # kept as constants so callers can compare against them.
    PENDING = "pending"
    EXPIRED = "expired"


class KycStatus(enum.StrEnum):
    """KYC status of a pre-account identity verification."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ClaimStatus(enum.StrEnum):
    """Whether a verification is linked to a registered user."""

    PENDING = "pending"
    LINKED = "linked"


class ProofPhase(enum.StrEnum):
    """Phase of the Quick Escrow with Proof lifecycle."""

    WAITING_SELLER_PROOF = "waiting_seller_proof"
    SUBMITTED_WAITING_BUYER_REVIEW = "submitted_waiting_buyer_review"
    ACCEPTED = "accepted"
    ACCEPTED_BY_TIMEOUT = "accepted_by_timeout"
    # The "corrections requested" phase exists but its value is UNKNOWN
    # (REFERENCE §3.5); it arrives as a plain str.


class ProofType(enum.StrEnum):
    """UI hint for the kind of proof a seller should upload."""

    RECEIPT = "receipt"
    ORDER_CONFIRMATION = "order_confirmation"
    PRODUCT_PHOTO = "product_photo"
    TRACKING_PROOF = "tracking_proof"
    OTHER = "other"


class WebhookEventType(enum.StrEnum):
    """
    Every webhook event name the SDK parses into a typed event.

    Not all of them can be subscribed to: the purchase-proof events are missing
    from the Webhooks API's list, which is
    :data:`dhmad_async.resources.SUBSCRIBABLE_EVENTS`.
    """

    ESCROW_STATUS_UPDATED = "escrow.status.updated"
    CONTRACT_SIGNED = "contract.signed"
    ESCROW_CANCELLATION_REQUESTED = "escrow.cancellation.requested"
    ESCROW_CANCELLATION_REJECTED = "escrow.cancellation.rejected"
    ESCROW_CANCELLATION_ACCEPTED = "escrow.cancellation.accepted"
    ESCROW_UPDATED = "escrow.updated"
    ESCROW_DEPOSIT_PROOF_REJECTED = "escrow.deposit_proof.rejected"
    ESCROW_DELIVERY_REJECTED = "escrow.delivery.rejected"
    IDENTITY_VERIFICATION_UPDATED = "identity.verification.updated"
    IDENTITY_VERIFICATION_LINKED = "identity.verification.linked"
    # The proof events are named only in the proof guide, not in the Webhooks
    # API's list of subscribable events (REFERENCE §4.1, §7 item 4).
    ESCROW_PROOF_REQUIRED = "escrow.proof.required"
    ESCROW_PROOF_SUBMITTED = "escrow.proof.submitted"
    ESCROW_PROOF_NEEDS_REVIEW = "escrow.proof.needs_review"
    ESCROW_PROOF_ACCEPTED_BY_TIMEOUT = "escrow.proof.accepted_by_timeout"
    # INF (REFERENCE §4.1): likely exists, never seen.
    ESCROW_PROOF_ACCEPTED = "escrow.proof.accepted"


# -- the documented values of request parameters, as Literal types -----------------------------
#
# Each Literal lists exactly the values of the enum above it (a unit test keeps them
# equal). Request parameters accept the Literal, the enum member, or an ``Unknown``.

#: ``mode`` of ``POST /escrows``.
EscrowModeName: TypeAlias = Literal["standard", "quick", "instant"]
#: ``currency`` of ``POST /escrows``.
CurrencyCode: TypeAlias = Literal["TND", "USD", "EUR"]
#: ``status`` filter of ``GET /escrows``.
EscrowStatusName: TypeAlias = Literal["pending", "paid", "delivered", "completed", "cancelled"]
#: ``role`` filter of ``GET /escrows``.
PartyRole: TypeAlias = Literal["seller", "buyer"]
#: ``action`` of ``POST /escrows/:id/sessions``.
CheckoutActionName: TypeAlias = Literal[
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
]
#: The ``events`` a webhook endpoint may subscribe to, as the Webhooks API lists them.
#: The proof events are named only in the proof guide, not in that list: pass them as
#: :class:`WebhookEventType` members (or ``Unknown``) to subscribe deliberately.
SubscribableEventName: TypeAlias = Literal[
    "escrow.status.updated",
    "contract.signed",
    "escrow.cancellation.requested",
    "escrow.cancellation.rejected",
    "escrow.cancellation.accepted",
    "escrow.updated",
    "escrow.deposit_proof.rejected",
    "escrow.delivery.rejected",
    "identity.verification.updated",
    "identity.verification.linked",
]
