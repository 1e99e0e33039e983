"""
Never an unflagged committed POST: whatever fails after a POST was sent is flagged.

End-to-end cases host the real emulator behind a test middleware (so the
escrow really exists when the client says it may); the rest use the
recording transport for failures no server can produce (a bug, a transport
exception nobody mapped).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from client_fakes import RecordingTransport, make_client, response
from emulator_host import Handler, hosted

from dhmad_async import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    DhmadClient,
    DhmadError,
    RateLimitError,
    RateLimiterUnavailableError,
    ResponseValidationError,
    RetryPolicy,
)
from dhmad_async.ratelimit import ServerRateLimit
from dhmad_async.testing import Emulator

ESCROWS = "/api/v1/escrows"
BUYER = "buyer@example.com"


async def create(client: DhmadClient, title: str = "Kilim") -> Any:
    """A valid standard create."""
    return await client.escrows.create(
        title=title,
        amount=Decimal("100"),
        buyer_email=BUYER,
        contract_terms="Ship in 5 days.",
        estimated_delivery_days=5,
    )


def spoil_created_escrows(body: Any, content_type: str = "application/json") -> Any:
    """A middleware that lets the create happen, then answers ``body`` instead of the escrow."""

    async def spoil(request: web.Request, handler: Handler) -> web.StreamResponse:
        answer = await handler(request)
        if request.path == ESCROWS and answer.status < 300:
            return web.Response(
                status=201,
                body=body if isinstance(body, bytes) else None,
                text=None if isinstance(body, bytes) else body,
                content_type=content_type,
            )
        return answer

    return spoil


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator (hosted by each test)."""
    yield Emulator()


def client_for(emu: Emulator, base_url: str, **options: Any) -> DhmadClient:
    """A client of ``emu`` at ``base_url``."""
    options.setdefault("retry", RetryPolicy(wait_jitter=0.0))
    return DhmadClient(emu.api_key, base_url=base_url, **options)


# -- a 2xx whose body does not fit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            '{"message":"Escrow created successfully","escrow":{"title":"Kilim"}}',
            "application/json",
        ),
        (
            '{"message":"Escrow created successfully","escrow":{"id":"e1","amount":"lots"}}',
            "application/json",
        ),
        ("<html>Created</html>", "text/html"),
    ],
    ids=["no-id", "bad-amount", "not-json"],
)
async def test_a_created_escrow_whose_answer_does_not_parse_is_flagged(
    emu: Emulator, body: str, content_type: str
) -> None:
    """
    The escrow exists, so the parse error says it may have succeeded.

    Before, ``ResponseValidationError`` had ``may_have_succeeded=False``: a
    caller following the documented rule ("not flagged: safe to resend")
    created the escrow a second time.
    """
    async with (
        hosted(emu, spoil_created_escrows(body, content_type)) as base_url,
        client_for(emu, base_url) as client,
    ):
        with pytest.raises(ResponseValidationError) as caught:
            await create(client)
    assert caught.value.may_have_succeeded is True
    assert "may have been processed" in str(caught.value)
    assert len(emu.escrows()) == 1
    assert emu.request_count("POST", ESCROWS) == 1  # and it was not resent


async def test_a_get_whose_answer_does_not_parse_is_not_flagged(emu: Emulator) -> None:
    """A GET changes nothing, so its parse error is not 'may have succeeded'."""

    async def spoil_me(request: web.Request, handler: Handler) -> web.StreamResponse:
        await handler(request)
        return web.json_response({"apiKey": {"rateLimit": "many"}})

    async with hosted(emu, spoil_me) as base_url, client_for(emu, base_url) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await client.account.me()
    assert caught.value.may_have_succeeded is False


async def test_a_create_retried_after_a_429_is_flagged_when_its_answer_does_not_parse(
    emu: Emulator,
) -> None:
    """Exposure counts every attempt: the 429 changed nothing, the second attempt did."""
    sent = 0

    async def first_429(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal sent
        sent += 1
        if sent == 1:
            return web.json_response({"error": "Too Many Requests", "retryAfter": 0}, status=429)
        await handler(request)
        return web.json_response({"escrow": {}}, status=201)

    async with hosted(emu, first_429) as base_url, client_for(emu, base_url) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await create(client)
    assert caught.value.may_have_succeeded is True
    assert sent == 2 and len(emu.escrows()) == 1


async def test_a_refused_create_is_not_flagged(emu: Emulator) -> None:
    """A 4xx is a refusal: nothing was created, nothing is flagged."""

    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        return web.json_response({"error": "Bad Request", "message": "No"}, status=400)

    async with hosted(emu, refuse) as base_url, client_for(emu, base_url) as client:
        with pytest.raises(BadRequestError) as caught:
            await create(client)
    assert caught.value.may_have_succeeded is False
    assert emu.escrows() == []


# -- which attempts may have taken effect -----------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "flagged"),
    [
        (APIConnectionError("reset", request_sent=None), True),
        (APITimeoutError("read timeout", request_sent=True), True),
        (response(500, {"error": "Internal Server Error"}), True),
        (response(502, b"<html>Bad Gateway</html>"), True),
        (response(302, b""), True),
        (response(400, {"error": "Bad Request"}), False),
        (response(404, {"error": "Escrow not found"}), False),
        (response(409, {"error": "Conflict", "code": "PROOF_NOT_ACCEPTED"}), False),
        (response(429, {"error": "Too Many Requests"}, headers={"Retry-After": "600"}), False),
    ],
    ids=["unknown", "sent", "500", "502", "302", "400", "404", "409", "429"],
)
async def test_a_post_is_flagged_unless_it_certainly_had_no_effect(
    reply: Any, flagged: bool
) -> None:
    """Refusals (4xx) and certainly-unsent attempts are harmless; every other outcome is not."""
    transport = RecordingTransport().queue(reply)
    client = make_client(transport)
    with pytest.raises(DhmadError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is flagged
    assert len(transport.sent) == 1


async def test_a_post_that_certainly_never_left_is_resent_and_not_flagged() -> None:
    """A connect failure (request_sent=False) is retried; if every try fails, nothing is flagged."""
    transport = RecordingTransport(APIConnectionError("refused", request_sent=False))
    client = make_client(transport)
    with pytest.raises(APIConnectionError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is False
    assert len(transport.sent) == 4  # RetryPolicy(attempts=4)


# -- the limiter after the response -----------------------------------------------------------


class FailingFeedback:
    """A limiter that admits everything and fails whenever it is told an answer."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.observed = 0

    async def acquire(self) -> None:
        return None

    async def observe(self, info: ServerRateLimit) -> None:
        self.observed += 1
        raise self.error

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    "error",
    [RuntimeError("limiter bug"), RateLimiterUnavailableError("Redis is down")],
    ids=["bug", "store-down"],
)
async def test_a_limiter_failing_after_the_answer_never_costs_the_created_escrow(
    emu: Emulator, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """
    The created escrow is returned; the limiter's failure is logged, not raised.

    Before, the limiter's exception escaped unflagged (a raw exception, and
    no ``may_have_succeeded``) although the escrow existed. Raising a flagged
    error would still force a reconciliation for an outcome the client holds.
    """
    limiter = FailingFeedback(error)
    async with (
        emu,
        DhmadClient(emu.api_key, base_url=emu.base_url, rate_limit=limiter) as client,
    ):
        with caplog.at_level(logging.WARNING, logger="dhmad_async"):
            created = await create(client)
    assert limiter.observed == 1
    assert [e["id"] for e in emu.escrows()] == [created.escrow.id]
    assert "rate limiter could not record the answer to POST /escrows" in caplog.text


async def test_a_limiter_that_cannot_admit_sends_nothing_and_flags_nothing() -> None:
    """A limiter failure before sending is safe: not flagged, and no request left."""

    class Down(FailingFeedback):
        async def acquire(self) -> None:
            raise RateLimiterUnavailableError("Redis is down")

    transport = RecordingTransport()
    client = make_client(transport, rate_limit=Down(RuntimeError()))
    with pytest.raises(RateLimiterUnavailableError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is False
    assert transport.sent == []


# -- anything else after sending --------------------------------------------------------------


async def test_a_bug_after_a_post_was_sent_becomes_a_flagged_dhmad_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected exception after sending a POST is a DhmadError that may have succeeded."""

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    # parse_body runs on every answer (the rate-limit parse is skipped without its headers).
    monkeypatch.setattr("dhmad_async._sansio.parse_body", broken)
    transport = RecordingTransport(response(201, {"escrow": {"id": "e1"}}))
    client = make_client(transport)
    with pytest.raises(DhmadError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is True
    assert "POST /escrows failed after the request was sent (KeyError)" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)
    assert len(transport.sent) == 1
    # A GET is not wrapped: nothing can have changed, and the bug stays visible as itself.
    with pytest.raises(KeyError):
        await client.account.me()


async def test_an_unmapped_transport_exception_on_a_post_is_flagged() -> None:
    """A transport that fails with something other than APIConnectionError: unknown, so flagged."""
    transport = RecordingTransport().queue(RuntimeError("half-written socket"))
    client = make_client(transport)
    with pytest.raises(DhmadError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is True
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert len(transport.sent) == 1


async def test_a_429_asking_for_too_long_a_wait_is_not_flagged() -> None:
    """The 429 refused the create; giving up on it (wait too long) is not 'may have succeeded'."""
    transport = RecordingTransport().queue(
        response(429, {"error": "Too Many Requests"}, headers={"Retry-After": "600"})
    )
    client = make_client(transport)
    with pytest.raises(RateLimitError) as caught:
        await create(client)
    assert caught.value.may_have_succeeded is False
    assert len(transport.sent) == 1
