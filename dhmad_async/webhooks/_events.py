"""
Typed webhook events, parsed leniently from a delivery's JSON body and headers. Pure: no I/O.

Payload shapes are only partly known: the emulator sends
``{"id", "type", "createdAt", "data": {...}}``; real deliveries may use ``event``
instead of ``type``, omit ``id``/timestamp (the headers then supply them) or carry
the payload at the top level. Unknown event types become a plain
:class:`WebhookEvent`, never an error. Accessors use dict look-ups with ``None``
defaults, so a missing field never raises. Amounts are ``Decimal``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeGuard

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
    "dedup_key_for",
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
    if type(value) is str and len(value) == 24 and value[-1] == "Z" and value[4] == "-":
        # Fast path for JS toISOString() output, the usual form: parsing it directly
        # gives the same aware UTC datetime as the epoch round trip below (millisecond
        # values are exact in both), without the float. Anything else, or a value
        # fromisoformat refuses, takes the general path.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
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

    @property
    def updated_at(self) -> datetime | None:
        """When the escrow last changed (``updatedAt``), when the payload says."""
        return _datetime(_first(self.raw, "updatedAt", "updated_at"))

    def get(self, key: str, default: Any = None) -> Any:
        """Any other field, by its JSON name."""
        return self.raw.get(key, default)


@attrs.frozen
class ContractInfo:
    """The contract object of a ``contract.signed`` event."""

    raw: Mapping[str, Any]

    @property
    def signed_by(self) -> str | None:
        """Who signed: ``"seller"`` or ``"buyer"``."""
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
        """Your user id, echoed back."""
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
    #: Key used for deduplication, taken from signed content only: the event type,
    #: subject id and status (readable), then the SHA-256 of the body in the form the
    #: MAC was checked over (so re-encodings collide) and of X-Webhook-Id when the
    #: scheme signs it. See :func:`dedup_key_for`.
    dedup_key: str = attrs.field(default="", repr=False)
    #: True when nothing signed tells a genuine repeat of this event from a replay:
    #: no ``updatedAt`` on its subject and no event timestamp in an envelope.
    dedup_ambiguous: bool = attrs.field(default=False, repr=False)

    @property
    def escrow(self) -> EscrowInfo | None:
        """``data.escrow``; or, for a payload that is an escrow at the top level, the payload."""
        value = self.data.get("escrow")
        if isinstance(value, Mapping):
            return EscrowInfo(value)
        if self.data is self.raw and "status" in self.raw and "data" not in self.raw:
            # The INF top-level variant: the escrow object itself, so its id is the escrow's.
            return EscrowInfo(self.raw)
        return None


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
    signed_body: bytes | None = None,
    header_type: str | None = None,
    header_id: str | None = None,
    header_timestamp: str | None = None,
    header_id_signed: bool = False,
) -> WebhookEvent:
    """
    Build the typed event for a parsed body, falling back to header values.

    ``signed_body`` is the body in the form the MAC was checked over (default:
    ``body``); the dedup key is computed from it by :func:`dedup_key_for`.
    ``header_id_signed`` says whether the scheme signs ``X-Webhook-Id``.

    The key's digest (a SHA-256 over the whole signed body, as costly as the MAC
    itself) is computed the first time ``dedup_key`` is read, so a handler without
    deduplication does not pay for it; its inputs are captured here, so the key is
    the one this function would have computed eagerly.
    """
    found_type = payload.get("type")
    if type(found_type) is not str:  # the usual envelope has a string "type"
        found_type = _str(_first(payload, "type", "event", "eventType", "event_type"))
    event_type = found_type or header_type or ""
    body_id = payload.get("id")
    if type(body_id) is not str:
        body_id = _str(_first(payload, "id", "eventId", "event_id"))
    event_id = body_id or header_id
    created = payload.get("createdAt")
    timestamp = _datetime(created if created is not None else _first(payload, *_TS_KEYS))
    if timestamp is None and header_timestamp is not None:
        timestamp = _datetime(header_timestamp)
    data = payload.get("data")
    if not _is_mapping(data):
        data = payload  # payload at the top level (an INF variant, REFERENCE §4.4)
    label_type, subject_id, status, ambiguous = _dedup_inputs(payload)
    pending = _PendingKey(
        label_type,
        subject_id,
        status,
        body if signed_body is None else signed_body,
        header_id if header_id_signed else None,
    )
    cls = EVENT_CLASSES.get(event_type, WebhookEvent)
    return cls(
        id=event_id,
        type=event_type,
        timestamp=timestamp,
        data=data,
        raw=payload,
        dedup_key=pending,  # type: ignore[arg-type]  # a str once read, see _LazyDedupKey
        dedup_ambiguous=ambiguous,
    )


_TS_KEYS = ("createdAt", "timestamp", "created_at")


class _PendingKey:
    """The inputs of a dedup key not yet computed (see :func:`build_event`)."""

    __slots__ = ("event_type", "signed_body", "signed_id", "status", "subject_id")

    def __init__(
        self,
        event_type: str | None,
        subject_id: str | None,
        status: str | None,
        signed_body: bytes,
        signed_id: str | None,
    ) -> None:
        self.event_type = event_type
        self.subject_id = subject_id
        self.status = status
        self.signed_body = signed_body
        self.signed_id = signed_id

    def compute(self) -> str:
        return _dedup_key(
            self.event_type, self.subject_id, self.status, self.signed_body, self.signed_id
        )

    def __repr__(self) -> str:
        return "<dedup key not computed yet>"


class _LazyDedupKey:
    """``WebhookEvent.dedup_key``: the attrs slot, computing a pending key on first read.

    It wraps the slot descriptor attrs made, so the field keeps its name, its
    place in ``__init__``, ``==``, ``attrs.asdict``, ``evolve`` and pickling; each of
    those reads the attribute and so sees the computed string, never the pending
    inputs. Frozen-ness is unchanged: attrs' ``__setattr__`` refuses assignment
    before any descriptor is consulted, and only ``__init__`` (via
    ``object.__setattr__``) and this getter store into the slot.
    """

    def __init__(self, slot: Any) -> None:
        self._slot = slot

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self._slot.__get__(obj, owner)
        if type(value) is _PendingKey:
            value = value.compute()
            self._slot.__set__(obj, value)  # also drops the reference to the body
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._slot.__set__(obj, value)


# Installed after class creation: attrs builds the slotted class, then the slot's
# descriptor is wrapped (setattr: mypy sees the field as a plain str attribute).
setattr(WebhookEvent, "dedup_key", _LazyDedupKey(WebhookEvent.__dict__["dedup_key"]))  # noqa: B010


_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def _label(value: str | None) -> str:
    """A readable, bounded key segment (the digest, not the label, makes keys unique)."""
    return _UNSAFE_KEY_CHARS.sub("_", value)[:64] if value else "-"


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # A parsed body's objects are dicts: skip the (slower) ABC check for them.
    return type(value) is dict or isinstance(value, Mapping)


def _subject(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The object an event is about (escrow or verification), and whether it is enveloped."""
    data = payload.get("data")
    if not _is_mapping(data):
        return payload, False
    for name in ("escrow", "verification", "identityVerification"):
        value = data.get(name)
        if _is_mapping(value):
            return value, True
    return data, True


def dedup_key_for(
    payload: Mapping[str, Any], *, signed_body: bytes, signed_id: str | None = None
) -> tuple[str, bool]:
    """
    Return ``(dedup key, ambiguous)`` for a verified delivery. Pure.

    Only signed content goes in: ``signed_body`` is the body in the form the MAC
    was checked over (the raw bytes, or their ``JSON.stringify`` form when the
    re-serialised fallback matched), so every re-encoding of one captured body
    has one key. ``signed_id`` is ``X-Webhook-Id`` when the scheme signs it. An
    unsigned header never goes in: an attacker could replay a captured body
    under a fresh id, and if the header names the webhook rather than the event
    (DHMAD's docs leave that open) it would make different events collide. Nor does a body
    ``id`` alone: when it is the escrow's id, paid, delivered and completed
    would collide.

    The key reads ``type:subject:status:digest``: the labels are for people
    (logs, Redis); the digest over the whole signed content (which includes
    ``updatedAt``) is what tells events apart. ``ambiguous`` is True when that
    content has no ``updatedAt`` and no event timestamp, so a genuine repeat
    (``paid`` again after a rejected delivery) is byte-identical to a replay.
    """
    event_type, subject_id, status, ambiguous = _dedup_inputs(payload)
    return _dedup_key(event_type, subject_id, status, signed_body, signed_id), ambiguous


def _dedup_inputs(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, bool]:
    """The readable parts of the dedup key, and whether the signed content is ambiguous."""
    subject, enveloped = _subject(payload)
    # Each look-up tries the usual name first (a string there is what the alias
    # chain would return), then the chain.
    event_type = payload.get("type")
    if type(event_type) is not str:
        event_type = _str(_first(payload, "type", "event", "eventType", "event_type"))
    subject_id = subject.get("id")
    if type(subject_id) is not str:
        subject_id = _str(_first(subject, "id", "_id", "escrowId", "verificationId"))
    status = subject.get("status")
    if type(status) is not str:
        status = _str(_first(subject, "status", "kyc_status", "kycStatus"))
    versioned = (
        subject.get("updatedAt") is not None
        or subject.get("updated_at") is not None
        or (
            enveloped
            and (
                payload.get("createdAt") is not None
                or payload.get("timestamp") is not None
                or payload.get("created_at") is not None
            )
        )
    )
    # A signed id does not settle it: DHMAD does not say whether X-Webhook-Id names
    # the event or the webhook, and a per-event id already makes the bytes differ.
    return event_type, subject_id, status, not versioned


def _dedup_key(
    event_type: str | None,
    subject_id: str | None,
    status: str | None,
    signed_body: bytes,
    signed_id: str | None,
) -> str:
    digest = hashlib.sha256(b"dhmad-webhook-dedup/2\n")
    if signed_id is not None:
        encoded = signed_id.encode("utf-8", "surrogatepass")
        digest.update(b"id:%d:" % len(encoded) + encoded)
    digest.update(b"body:")
    digest.update(signed_body)
    return ":".join((_label(event_type), _label(subject_id), _label(status), digest.hexdigest()))
