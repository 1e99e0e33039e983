"""
Webhook toolkit: verify, parse, deduplicate and receive DHMAD webhook deliveries.

Pure except the dedup stores (Redis) and the receivers (HTTP).
"""

from __future__ import annotations

from dhmad_async._errors import WebhookFailureReason, WebhookVerificationError
from dhmad_async.webhooks._scheme import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    SignatureScheme,
    candidate_schemes,
    sign,
)

__all__ = [
    "DEFAULT_SCHEME",
    "STANDARD_WEBHOOKS_SCHEME",
    "SignatureScheme",
    "WebhookFailureReason",
    "WebhookVerificationError",
    "candidate_schemes",
    "sign",
]
