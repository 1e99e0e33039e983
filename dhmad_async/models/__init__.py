"""
attrs response models of the DHMAD API and its open enums. Pure: no I/O.

Parsing is lenient where the docs leave room: a ``null`` array reads as empty,
a nested user may lack its id, ``contract.escrow`` may be an id or an object,
and every model keeps the JSON keys it does not declare in ``model.extra``
(see :class:`WireModel`). ``model.to_dict()`` gives the model back as wire data.

Request parameters with documented values are typed with the ``Literal``
aliases here (``EscrowModeName``, ``CurrencyCode``, ...); wrap a value the SDK
does not know yet in :class:`Unknown`.
"""

from __future__ import annotations

from dhmad_async.models._account import ApiKeyInfo, Balance, Developer, Me
from dhmad_async.models._checkout import CheckoutSession, CheckoutSessionCreated
from dhmad_async.models._common import Pagination, UserRef, WireModel
from dhmad_async.models._enums import (
    CheckoutAction,
    CheckoutActionName,
    ClaimStatus,
    Currency,
    CurrencyCode,
    EscrowMode,
    EscrowModeName,
    EscrowStatus,
    EscrowStatusName,
    KycStatus,
    PartyRole,
    ProofPhase,
    ProofType,
    SessionStatus,
    SubscribableEventName,
    Unknown,
    WebhookEventType,
)
from dhmad_async.models._escrows import (
    CheckoutActionHint,
    Contract,
    ContractSignature,
    ContractSummary,
    DeliveryRejection,
    DisputeTicket,
    Escrow,
    EscrowCreated,
    EscrowPage,
    EscrowResult,
    FulfillmentPolicy,
    PdfVersion,
    Proof,
    ProofAttachment,
    ProofSubmission,
    Signatures,
)
from dhmad_async.models._identity import IdentityVerification, IdentityVerificationList
from dhmad_async.models._oauth import OAuthToken, UserInfo
from dhmad_async.models._webhooks_admin import (
    SignatureStatus,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointResult,
)

__all__ = [
    "ApiKeyInfo",
    "Balance",
    "CheckoutAction",
    "CheckoutActionHint",
    "CheckoutActionName",
    "CheckoutSession",
    "CheckoutSessionCreated",
    "ClaimStatus",
    "Contract",
    "ContractSignature",
    "ContractSummary",
    "Currency",
    "CurrencyCode",
    "DeliveryRejection",
    "Developer",
    "DisputeTicket",
    "Escrow",
    "EscrowCreated",
    "EscrowMode",
    "EscrowModeName",
    "EscrowPage",
    "EscrowResult",
    "EscrowStatus",
    "EscrowStatusName",
    "FulfillmentPolicy",
    "IdentityVerification",
    "IdentityVerificationList",
    "KycStatus",
    "Me",
    "OAuthToken",
    "Pagination",
    "PartyRole",
    "PdfVersion",
    "Proof",
    "ProofAttachment",
    "ProofPhase",
    "ProofSubmission",
    "ProofType",
    "SessionStatus",
    "SignatureStatus",
    "Signatures",
    "SubscribableEventName",
    "Unknown",
    "UserInfo",
    "UserRef",
    "WebhookEndpoint",
    "WebhookEndpointList",
    "WebhookEndpointResult",
    "WebhookEventType",
    "WireModel",
]
