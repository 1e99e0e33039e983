"""The API key never shows in logs, reprs or exception messages over a full request cycle."""

from __future__ import annotations

import logging

import pytest
from aioresponses import aioresponses
from client_fakes import SANDBOX_KEY, SANDBOX_ROOT, SANDBOX_V1, InstantClock, sample_bytes

from dhmad_async import (
    AuthenticationError,
    DhmadClient,
    DhmadError,
    InternalServerError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)

SECRET = "csecret-do-not-log"


def _assert_clean(text: str) -> None:
    assert SANDBOX_KEY not in text
    assert SANDBOX_KEY[len("sk_sandbox_") :] not in text
    assert SECRET not in text


async def test_key_absent_from_debug_logs_errors_and_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cycle of retries, errors and successes at DEBUG leaks no credential anywhere."""
    caplog.set_level(logging.DEBUG)
    errors: list[DhmadError] = []
    client = DhmadClient(
        SANDBOX_KEY,
        rate_limit=RateLimit.disabled(),
        retry=RetryPolicy(attempts=3, wait_jitter=0),
        clock=InstantClock(),
    )
    async with client:
        with aioresponses() as mock:
            mock.get(f"{SANDBOX_V1}/me", status=503, body=b"busy")
            mock.get(
                f"{SANDBOX_V1}/me",
                body=sample_bytes("me"),
                headers={"X-Request-Id": "r-1", "Set-Cookie": f"k={SANDBOX_KEY}"},
            )
            mock.get(
                f"{SANDBOX_V1}/balance",
                status=401,
                payload={"error": "Unauthorized", "message": "Invalid or expired API key"},
            )
            mock.post(f"{SANDBOX_V1}/escrows/e1/cancel", status=500, body=b"oops")
            mock.get(f"{SANDBOX_V1}/sessions/s1", status=429, payload={"retryAfter": 3600})
            mock.get(f"{SANDBOX_V1}/escrows/e2", exception=ConnectionResetError("reset"))
            mock.get(f"{SANDBOX_V1}/escrows/e2", exception=ConnectionResetError("reset"))
            mock.get(f"{SANDBOX_V1}/escrows/e2", exception=ConnectionResetError("reset"))
            mock.post(
                f"{SANDBOX_ROOT}/oauth/token",
                status=400,
                payload={"error": "invalid_client", "error_description": "bad client"},
            )
            await client.account.me()
            for call, exc_type in (
                (client.account.balance(), AuthenticationError),
                (client.escrows.cancel("e1"), InternalServerError),
                (client.checkout_sessions.get("s1"), RateLimitError),
                (client.escrows.get("e2"), DhmadError),
                (
                    client.oauth.exchange_code(
                        "c", client_id="cid", client_secret=SECRET, redirect_uri="https://x/cb"
                    ),
                    DhmadError,
                ),
            ):
                with pytest.raises(exc_type) as info:
                    await call
                errors.append(info.value)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert len(errors) == 5
    _assert_clean(caplog.text)
    for record in caplog.records:
        _assert_clean(record.getMessage())
        _assert_clean(repr(record.args))
    for error in errors:
        _assert_clean(str(error))
        _assert_clean(repr(error))
        _assert_clean(repr(error.args))
    _assert_clean(repr(client))


async def test_logged_headers_are_an_allow_list(caplog: pytest.LogCaptureFixture) -> None:
    """Only allow-listed response headers are logged, never bodies."""
    caplog.set_level(logging.DEBUG, logger="dhmad_async")
    async with DhmadClient(SANDBOX_KEY, rate_limit=RateLimit.disabled()) as client:
        with aioresponses() as mock:
            mock.get(
                f"{SANDBOX_V1}/me",
                body=sample_bytes("me"),
                headers={"X-Request-Id": "r-9", "X-Secret-Thing": "hidden-value"},
            )
            await client.account.me()
    text = caplog.text
    assert "r-9" in text
    assert "hidden-value" not in text
    assert "Production API Key" not in text  # a value from the response body
