"""Models for OAuth 2.0 / OpenID Connect, snake_case on the wire. Pure: no I/O."""

from __future__ import annotations

from typing import ClassVar

import attrs

from dhmad_async.models._common import WireModel
from dhmad_async.models._enums import KycStatus

__all__ = ["OAuthToken", "UserInfo"]


@attrs.frozen(kw_only=True)
class OAuthToken(WireModel):
    """Response of ``POST /api/oauth/token``; the tokens are secrets and stay out of repr."""

    __dhmad_wire_case__: ClassVar[str] = "snake"
    # A parse failure must not carry the raw body: it holds the tokens.
    __dhmad_redact_body__: ClassVar[bool] = True

    access_token: str = attrs.field(repr=False)
    token_type: str
    #: Lifetime of the access token in seconds (1 h documented).
    expires_in: int
    #: Space-separated granted scopes.
    scope: str
    #: Only when ``openid`` was requested; HS256-signed (inferred from the examples).
    id_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class UserInfo(WireModel):
    """OIDC claims from ``GET /api/oauth/userinfo``."""

    __dhmad_wire_case__: ClassVar[str] = "snake"

    sub: str
    #: Always included, whatever the scopes.
    kyc_verified: bool
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    preferred_username: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    phone_number: str | None = None
    phone_number_verified: bool | None = None
    kyc_status: KycStatus | str | None = None
