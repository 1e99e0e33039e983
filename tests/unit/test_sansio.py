"""The pure wire layer: request building, exact JSON, and every REFERENCE §1.7 error body."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from dhmad_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
)
from dhmad_async._redact import redact_data
from dhmad_async._sansio import (
    NOT_JSON,
    auth_headers,
    build_request,
    decipher_response,
    decode_json,
    encode_json,
    parse_body,
    redact,
    root_url,
)

KEY = "sk_sandbox_" + "a" * 64


def _raise(status: int, body: bytes, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    hdrs = headers or {"content-type": "application/json"}
    with pytest.raises(APIStatusError) as info:
        decipher_response(status, hdrs, body, parse_body(hdrs, body), method="GET", url="/x", **kw)
    return info.value


def test_encode_json_writes_decimals_verbatim() -> None:
    """Decimals are written with their exact digits, never through float."""
    body = encode_json({"amount": Decimal("1500.505"), "fee": Decimal("0.10"), "n": 3})
    assert body == b'{"amount":1500.505,"fee":0.10,"n":3}'
    assert decode_json(body)["amount"] == Decimal("1500.505")


def test_encode_json_expands_exponents_and_rejects_nan() -> None:
    """An exponent Decimal is written in plain notation; NaN cannot be sent."""
    assert encode_json({"a": Decimal("1E+3")}) == b'{"a":1000}'
    with pytest.raises(ValueError, match="non-finite"):
        encode_json({"a": Decimal("NaN")})


def test_encode_json_keeps_unicode_and_rejects_unknown_types() -> None:
    """Non-ASCII text stays as UTF-8; unserialisable objects raise TypeError."""
    assert encode_json({"t": "تونس"}) == '{"t":"تونس"}'.encode()
    with pytest.raises(TypeError):
        encode_json({"a": object()})


def test_decode_json_parses_floats_as_decimal() -> None:
    """Money in responses is parsed as Decimal."""
    assert decode_json(b'{"a":1500.50}') == {"a": Decimal("1500.50")}


def test_root_url_strips_the_version() -> None:
    """OAuth and developer endpoints live under /api, not /api/v1 (§1.1)."""
    assert root_url("https://dhmad.tn/api/v1/") == "https://dhmad.tn/api"
    assert root_url("http://127.0.0.1:8080/api") == "http://127.0.0.1:8080/api"


def test_auth_headers_both_styles() -> None:
    """Bearer and X-API-Key are the two documented header forms (§1.2)."""
    assert auth_headers(KEY, "bearer") == {"Authorization": f"Bearer {KEY}"}
    assert auth_headers(KEY, "x-api-key") == {"X-API-Key": KEY}


def test_build_request_query_json_and_idempotency() -> None:
    """None params are dropped, booleans lowercased, JSON gets a content type."""
    req = build_request(
        "post",
        "https://x/api/v1/",
        "/escrows",
        headers={"Authorization": "Bearer k"},
        params={"a": None, "b": True, "c": 2},
        json_body={"x": 1},
    )
    assert req.method == "POST"
    assert req.url == "https://x/api/v1/escrows?b=true&c=2"
    assert req.body == b'{"x":1}'
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Accept"] == "application/json"
    assert req.idempotent is False
    assert req.log_path == "/escrows"
    assert build_request("PUT", "https://x", "/e", headers={}).idempotent is True
    assert build_request("POST", "https://x", "/e", headers={}, idempotent=True).idempotent


def test_prepared_request_repr_hides_credentials() -> None:
    """The request repr never shows headers (they carry the key)."""
    req = build_request("GET", "https://x", "/me", headers=auth_headers(KEY, "bearer"))
    assert KEY not in repr(req)


def test_parse_body_variants() -> None:
    """Empty bodies are None, HTML and broken JSON are NOT_JSON."""
    assert parse_body({}, b"  ") is None
    assert parse_body({}, b"<html>") is NOT_JSON
    assert parse_body({}, b"{broken") is NOT_JSON
    assert parse_body({"content-type": "text/plain"}, b'{"a":1}') == {"a": 1}


def test_success_returns_data_and_rejects_non_json() -> None:
    """Any 2xx returns the JSON; a 2xx that is not JSON is a ResponseValidationError."""
    assert decipher_response(201, {}, b'{"a":1}', {"a": 1}) == {"a": 1}
    with pytest.raises(ResponseValidationError):
        decipher_response(200, {}, b"<html>", NOT_JSON, method="GET", url="/me")


def test_error_plain_string() -> None:
    """``{"error":"Unauthorized"}`` is a 401 with code and message from the one string."""
    body = b'{"error":"Unauthorized"}'
    err = _raise(401, body, {"content-type": "application/json", "x-request-id": "r1"})
    assert isinstance(err, AuthenticationError)
    assert (err.status, err.code, err.message) == (401, "Unauthorized", "Unauthorized")
    assert err.body == body
    assert err.headers["x-request-id"] == "r1"
    assert err.json_body == {"error": "Unauthorized"}


def test_error_human_message_only() -> None:
    """``{"error":"Escrow not found"}`` keeps the text as the message."""
    err = _raise(404, b'{"error":"Escrow not found"}')
    assert isinstance(err, NotFoundError)
    assert err.message == "Escrow not found"


def test_error_with_message_and_details() -> None:
    """The documented ``error``+``message``+``details`` shape fills every field."""
    body = json.dumps(
        {
            "error": "Bad Request",
            "message": "Invalid request parameters",
            "details": {"amount": "Amount must be a positive number"},
        }
    ).encode()
    err = _raise(400, body)
    assert isinstance(err, BadRequestError)
    assert err.code == "Bad Request"
    assert err.message == "Invalid request parameters"
    assert err.details == {"amount": "Amount must be a positive number"}
    assert "amount: Amount must be a positive number" in str(err)


def test_error_object_business_rule() -> None:
    """An ``error`` object gives code, type, message and user_message."""
    body = json.dumps(
        {
            "error": {
                "type": "business_rule_violation",
                "code": "QUICK_ESCROW_NO_CONTRACT",
                "message": "Quick escrows have no contract",
                "user_message": "This escrow has no contract to sign.",
            }
        }
    ).encode()
    err = _raise(400, body)
    assert err.code == "QUICK_ESCROW_NO_CONTRACT"
    assert err.error_type == "business_rule_violation"
    assert err.message == "Quick escrows have no contract"
    assert err.user_message == "This escrow has no contract to sign."


def test_error_oauth_description() -> None:
    """OAuth ``error_description`` becomes the message, ``error`` the code."""
    err = _raise(400, b'{"error":"invalid_grant","error_description":"Code expired"}')
    assert (err.code, err.message) == ("invalid_grant", "Code expired")


def test_error_top_level_code_and_403_409() -> None:
    """A top-level ``code`` (PROOF_NOT_ACCEPTED) wins; 403 and 409 map to their classes."""
    err = _raise(409, b'{"error":"Conflict","code":"PROOF_NOT_ACCEPTED"}')
    assert isinstance(err, ConflictError)
    assert err.code == "PROOF_NOT_ACCEPTED"
    assert isinstance(_raise(403, b'{"error":"Forbidden"}'), PermissionDeniedError)


def test_error_non_json_bodies() -> None:
    """A text body becomes the message; an HTML page falls back to the status phrase."""
    err = _raise(502, b"upstream  connect\nerror", {"content-type": "text/plain"})
    assert isinstance(err, InternalServerError)
    assert err.message == "upstream connect error"
    assert err.json_body is None
    assert err.body == b"upstream  connect\nerror"
    html = _raise(503, b"<html><body>down</body></html>", {"content-type": "text/html"})
    assert html.message == "Service Unavailable"


def test_error_429_carries_retry_after() -> None:
    """A 429 becomes RateLimitError with the retry_after the caller passed."""
    body = (
        b'{"error":"Too Many Requests","message":"Rate limit exceeded. '
        b'Please try again later.","retryAfter":3600}'
    )
    err = _raise(429, body, retry_after=3600.0)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 3600.0
    assert err.message.startswith("Rate limit exceeded")


def test_unknown_status_falls_back() -> None:
    """An unlisted 4xx is a plain APIStatusError."""
    err = _raise(418, b"")
    assert type(err) is APIStatusError
    assert err.message == "I'm a Teapot"


def test_encode_json_leaves_marker_like_strings_alone() -> None:
    """A user string that looks like the internal Decimal marker stays a string."""
    body = encode_json({"title": "\x00dec:1", "amount": Decimal("2.50")})
    assert json.loads(body) == {"title": "\x00dec:1", "amount": 2.5}
    assert b'"amount":2.50' in body


def test_error_messages_redact_echoed_credentials() -> None:
    """A proxy page echoing the Authorization header does not put the key in the message."""
    body = f"Bad request. Authorization: Bearer {KEY} X-API-Key: {KEY}".encode()
    err = _raise(400, body, {"content-type": "text/plain"})
    assert KEY not in str(err)
    assert "[REDACTED]" in err.message
    assert err.body == body  # the raw body is kept exactly as received
    json_err = _raise(401, json.dumps({"error": "Unauthorized", "message": f"bad {KEY}"}).encode())
    assert KEY not in str(json_err)


def test_redaction_keeps_prefix_hints() -> None:
    """A hint naming the other key prefix is not mistaken for a key."""
    err = _raise(401, b'{"error":"Unauthorized","message":"use an sk_sandbox_... key"}')
    assert err.message == "use an sk_sandbox_... key"


def test_encode_json_refuses_numbers_it_would_write_as_megabytes() -> None:
    """``Decimal("1e9999999")`` is refused at once instead of becoming a 10 MB body."""
    assert encode_json({"n": Decimal("1e99")}) == b'{"n":1' + b"0" * 99 + b"}"
    assert encode_json({"n": Decimal("1e-99")}).startswith(b'{"n":0.000')
    for huge in ("1e100", "1e9999999", "1e-100", "-1e-99999999"):
        with pytest.raises(ValueError, match="more than 100 digits"):
            encode_json({"n": Decimal(huge)})


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("sk_live_x1 leaked", "sk_live_x1"),  # API keys of any length
        (f"key={KEY[:20]}", KEY[:20]),
        ("token at_5f3c9a5f3c9a5f3c9a5f3c9a", "at_5f3c9a5f3c9a5f3c9a5f3c9a"),
        ("id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature", "eyJzdWIiOiIxIn0"),
        ("truncated eyJhbGciOiJIUzI1NiIs...", "eyJhbGciOiJIUzI1NiIs"),
        ("Bearer abc123", "abc123"),  # bare Bearer token, short
        ("bearer ZXhhbXBsZQ==", "ZXhhbXBsZQ=="),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("proxy-authorization=Digest xyz987", "xyz987"),
        ('{"X-API-Key":"devkey-77"}', "devkey-77"),
        ("{'authorization': 'tok-55'}", "tok-55"),  # a Python dict's repr
        ('{"secret":"9d8e7f6a9d8e7f6a"}', "9d8e7f6a9d8e7f6a"),  # an echoed webhook body
        ('\\"clientSecret\\":\\"cs-1\\"', "cs-1"),  # JSON inside a JSON string
        ("client_secret=cs-2&code=abc", "cs-2"),
        ("access_token=tok-3", "tok-3"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("via https://user:hunter2@proxy:3128/", "hunter2"),
        ("Cookie: sid=s3ss10n", "s3ss10n"),
    ],
)
def test_redact_removes_every_credential_shape(text: str, secret: str) -> None:
    """Bare tokens, header and JSON echoes, URL passwords: none survive redaction."""
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned
    assert redact(cleaned) == cleaned  # stable: redacting twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "use an sk_sandbox_... key",
        "A Bearer token is required",
        "Authorization header missing",
        "Escrow not found",
        "amount: Amount must be a positive number",
        "buyer@example.com paid 1500.50 TND for 507f1f77bcf86cd799439011",
        "PROOF_NOT_ACCEPTED",
        "created_at_utc is invalid",
        "https://dhmad.tn/api/v1/escrows?page=2",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    """Hints, field messages, ids, e-mails and URLs without passwords stay readable."""
    assert redact(text) == text


def test_redact_data_redacts_by_key_and_by_shape() -> None:
    """Structured details lose credential values by key, at any depth, and keep the rest."""
    data = {
        "headers": {"Authorization": "x", "Set-Cookie": "y", "Content-Type": "application/json"},
        "items": [{"client_secret": "z"}, "Bearer abcdefgh"],
        "apiKey": 123,
        "amount": "must be positive",
    }
    assert redact_data(data) == {
        "headers": {
            "Authorization": "[REDACTED]",
            "Set-Cookie": "[REDACTED]",
            "Content-Type": "application/json",
        },
        "items": [{"client_secret": "[REDACTED]"}, "Bearer [REDACTED]"],
        "apiKey": "[REDACTED]",
        "amount": "must be positive",
    }


def test_error_details_and_code_are_redacted_but_body_is_raw() -> None:
    """``details`` and ``code`` of an error are redacted; ``body`` and ``json_body`` are not."""
    body = json.dumps(
        {"error": f"Bearer {KEY}", "details": {"headers": {"authorization": f"Bearer {KEY}"}}}
    ).encode()
    err = _raise(400, body)
    assert KEY not in str(err) and KEY not in repr(err)
    assert KEY not in repr(err.details) and KEY not in str(err.code)
    assert err.body == body
    assert err.json_body["details"]["headers"]["authorization"] == f"Bearer {KEY}"


def test_exact_request_credential_is_redacted_whatever_its_shape() -> None:
    """The credential the request was sent with is removed even without a known shape."""
    token = "opaque-developer-token-42"
    body = json.dumps({"error": "Bad Request", "details": {"echo": f"got {token}"}}).encode()
    with pytest.raises(APIStatusError) as info:
        decipher_response(
            400,
            {},
            body,
            parse_body({}, body),
            request_headers={"Authorization": f"Bearer {token}"},
        )
    assert token not in str(info.value)
    assert info.value.details == {"echo": "got [REDACTED]"}
