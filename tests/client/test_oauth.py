"""Sign in with DHMAD: authorize URL with PKCE S256, callback parsing, token and userinfo."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from client_fakes import (
    SANDBOX_KEY,
    SANDBOX_ROOT,
    RecordingTransport,
    make_client,
    response,
    sample,
)

from dhmad_async import AuthenticationError, BadRequestError, InvalidParamsError
from dhmad_async.resources import OAuthCallbackError, code_challenge_s256, generate_code_verifier

RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REDIRECT = "https://example.com/callback"


def test_rfc7636_vector() -> None:
    """The RFC 7636 Appendix B verifier gives the documented challenge (§6)."""
    assert code_challenge_s256(RFC_VERIFIER) == RFC_CHALLENGE


def test_generated_verifier_is_valid_and_fresh() -> None:
    """Generated verifiers have an allowed length and differ each time."""
    first, second = generate_code_verifier(), generate_code_verifier()
    assert 43 <= len(first) <= 128
    assert first != second
    with pytest.raises(InvalidParamsError):
        code_challenge_s256("short")


def test_authorization_url_with_state_and_pkce() -> None:
    """The URL targets /api/oauth/authorize with state, scope and an S256 challenge."""
    client = make_client()
    request = client.oauth.authorization_url(
        client_id="cid", redirect_uri=REDIRECT, code_verifier=RFC_VERIFIER, state="st-1"
    )
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{SANDBOX_ROOT}/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "st-1",
        "code_challenge": RFC_CHALLENGE,
        "code_challenge_method": "S256",
    }
    assert request.code_verifier == RFC_VERIFIER
    assert RFC_VERIFIER not in repr(request)


def test_authorization_url_defaults_random_state_and_verifier() -> None:
    """Without arguments a random state and verifier are made; pkce=False omits them."""
    client = make_client()
    one = client.oauth.authorization_url(client_id="cid", redirect_uri=REDIRECT)
    two = client.oauth.authorization_url(client_id="cid", redirect_uri=REDIRECT)
    assert one.state != two.state
    assert one.code_verifier is not None
    assert code_challenge_s256(one.code_verifier) in one.url
    plain = client.oauth.authorization_url(client_id="cid", redirect_uri=REDIRECT, pkce=False)
    assert plain.code_verifier is None
    assert "code_challenge" not in plain.url


def test_redirect_uri_needs_a_path() -> None:
    """A domain-only redirect URI is refused (§5)."""
    with pytest.raises(InvalidParamsError, match="path"):
        make_client().oauth.authorization_url(client_id="cid", redirect_uri="https://example.com")


def test_parse_callback_returns_code() -> None:
    """A callback with the expected state yields its code."""
    code = make_client().oauth.parse_callback(
        f"{REDIRECT}?code=AUTH_CODE&state=st-1", expected_state="st-1"
    )
    assert code == "AUTH_CODE"


def test_parse_callback_state_mismatch() -> None:
    """A different or missing state is refused as possible CSRF."""
    oauth = make_client().oauth
    with pytest.raises(OAuthCallbackError, match="state mismatch"):
        oauth.parse_callback(f"{REDIRECT}?code=c&state=evil", expected_state="st-1")
    with pytest.raises(OAuthCallbackError, match="state mismatch"):
        oauth.parse_callback(f"{REDIRECT}?code=c", expected_state="st-1")


@pytest.mark.parametrize("expected", ["", None, "   ", 123], ids=repr)
@pytest.mark.parametrize("query", ["code=c", "code=c&state=", "code=c&state=x"])
def test_parse_callback_refuses_a_missing_expected_state(expected: object, query: str) -> None:
    """
    Without a saved state there is nothing to check, so every callback is refused.

    ``expected_state=""`` used to accept a callback with no ``state`` (a forged
    login, CSRF), and ``expected_state=None`` raised ``AttributeError``.
    """
    with pytest.raises(InvalidParamsError, match="expected_state") as info:
        make_client().oauth.parse_callback(
            f"{REDIRECT}?{query}",
            expected_state=expected,  # type: ignore[arg-type]
        )
    assert "authorization_url" in str(info.value)


@pytest.mark.parametrize(
    "query",
    [
        "code=c&state=st-1&state=evil",
        "code=c&state=evil&state=st-1",
        "code=c&code=d&state=st-1",
        "code=c&state=ST-1",
        "code=c&state=st-1%00",
        "code=c&state=st-",
    ],
)
def test_parse_callback_refuses_ambiguous_or_near_states(query: str) -> None:
    """Repeated parameters are ambiguous, and only the exact state matches."""
    with pytest.raises(OAuthCallbackError):
        make_client().oauth.parse_callback(f"{REDIRECT}?{query}", expected_state="st-1")


def test_parse_callback_non_ascii_state_is_compared_not_crashed() -> None:
    """A non-ASCII state is compared as bytes (hmac.compare_digest refuses non-ASCII str)."""
    oauth = make_client().oauth
    assert oauth.parse_callback(f"{REDIRECT}?code=c&state=%C3%A9t%C3%A9", expected_state="été")
    with pytest.raises(OAuthCallbackError, match="state mismatch"):
        oauth.parse_callback(f"{REDIRECT}?code=c&state=%C3%A9t%C3%A9", expected_state="ete")


def test_parse_callback_access_denied() -> None:
    """error=access_denied raises with that code."""
    with pytest.raises(OAuthCallbackError) as info:
        make_client().oauth.parse_callback(
            f"{REDIRECT}?error=access_denied&state=st-1", expected_state="st-1"
        )
    assert info.value.code == "access_denied"
    assert isinstance(info.value, AuthenticationError)


async def test_exchange_code_request() -> None:
    """The token request posts JSON to /api/oauth/token without the API key."""
    transport = RecordingTransport(response(200, sample("oauth_token")))
    token = await make_client(transport).oauth.exchange_code(
        "AUTH_CODE",
        client_id="cid",
        client_secret="csecret",
        redirect_uri=REDIRECT,
        code_verifier=RFC_VERIFIER,
    )
    sent = transport.last
    assert (sent.method, sent.url) == ("POST", f"{SANDBOX_ROOT}/oauth/token")
    assert "Authorization" not in sent.headers
    assert SANDBOX_KEY not in str(sent.headers)
    assert sent.json() == {
        "grant_type": "authorization_code",
        "code": "AUTH_CODE",
        "redirect_uri": REDIRECT,
        "client_id": "cid",
        "client_secret": "csecret",
        "code_verifier": RFC_VERIFIER,
    }
    assert token.token_type == "Bearer"
    assert token.expires_in == 3600


async def test_exchange_code_error_maps_oauth_body() -> None:
    """An invalid_grant answer raises with the OAuth code and description."""
    body = {"error": "invalid_grant", "error_description": "Code expired"}
    transport = RecordingTransport(response(400, body))
    with pytest.raises(BadRequestError) as info:
        await make_client(transport).oauth.exchange_code(
            "c", client_id="cid", client_secret="s", redirect_uri=REDIRECT
        )
    assert info.value.code == "invalid_grant"
    assert "Code expired" in str(info.value)
    assert "code_verifier" not in transport.last.json()


async def test_userinfo_uses_the_access_token() -> None:
    """userinfo sends the user's token as Bearer, never the API key."""
    transport = RecordingTransport(response(200, sample("oauth_userinfo")))
    info = await make_client(transport).oauth.userinfo("at-123")
    assert (transport.last.method, transport.last.url) == ("GET", f"{SANDBOX_ROOT}/oauth/userinfo")
    assert transport.last.headers["Authorization"] == "Bearer at-123"
    assert info.kyc_verified is True
    assert info.sub == "507f1f77bcf86cd799439011"
