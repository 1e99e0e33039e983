"""
Typed webhook events, parsed leniently from a delivery's JSON body and headers. Pure: no I/O.

Payload shapes are only partly known (REFERENCE §4.4): the emulator sends
``{"id", "type", "createdAt", "data": {...}}``; real deliveries may use ``event``
instead of ``type``, omit ``id``/timestamp (the headers then supply them) or carry
the payload at the top level. Unknown event types become a plain
:class:`WebhookEvent`, never an error. Accessors use dict look-ups with ``None``
defaults, so a missing field never raises. Amounts are ``Decimal``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import attrs

from dhmad_async.webhooks._timestamps import parse_timestamp

__all__ = [
    "EVENT_CLASSES",
    "CancellationAccepted",
    "CancellationRejected",
    "CancellationRequested",
    "ContractInfo",
    "ContractSigned",
    "DeliveryRejected",
    "DepositProofRejected",
    "EscrowEvent",
    "EscrowInfo",
    "EscrowStatusUpdated",
    "EscrowUpdated",
    "IdentityVerificationLinked",
    "IdentityVerificationUpdated",
    "ProofAccepted",
    "ProofAcceptedByTimeout",
    "ProofNeedsReview",
    "ProofRequired",
    "ProofSubmitted",
    "VerificationInfo",
    "WebhookEvent",
    "build_event",
]

_EMPTY: Mapping[str, Any] = {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value
    return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = Decimal(value) if isinstance(value, int | str | Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return result if result.is_finite() else None


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    epoch = parse_timestamp(value)
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, ValueError, OSError):
        return None


@attrs.frozen
class EscrowInfo:
    """The escrow object of an escrow event (lenient view over ``data.escrow``)."""

    raw: Mapping[str, Any]

    @property
    def id(self) -> str | None:
        """The escrow id (``id`` or ``_id``)."""
        return _str(_first(self.raw, "id", "_id", "escrowId"))

    @property
    def status(self) -> str | None:
        """The escrow status, e.g. ``"paid"``; unknown values are kept as-is."""
        return _str(self.raw.get("status"))

    @property
    def title(self) -> str | None:
        """The escrow title."""
        return _str(self.raw.get("title"))

    @property
    def amount(self) -> Decimal | None:
        """The amount, exact (JSON numbers are parsed as ``Decimal``)."""
        return _decimal(self.raw.get("amount"))

    @property
    def buyer_id(self) -> str | None:
        """The buyer's user id (``buyer._id``/``buyer.id`` or ``buyerId``)."""
        buyer = self.raw.get("buyer")
        if isinstance(buyer, Mapping):
            return _str(_first(buyer, "_id", "id"))
        return _str(_first(self.raw, "buyerId", "buyer"))

    @property
    def seller_id(self) -> str | None:
        """The seller's user id (``seller._id``/``seller.id`` or ``sellerId``)."""
        seller = self.raw.get("seller")
        if isinstance(seller, Mapping):
            return _str(_first(seller, "_id", "id"))
        return _str(_first(self.raw, "sellerId", "seller"))

    def get(self, key: str, default: Any = None) -> Any:
        """Any other field, by its JSON name."""
        return self.raw.get(key, default)


@attrs.frozen
class ContractInfo:
    """The contract object of a ``contract.signed`` event."""

    raw: Mapping[str, Any]

    @property
    def signed_by(self) -> str | None:
        """Who signed: ``"seller"`` or ``"buyer"`` (REFERENCE §4.1)."""
        return _str(_first(self.raw, "signedBy", "signed_by"))


@attrs.frozen
class VerificationInfo:
    """The identity verification object of an ``identity.verification.*`` event."""

    raw: Mapping[str, Any]

    @property
    def id(self) -> str | None:
        """The verification id."""
        return _str(_first(self.raw, "id", "_id", "verificationId"))

    @property
    def kyc_status(self) -> str | None:
        """The KYC outcome: ``pending``, ``approved`` or ``rejected`` (unknown values as sent).

        DHMAD's verification objects carry it as ``kyc_status``; ``kycStatus`` and a
        plain ``status`` are read too.
        """
        return _str(_first(self.raw, "kyc_status", "kycStatus", "status"))

    @property
    def status(self) -> str | None:
        """The KYC outcome; the same as :attr:`kyc_status`."""
        return self.kyc_status

    @property
    def claim_status(self) -> str | None:
        """``pending`` until the user registers with the verified email, then ``linked``."""
        return _str(_first(self.raw, "claim_status", "claimStatus"))

    @property
    def updated_at(self) -> datetime | None:
        """When the verification last changed, when the payload says."""
        return _datetime(_first(self.raw, "updated_at", "updatedAt"))

    @property
    def external_user_id(self) -> str | None:
        """Your user id, echoed back (REFERENCE §4.4)."""
        return _str(_first(self.raw, "external_user_id", "externalUserId"))

    @property
    def linked_user_id(self) -> str | None:
        """The DHMAD user id, on ``identity.verification.linked``."""
        return _str(_first(self.raw, "linked_user_id", "linkedUserId"))


@attrs.frozen
class WebhookEvent:
    """A verified delivery; also the generic event for unknown types.

    ``id`` and ``timestamp`` come from the body, else the headers; ``data`` is the
    body's ``data`` object (or the body itself when it has none); ``raw`` is the
    whole parsed body.
    """

    #: Event type this class models; empty on the generic class.
    EVENT_TYPE: ClassVar[str] = ""

    id: str | None
    type: str
    timestamp: datetime | None
    data: Mapping[str, Any]
    raw: Mapping[str, Any] = attrs.field(repr=False)
    #: Key used for deduplication, always taken from signed content: the body's id,
    #: else X-Webhook-Id when the scheme signs it, else sha256 of the body.
    dedup_key: str = attrs.field(default="", repr=False)

    @property
    def escrow(self) -> EscrowInfo | None:
        """``data.escrow``, when present."""
        value = self.data.get("escrow")
        return EscrowInfo(value) if isinstance(value, Mapping) else None


class EscrowEvent(WebhookEvent):
    """Base of events about one escrow."""

    @property
    def escrow_id(self) -> str | None:
        """The escrow id, from ``data.escrow`` or ``data.escrowId``."""
        escrow = self.escrow
        if escrow is not None and escrow.id is not None:
            return escrow.id
        return _str(_first(self.data, "escrowId", "escrow_id"))

    @property
    def status(self) -> str | None:
        """The escrow status after the event."""
        escrow = self.escrow
        return escrow.status if escrow is not None else _str(self.data.get("status"))

    @property
    def reason(self) -> str | None:
        """A reason, when the event carries one (rejections, cancellations)."""
        found = _str(_first(self.data, "reason", "rejectionReason", "message"))
        if found is None and self.escrow is not None:
            found = _str(
                _first(self.escrow.raw, "deliveryRejectionReason", "rejectionReason", "reason")
            )
        return found


class EscrowStatusUpdated(EscrowEvent):
    """``escrow.status.updated``: any escrow status change."""

    EVENT_TYPE = "escrow.status.updated"


class ContractSigned(EscrowEvent):
    """``contract.signed``: one contract signature (seller or buyer)."""

    EVENT_TYPE = "contract.signed"

    @property
    def contract(self) -> ContractInfo:
        """``data.contract`` (empty when absent)."""
        return ContractInfo(_mapping(self.data.get("contract")))

    @property
    def signed_by(self) -> str | None:
        """``"seller"`` or ``"buyer"``."""
        return self.contract.signed_by or _str(self.data.get("signedBy"))


class CancellationRequested(EscrowEvent):
    """``escrow.cancellation.requested``: buyer asked to cancel; status unchanged."""

    EVENT_TYPE = "escrow.cancellation.requested"


class CancellationAccepted(EscrowEvent):
    """``escrow.cancellation.accepted``: refund; status becomes cancelled."""

    EVENT_TYPE = "escrow.cancellation.accepted"


class CancellationRejected(EscrowEvent):
    """``escrow.cancellation.rejected``: counterparty refused; status unchanged."""

    EVENT_TYPE = "escrow.cancellation.rejected"


class EscrowUpdated(EscrowEvent):
    """``escrow.updated``: title, amount, delivery time or terms changed."""

    EVENT_TYPE = "escrow.updated"


class DeliveryRejected(EscrowEvent):
    """``escrow.delivery.rejected``: buyer rejected delivery; ``reason`` is optional."""

    EVENT_TYPE = "escrow.delivery.rejected"


class DepositProofRejected(EscrowEvent):
    """``escrow.deposit_proof.rejected``: admin rejected a guest payment proof."""

    EVENT_TYPE = "escrow.deposit_proof.rejected"


class ProofRequired(EscrowEvent):
    """``escrow.proof.required``: seller must upload proof."""

    EVENT_TYPE = "escrow.proof.required"


class ProofSubmitted(EscrowEvent):
    """``escrow.proof.submitted``: seller uploaded proof."""

    EVENT_TYPE = "escrow.proof.submitted"


class ProofNeedsReview(EscrowEvent):
    """``escrow.proof.needs_review``: the buyer should review the proof."""

    EVENT_TYPE = "escrow.proof.needs_review"


class ProofAcceptedByTimeout(EscrowEvent):
    """``escrow.proof.accepted_by_timeout``: buyer did not review in time."""

    EVENT_TYPE = "escrow.proof.accepted_by_timeout"


class ProofAccepted(EscrowEvent):
    """``escrow.proof.accepted`` (INF, not seen in the docs): buyer accepted the proof."""

    EVENT_TYPE = "escrow.proof.accepted"


class _IdentityEvent(WebhookEvent):
    @property
    def verification(self) -> VerificationInfo:
        """``data.verification`` (or the data itself when it has no such key)."""
        value = self.data.get("verification", self.data.get("identityVerification"))
        return VerificationInfo(value if isinstance(value, Mapping) else self.data)


    @property
    def verification_id(self) -> str | None:
        """The verification id (pass it to ``client.identity_verifications.get``)."""
        return self.verification.id

    @property
    def kyc_status(self) -> str | None:
        """The KYC outcome carried by the event: ``approved``, ``rejected``, ``pending``..."""
        return self.verification.kyc_status


class IdentityVerificationUpdated(_IdentityEvent):
    """``identity.verification.updated``: pre-account KYC approved or rejected.

    Read the outcome with :attr:`approved` / :attr:`rejected` (strict: an unknown
    or missing status is neither) or :attr:`kyc_status`.
    """

    EVENT_TYPE = "identity.verification.updated"

    @property
    def approved(self) -> bool:
        """True only when the event says ``kyc_status`` is ``approved``."""
        return self.kyc_status == "approved"

    @property
    def rejected(self) -> bool:
        """True only when the event says ``kyc_status`` is ``rejected``."""
        return self.kyc_status == "rejected"


class IdentityVerificationLinked(_IdentityEvent):
    """``identity.verification.linked``: KYC attached to a newly registered user."""

    EVENT_TYPE = "identity.verification.linked"

    @property
    def linked_user_id(self) -> str | None:
        """The DHMAD user id the verification is now attached to."""
        return self.verification.linked_user_id


#: Event type -> class; anything else parses as a plain :class:`WebhookEvent`.
EVENT_CLASSES: Mapping[str, type[WebhookEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        EscrowStatusUpdated,
        ContractSigned,
        CancellationRequested,
        CancellationAccepted,
        CancellationRejected,
        EscrowUpdated,
        DeliveryRejected,
        DepositProofRejected,
        ProofRequired,
        ProofSubmitted,
        ProofNeedsReview,
        ProofAcceptedByTimeout,
        ProofAccepted,
        IdentityVerificationUpdated,
        IdentityVerificationLinked,
    )
}


def build_event(
    payload: Mapping[str, Any],
    *,
    body: bytes = b"",
    header_type: str | None = None,
    header_id: str | None = None,
    header_timestamp: str | None = None,
    header_id_signed: bool = False,
) -> WebhookEvent:
    """
    Build the typed event for a parsed body, falling back to header values.

    The dedup key comes only from what the signature covers. With a body-only
    scheme the ``X-Webhook-Id`` header is not authenticated: an attacker could
    replay a captured body under a fresh id and slip past dedup. It may also
    name the webhook configuration rather than the event (REFERENCE §7.2), which
    would make every later event look like a duplicate.
    """
    event_type = (
        _str(_first(payload, "type", "event", "eventType", "event_type")) or header_type or ""
    )
    body_id = _str(_first(payload, "id", "eventId", "event_id"))
    event_id = body_id or header_id
    timestamp = _datetime(_first(payload, "createdAt", "timestamp", "created_at"))
    if timestamp is None and header_timestamp is not None:
        timestamp = _datetime(header_timestamp)
    data = payload.get("data")
    if not isinstance(data, Mapping):
        data = payload  # payload at the top level (an INF variant, REFERENCE §4.4)
    signed_id = body_id or (header_id if header_id_signed else None)
    dedup_key = signed_id or "sha256:" + hashlib.sha256(body).hexdigest()
    cls = EVENT_CLASSES.get(event_type, WebhookEvent)
    return cls(
        id=event_id,
        type=event_type,
        timestamp=timestamp,
        data=data,
        raw=payload,
        dedup_key=dedup_key,
    )
