"""Resource groups: one module per API area, bound to a client."""

from dhmad_async.resources._base import MAX_AMOUNT, InvalidParamsError
from dhmad_async.resources.account import Account
from dhmad_async.resources.checkout_sessions import CheckoutSessions
from dhmad_async.resources.developer import WebhookEndpoints
from dhmad_async.resources.escrows import EscrowParams, Escrows
from dhmad_async.resources.identity_verifications import IdentityVerifications
from dhmad_async.resources.oauth import (
    AuthorizationRequest,
    OAuth,
    OAuthCallbackError,
    code_challenge_s256,
    generate_code_verifier,
)

__all__ = [
    "MAX_AMOUNT",
    "Account",
    "AuthorizationRequest",
    "CheckoutSessions",
    "EscrowParams",
    "Escrows",
    "IdentityVerifications",
    "InvalidParamsError",
    "OAuth",
    "OAuthCallbackError",
    "WebhookEndpoints",
    "code_challenge_s256",
    "generate_code_verifier",
]
