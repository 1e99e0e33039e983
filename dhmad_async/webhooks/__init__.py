"""
Webhook toolkit: verify, parse, deduplicate and receive DHMAD webhook deliveries.

Pure except the dedup stores (Redis), the receivers (HTTP) and ``fetch_current``
(HTTP through the client you pass).
"""

from __future__ import annotations

from typing import Any

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._dedup import (
    DEFAULT_TTL,
    DedupPolicy,
    DedupState,
    DedupStore,
    MemoryDedupStore,
    RedisDedupStore,
)
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
    DEFAULT_HANDLER_TIMEOUT,
    AiohttpWebhookHandler,
    WebhookHandler,
    WebhookReceiver,
    aiohttp_webhook_handler,
)
from dhmad_async.webhooks._receivers import deprecated_alias as _deprecated_alias
from dhmad_async.webhooks._refetch import (
    CurrentState,
    StateReader,
    current_state_handler,
    fetch_current,
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
    "DEFAULT_HANDLER_TIMEOUT",
    "DEFAULT_SCHEME",
    "DEFAULT_TTL",
    "EVENT_CLASSES",
    "STANDARD_WEBHOOKS_SCHEME",
    "AiohttpWebhookHandler",
    "CancellationAccepted",
    "CancellationRejected",
    "CancellationRequested",
    "ContractInfo",
    "ContractSigned",
    "CurrentState",
    "DedupPolicy",
    "DedupState",
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
    "StateReader",
    "VerificationInfo",
    "WebhookEvent",
    "WebhookFailureReason",
    "WebhookHandler",
    "WebhookReceiver",
    "WebhookVerificationError",
    "WebhookVerifier",
    "aiohttp_webhook_handler",
    "candidate_schemes",
    "current_state_handler",
    "fetch_current",
    "format_timestamp",
    "js_stringify",
    "parse_timestamp",
    "sign",
    "signed_headers",
]


def __getattr__(name: str) -> Any:
    # WebhookEndpoint, the receiver's old name, still works and warns.
    try:
        return _deprecated_alias(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
