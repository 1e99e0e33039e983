"""
"Sign in with DHMAD": OAuth 2.0 authorization code with PKCE S256. Pure but for HTTP.

The flow is summarised in docs/dhmad-api.md#sign-in-with-dhmad-oauth-20.

Only the authorization-code flow exists; PKCE ``plain`` is refused by the
server, there are no refresh tokens, and the ID token is HMAC-signed (so it
cannot be verified with a public key: read claims from ``userinfo``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._errors import AuthenticationError
from dhmad_async._sansio import root_url
from dhmad_async._serialization import response_parser
from dhmad_async.models import OAuthToken, UserInfo
from dhmad_async.resources._base import (
    ExtraHeaders,
    InvalidParamsError,
    Resource,
    Violations,
    raw_method,
)

__all__ = [
    "AuthorizationRequest",
    "OAuth",
    "OAuthWithRawResponse",
    "code_challenge_s256",
    "generate_code_verifier",
]

_parse_token = response_parser(OAuthToken)
_parse_userinfo = response_parser(UserInfo)

DEFAULT_SCOPE = "openid profile email"


def generate_code_verifier() -> str:
    """A fresh RFC 7636 code verifier: 64 URL-safe characters (43–128 allowed)."""
    return secrets.token_urlsafe(48)


def code_challenge_s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636, section 4.2)."""
    if not 43 <= len(verifier) <= 128:
        raise InvalidParamsError("PKCE", {"code_verifier": "must be 43 to 128 characters"})
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@attrs.frozen
class AuthorizationRequest:
    """Where to send the user, and what to keep (server-side) until the callback."""

    url: str
    state: str = attrs.field(repr=False)
    #: Keep it secret until :meth:`OAuth.exchange_code`; ``None`` without PKCE.
    code_verifier: str | None = attrs.field(repr=False)


class OAuthCallbackError(AuthenticationError):
    """Raised when the callback says the user denied access, or its ``state`` does not match."""


class OAuth(Resource):
    """Build the authorize URL, read the callback, exchange the code, read userinfo."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> OAuthWithRawResponse:
        """The HTTP calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return OAuthWithRawResponse(OAuth(self._raw_client()))

    def authorization_url(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str = DEFAULT_SCOPE,
        state: str | None = None,
        pkce: bool = True,
        code_verifier: str | None = None,
    ) -> AuthorizationRequest:
        """
        The ``/api/oauth/authorize`` URL with a random ``state`` and a PKCE S256 challenge.

        ``redirect_uri`` must be a registered URL with a path (domain-only is refused).
        """
        v = Violations("authorization request")
        v.text("client_id", client_id, min_len=1, max_len=500)
        parts = urlsplit(redirect_uri) if isinstance(redirect_uri, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            v.add("redirect_uri", "must be an absolute http(s) URL")
        elif parts.path in ("", "/"):
            v.add("redirect_uri", "must include a path: DHMAD rejects a domain-only redirect URI")
        v.raise_if_any()
        state = state or secrets.token_urlsafe(24)
        query = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
        verifier = None
        if pkce:
            verifier = code_verifier or generate_code_verifier()
            query["code_challenge"] = code_challenge_s256(verifier)
            query["code_challenge_method"] = "S256"
        url = f"{root_url(self._client.base_url)}/oauth/authorize?{urlencode(query)}"
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    @staticmethod
    def parse_callback(callback_url: str, *, expected_state: str) -> str:
        """
        Return the ``code`` of a callback URL after checking ``state`` in constant time.

        ``expected_state`` is the :attr:`AuthorizationRequest.state` you saved
        for this user's session; without it (``None`` or blank) there is nothing
        to check, so :class:`InvalidParamsError` is raised rather than accepting
        a callback an attacker could have started (login CSRF).

        Raises :class:`OAuthCallbackError` on a missing, repeated or different
        ``state``, on ``error=access_denied``, or when no single ``code`` is given.
        """
        if not isinstance(expected_state, str) or not expected_state.strip():
            raise InvalidParamsError(
                "OAuth callback check",
                {
                    "expected_state": "is required: pass the state that authorization_url()"
                    " returned for this session (without it a forged callback would pass)"
                },
            )
        query = parse_qs(urlsplit(callback_url).query, keep_blank_values=True)
        states = query.get("state", [])
        # A repeated state is ambiguous: refuse it rather than pick one.
        state = states[0] if len(states) == 1 else ""
        if not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise OAuthCallbackError(
                "OAuth state mismatch: possible CSRF, refusing the callback", status=401
            )
        if "error" in query:
            raise OAuthCallbackError(
                f"Authorization failed: {query['error'][0]}", status=401, code=query["error"][0]
            )
        codes = query.get("code", [])
        if len(codes) != 1 or not codes[0]:
            raise OAuthCallbackError(
                "The callback must carry exactly one authorization code", status=401
            )
        return codes[0]

    async def exchange_code(
        self,
        code: str,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        code_verifier: str | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> OAuthToken:
        """``POST /api/oauth/token``: trade a single-use code for tokens (server-side only)."""
        v = Violations("token request")
        for name, value in (
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ):
            v.text(name, value, min_len=1, max_len=4096)
        v.raise_if_any()
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        if code_verifier is not None:
            body["code_verifier"] = code_verifier
        return await self._client._request(
            "POST",
            "/oauth/token",
            json=body,
            base="root",
            authenticate=False,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_token,
        )

    async def userinfo(
        self,
        access_token: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> UserInfo:
        """``GET /api/oauth/userinfo`` with the user's access token."""
        if not isinstance(access_token, str) or not access_token:
            raise InvalidParamsError("userinfo request", {"access_token": "is required"})
        return await self._client._request(
            "GET",
            "/oauth/userinfo",
            base="root",
            bearer=access_token,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_userinfo,
        )


class OAuthWithRawResponse:
    """``client.oauth.with_raw_response``: the HTTP calls, answering APIResponse objects."""

    __slots__ = ("exchange_code", "userinfo")

    def __init__(self, oauth: OAuth) -> None:
        self.exchange_code = raw_method(oauth.exchange_code)
        self.userinfo = raw_method(oauth.userinfo)
