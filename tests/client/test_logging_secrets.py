"""The API key never shows in logs, reprs or exception messages over a full request cycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses
from client_fakes import (
    SANDBOX_KEY,
    SANDBOX_ROOT,
    SANDBOX_V1,
    InstantClock,
    RecordingTransport,
    make_client,
    response,
    sample_bytes,
)

from dhmad_async import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    DhmadClient,
    DhmadDeveloperClient,
    DhmadError,
    InternalServerError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)
from dhmad_async._transport import RedactedTransportError

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


# --- echoed credentials, bare token shapes and chained transport errors ----------------

ACCESS_TOKEN = "at_" + "5f3c9a" * 8
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NjU1In0.c2lnbmF0dXJlLWJ5dGVz"
WEBHOOK_SECRET = "9d8e7f6a" * 8
SHORT_LIVE_KEY = "sk_live_x1"
DEV_TOKEN = "devtok_" + "a1b2c3d4" * 6  # no known shape: only its exact value is known
BASIC = "dXNlcjpodW50ZXIy"  # user:hunter2
SESSION = "s3ss10n-c00k1e-value"
SECRETS = (
    SANDBOX_KEY,
    SANDBOX_KEY[len("sk_sandbox_") :],
    ACCESS_TOKEN,
    JWT,
    JWT.split(".")[1],
    WEBHOOK_SECRET,
    SHORT_LIVE_KEY,
    DEV_TOKEN,
    BASIC,
    SESSION,
    "hunter2",
)


def _echo_body(credential: str) -> dict[str, object]:
    """What a debugging proxy sends back: the request's headers and body, and bare tokens."""
    return {
        "error": "Bad Request",
        "message": f"Upstream refused Authorization: Bearer {credential}",
        "details": {
            "request": {
                "headers": {
                    "Authorization": f"Bearer {credential}",
                    "X-API-Key": credential,
                    "Proxy-Authorization": f"Basic {BASIC}",
                    "Cookie": f"sid={SESSION}",
                },
                "body": f'{{"secret":"{WEBHOOK_SECRET}","client_secret":"hunter2"}}',
                "url": "https://user:hunter2@proxy.internal:3128/api/v1/me",
            },
            "tokens": [ACCESS_TOKEN, JWT, f"legacy {SHORT_LIVE_KEY}"],
            "seen": f"bare {credential}",
            "amount": "Amount must be a positive number",
        },
    }


def _chain(error: BaseException) -> list[BaseException]:
    """The error and everything reachable through __cause__ and __context__."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    found = []
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        found.append(item)
        todo += [item.__cause__, item.__context__]
    return found


def _texts_of(error: BaseException) -> list[str]:
    """Every text a user, a log handler or an error tracker can get from ``error``."""
    texts = ["".join(traceback.format_exception(error))]
    for item in _chain(error):
        texts += [str(item), repr(item), repr(item.args)]
        if not isinstance(item, APIStatusError):  # body/json_body/headers are raw by design
            texts.append(repr(vars(item)))
        else:
            texts += [repr(item.details), str(item.code), str(item.user_message), item.message]
    return texts


def _assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:300])


async def test_echoed_details_are_redacted_in_errors_and_retry_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy echoing headers in ``details``: str(exc), details and the retry log are clean."""
    caplog.set_level(logging.DEBUG, logger="dhmad_async")
    transport = RecordingTransport().queue(
        response(503, _echo_body(SANDBOX_KEY)), response(400, _echo_body(SANDBOX_KEY))
    )
    client = make_client(transport, retry=RetryPolicy(attempts=2, wait_jitter=0))
    with pytest.raises(BadRequestError) as info:
        await client.account.me()
    error = info.value
    retry_logs = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_logs) == 1 and retry_logs[0].levelno == logging.INFO
    assert "[REDACTED]" in retry_logs[0].getMessage()
    _assert_no_secret(_texts_of(error))
    _assert_no_secret([caplog.text, *(repr(r.args) for r in caplog.records)])
    # What is not a credential stays readable.
    assert error.details["amount"] == "Amount must be a positive number"
    assert "proxy.internal" in str(error)
    assert SANDBOX_KEY.encode() in error.body  # the raw body is kept exactly as received


async def test_a_credential_of_any_shape_is_redacted_by_its_exact_value() -> None:
    """A developer token has no known shape; echoed bare, it is still redacted."""
    transport = RecordingTransport(response(400, _echo_body(DEV_TOKEN)))
    developer = DhmadDeveloperClient(
        DEV_TOKEN, transport=transport, rate_limit=RateLimit.disabled(), clock=InstantClock()
    )
    with pytest.raises(BadRequestError) as info:
        await developer.webhooks.list()
    _assert_no_secret(_texts_of(info.value))
    assert "bare [REDACTED]" in str(info.value)


@pytest.fixture
async def malformed_server() -> AsyncIterator[str]:
    """A real TCP server on 127.0.0.1 that answers every request with a malformed HTTP header."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n{}")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("auth_header", ["bearer", "x-api-key"])
async def test_malformed_response_chain_holds_no_credential(
    malformed_server: str, auth_header: str, caplog: pytest.LogCaptureFixture
) -> None:
    """
    aiohttp's ClientResponseError carries request_info with the Authorization header.

    Through real HTTP, neither the raised error, nor anything in its
    ``__cause__``/``__context__`` chain, nor its traceback, nor the retry log
    shows the key: the aiohttp exception is replaced by a scrubbed stand-in.
    """
    caplog.set_level(logging.DEBUG, logger="dhmad_async")
    async with DhmadClient(
        SANDBOX_KEY,
        base_url=malformed_server,
        auth_header=auth_header,  # type: ignore[arg-type]
        rate_limit=RateLimit.disabled(),
        retry=RetryPolicy(attempts=2, wait_initial=0.01, wait_jitter=0),
    ) as client:
        errors = []
        for call in (client.account.me(), client.escrows.cancel("e1")):
            with pytest.raises(APIConnectionError) as info:
                await call
            errors.append(info.value)
    assert errors[1].may_have_succeeded
    for error in errors:
        _assert_no_secret(_texts_of(error))
        assert "ClientResponseError" in str(error)
        cause = error.__cause__
        assert isinstance(cause, RedactedTransportError)
        assert cause.original_type.endswith("ClientResponseError")
    assert any("retrying GET /me" in r.getMessage() for r in caplog.records)
    _assert_no_secret([caplog.text, *(repr(r.args) for r in caplog.records)])
