"""Resource groups: one module per API area, bound to a client."""

from dhmad_async.resources._base import MAX_AMOUNT, InvalidParamsError
from dhmad_async.resources.account import Account, AccountWithRawResponse
from dhmad_async.resources.checkout_sessions import (
    CheckoutSessions,
    CheckoutSessionsWithRawResponse,
)
from dhmad_async.resources.developer import (
    DEFAULT_WEBHOOK_EVENTS,
    SUBSCRIBABLE_EVENTS,
    WebhookEndpoints,
    WebhookEndpointsWithRawResponse,
)
from dhmad_async.resources.escrows import EscrowParams, Escrows, EscrowsWithRawResponse
from dhmad_async.resources.identity_verifications import (
    IdentityVerifications,
    IdentityVerificationsWithRawResponse,
)
from dhmad_async.resources.oauth import (
    AuthorizationRequest,
    OAuth,
    OAuthCallbackError,
    OAuthWithRawResponse,
    code_challenge_s256,
    generate_code_verifier,
)
from dhmad_async.resources.signature import Signature, SignatureWithRawResponse, signature_data_uri

__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "MAX_AMOUNT",
    "SUBSCRIBABLE_EVENTS",
    "Account",
    "AccountWithRawResponse",
    "AuthorizationRequest",
    "CheckoutSessions",
    "CheckoutSessionsWithRawResponse",
    "EscrowParams",
    "Escrows",
    "EscrowsWithRawResponse",
    "IdentityVerifications",
    "IdentityVerificationsWithRawResponse",
    "InvalidParamsError",
    "OAuth",
    "OAuthCallbackError",
    "OAuthWithRawResponse",
    "Signature",
    "SignatureWithRawResponse",
    "WebhookEndpoints",
    "WebhookEndpointsWithRawResponse",
    "code_challenge_s256",
    "generate_code_verifier",
    "signature_data_uri",
]
