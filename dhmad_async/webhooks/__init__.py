"""
Webhook toolkit: verify, parse, deduplicate and receive DHMAD webhook deliveries.

Pure except the dedup stores (Redis) and the receivers (HTTP).
"""

from __future__ import annotations

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._dedup import DedupStore, MemoryDedupStore, RedisDedupStore
from dhmad_async.webhooks._events import (
    EVENT_CLASSES,
    CancellationAccepted,
    CancellationRejected,
    CancellationRequested,
    ContractInfo,
    ContractSigned,
    DeliveryRejected,
    DepositProofRejected,
    EscrowEvent,
    EscrowInfo,
    EscrowStatusUpdated,
    EscrowUpdated,
    IdentityVerificationLinked,
    IdentityVerificationUpdated,
    ProofAccepted,
    ProofAcceptedByTimeout,
    ProofNeedsReview,
    ProofRequired,
    ProofSubmitted,
    VerificationInfo,
    WebhookEvent,
)
from dhmad_async.webhooks._jsonjs import js_stringify
from dhmad_async.webhooks._receivers import (
    WebhookEndpoint,
    WebhookHandler,
    aiohttp_webhook_handler,
)
from dhmad_async.webhooks._scheme import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    SignatureScheme,
    candidate_schemes,
    sign,
    signed_headers,
)
from dhmad_async.webhooks._timestamps import format_timestamp, parse_timestamp
from dhmad_async.webhooks._verifier import WebhookVerifier

__all__ = [
    "DEFAULT_SCHEME",
    "EVENT_CLASSES",
    "STANDARD_WEBHOOKS_SCHEME",
    "CancellationAccepted",
    "CancellationRejected",
    "CancellationRequested",
    "ContractInfo",
    "ContractSigned",
    "DedupStore",
    "DeliveryRejected",
    "DepositProofRejected",
    "EscrowEvent",
    "EscrowInfo",
    "EscrowStatusUpdated",
    "EscrowUpdated",
    "IdentityVerificationLinked",
    "IdentityVerificationUpdated",
    "MemoryDedupStore",
    "ProofAccepted",
    "ProofAcceptedByTimeout",
    "ProofNeedsReview",
    "ProofRequired",
    "ProofSubmitted",
    "RedisDedupStore",
    "SignatureScheme",
    "VerificationInfo",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookFailureReason",
    "WebhookHandler",
    "WebhookVerificationError",
    "WebhookVerifier",
    "aiohttp_webhook_handler",
    "candidate_schemes",
    "format_timestamp",
    "js_stringify",
    "parse_timestamp",
    "sign",
    "signed_headers",
]
