"""
``with_raw_response`` on every resource, and the request id kept on models.

Before this a caller could not see the status, the headers, the request id,
the retries taken or the exact bytes of an answer (openai's
``with_raw_response``, stripe's ``last_response``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from client_fakes import RecordingTransport, make_client, response, sample_bytes
from emulator_host import Handler, hosted

from dhmad_async import (
    APIResponse,
    DhmadClient,
    DhmadDeveloperClient,
    NotFoundError,
    RateLimit,
    ResponseValidationError,
)
from dhmad_async import resources as resources_pkg
from dhmad_async.models import Escrow, EscrowPage
from dhmad_async.resources._base import Resource
from dhmad_async.testing import Emulator

ESCROW_ID = "507f1f77bcf86cd799439011"
# Methods that send nothing (they build or read URLs), or many requests.
NOT_ONE_REQUEST = {"authorization_url", "parse_callback", "create_many"}


def _raw(status: int, name: str, headers: dict[str, str] | None = None) -> RecordingTransport:
    return RecordingTransport(response(status, sample_bytes(name), headers))


async def test_raw_get_exposes_status_headers_bytes_and_parse() -> None:
    """Status, headers, request id, retries, elapsed and the bytes; parse() is get()'s value."""
    body = sample_bytes("escrow_get")
    transport = RecordingTransport().queue(
        response(503, {"error": "Service Unavailable"}),
        response(200, body, {"X-Request-Id": "req_123", "X-Custom": "yes"}),
    )
    client = make_client(transport)
    raw = await client.escrows.with_raw_response.get(ESCROW_ID)
    assert isinstance(raw, APIResponse)
    assert raw.status == 200
    assert raw.headers["x-custom"] == "yes"
    assert raw.request_id == "req_123"
    assert raw.retries_taken == 1
    assert raw.elapsed >= 0.0
    assert raw.content == body and raw.json()["escrow"]["id"] == ESCROW_ID
    escrow = raw.parse()
    assert isinstance(escrow, Escrow) and escrow.id == ESCROW_ID
    assert raw.parse() is escrow  # built once
    assert escrow._request_id == "req_123"
    assert (raw.method, raw.url) == ("GET", f"https://sandbox.dhmad.tn/api/v1/escrows/{ESCROW_ID}")
    assert "?" not in repr(raw) and "[200]" in repr(raw)


async def test_models_keep_the_request_id_without_changing_equality_or_to_dict() -> None:
    """The plain call stores the id on the model; equality and to_dict ignore it."""
    transport = _raw(200, "escrow_get", {"Request-Id": "req_9"})
    client = make_client(transport)
    with_id = await client.escrows.get(ESCROW_ID)
    transport.default = _raw(200, "escrow_get").default
    without_id = await client.escrows.get(ESCROW_ID)
    assert with_id._request_id == "req_9" and without_id._request_id is None
    assert with_id == without_id
    assert with_id.to_dict() == without_id.to_dict()
    assert "req_9" not in repr(with_id) and "req_9" not in with_id.to_json()


async def test_a_body_that_does_not_fit_is_still_readable_raw() -> None:
    """The raw call succeeds; parse() raises one flagged error carrying the bytes."""
    odd = b'{"message": "ok", "escrow": {"title": "no id or status"}}'
    transport = RecordingTransport(response(200, odd))
    client = make_client(transport)
    raw = await client.escrows.with_raw_response.cancel(ESCROW_ID)
    assert raw.content == odd
    with pytest.raises(ResponseValidationError) as info:
        raw.parse()
    error = info.value
    assert error.raw_body == odd
    assert error.may_have_succeeded  # a POST answered 2xx did take effect
    assert sorted(error.errors) == [
        "required field missing @ $.escrow.id",
        "required field missing @ $.escrow.status",
    ]


async def test_the_plain_call_reports_missing_fields_once_with_the_raw_body() -> None:
    """Through the pipeline: one ResponseValidationError, every missing field, the bytes."""
    odd = b'{"escrow": {"title": "t"}}'
    client = make_client(RecordingTransport(response(200, odd)))
    with pytest.raises(ResponseValidationError) as info:
        await client.escrows.get(ESCROW_ID)
    assert len(info.value.errors) == 2 and info.value.raw_body == odd
    assert not info.value.may_have_succeeded  # a GET changes nothing


async def test_error_statuses_still_raise() -> None:
    """A 404 raises NotFoundError (with status, headers and body) rather than answering raw."""
    client = make_client(RecordingTransport(response(404, {"error": "Escrow not found"})))
    with pytest.raises(NotFoundError) as info:
        await client.escrows.with_raw_response.get(ESCROW_ID)
    assert info.value.status == 404


async def test_raw_list_answers_the_first_page_and_delete_answers_none() -> None:
    """list() raw is one page; a call that returns None parses to None."""
    client = make_client(_raw(200, "escrow_list"))
    page = await client.escrows.with_raw_response.list(status="pending", limit=20)
    assert isinstance(page.parse(), EscrowPage) and page.status == 200
    developer = DhmadDeveloperClient(
        "devtok",
        environment="sandbox",
        transport=RecordingTransport(response(200, {"message": "Webhook deleted"})),
        rate_limit=RateLimit.disabled(),
    )
    deleted = await developer.webhooks.with_raw_response.delete("w1")
    assert deleted.parse() is None and deleted.json() == {"message": "Webhook deleted"}
    assert await developer.webhooks.delete("w1") is None


def test_every_resource_has_a_raw_twin_of_each_request_method() -> None:
    """with_raw_response offers every public method that sends one request, and nothing else."""
    client = make_client(RecordingTransport())
    developer = DhmadDeveloperClient("devtok", transport=RecordingTransport())
    # Resource groups are built on first access, so read every public attribute.
    bound = {
        type(r).__name__: r
        for c in (client, developer)
        for name in dir(c)
        if not name.startswith("_") and isinstance(r := getattr(c, name), Resource)
    }
    classes = {
        cls.__name__
        for cls in vars(resources_pkg).values()
        if inspect.isclass(cls) and issubclass(cls, Resource) and cls is not Resource
    }
    assert set(bound) == classes
    for name, resource in bound.items():
        expected = {
            method
            for method, _ in inspect.getmembers(type(resource), inspect.isfunction)
            if not method.startswith("_") and method not in NOT_ONE_REQUEST
        }
        raw_view = resource.with_raw_response  # type: ignore[attr-defined]
        assert set(type(raw_view).__slots__) == expected, name


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as e:
        yield e


async def test_through_real_http_with_a_request_id(emu: Emulator) -> None:
    """Against the emulator (behind a proxy that adds X-Request-Id): raw and plain agree."""

    async def add_request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
        answer = await handler(request)
        answer.headers["X-Request-Id"] = f"req-{request.method}-{request.path}"
        return answer

    async with (
        hosted(emu, add_request_id) as base_url,
        DhmadClient(emu.api_key, base_url=base_url) as client,
    ):
        raw = await client.escrows.with_raw_response.create(
            title="Kilim",
            amount="250",
            buyer_email="buyer@example.com",
            mode="quick",
            seller_email="seller@example.com",
            estimated_delivery_days=3,
        )
        assert raw.status in (200, 201)
        assert raw.request_id == "req-POST-/api/v1/escrows"
        created = raw.parse()
        assert created._request_id == raw.request_id
        fetched = await client.escrows.get(created.escrow.id)
        assert fetched._request_id == f"req-GET-/api/v1/escrows/{created.escrow.id}"
        me = await client.account.with_raw_response.me()
        assert me.parse().api_key.id and me.headers["content-type"].startswith("application/json")
