"""An id given to a resource method stays in its one URL path segment, or nothing is sent."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote

import pytest
from aiohttp import web
from client_fakes import InstantClock, RecordingTransport, make_client, response
from hypothesis import given
from hypothesis import strategies as st

from dhmad_async import DhmadClient, DhmadDeveloperClient, InvalidParamsError, RateLimit
from dhmad_async import resources as resources_pkg
from dhmad_async._transport import wire_url
from dhmad_async.resources._base import Resource, path_id

Call = Callable[[DhmadClient, DhmadDeveloperClient, str], Awaitable[object]]

# Every resource method that puts a caller's id into the path, with valid other arguments.
ID_CALLS: dict[str, Call] = {
    "Escrows.get": lambda c, d, i: c.escrows.get(i),
    "Escrows.update": lambda c, d, i: c.escrows.update(i, title="New"),
    "Escrows.deliver": lambda c, d, i: c.escrows.deliver(i),
    "Escrows.reject_delivery": lambda c, d, i: c.escrows.reject_delivery(i),
    "Escrows.cancel": lambda c, d, i: c.escrows.cancel(i),
    "Escrows.contract": lambda c, d, i: c.escrows.contract(i),
    "Escrows.proof": lambda c, d, i: c.escrows.proof(i),
    "CheckoutSessions.create": lambda c, d, i: c.checkout_sessions.create(
        i,
        action="accept_pay",
        target_user_email="b@example.com",
        redirect_url="https://x.example/r",
    ),
    "CheckoutSessions.get": lambda c, d, i: c.checkout_sessions.get(i),
    "IdentityVerifications.get": lambda c, d, i: c.identity_verifications.get(i),
    "WebhookEndpoints.get": lambda c, d, i: d.webhooks.get(i),
    "WebhookEndpoints.update": lambda c, d, i: d.webhooks.update(i, is_active=False),
    "WebhookEndpoints.regenerate_secret": lambda c, d, i: d.webhooks.regenerate_secret(i),
    "WebhookEndpoints.delete": lambda c, d, i: d.webhooks.delete(i),
}

# Ids that could leave their segment: as sent, after a proxy decodes them once
# or twice, after Unicode compatibility folding, or through Tomcat-style ";".
BAD_IDS = [
    "",
    " ",
    ".",
    "..",
    " .. ",
    "\t.\n",
    "../me",
    "..\\me",
    "a/b",
    "a\\b",
    "/",
    "..;jsessionid=x",
    ".;",
    "%2e%2e",
    "%2E",
    "%252e%252e",
    "a%2fb",
    "a%5Cb",
    "\u2025",  # TWO DOT LEADER: NFKC-folds to ".."
    "\uff0e\uff0e",  # FULLWIDTH FULL STOPs
    "a\uff0fb",  # FULLWIDTH SOLIDUS
    "a\x00b",
    "a\nb",
    "a\rb",
    "a%00b",
    "a%0d%0aHost:x",
    "a\u202eb",  # RIGHT-TO-LEFT OVERRIDE
    "a\u200bb",  # ZERO WIDTH SPACE
    "a\u2028b",  # LINE SEPARATOR
    "\ud800",  # a lone surrogate cannot even be encoded
    "x" * 257,
]


def _clients() -> tuple[DhmadClient, DhmadDeveloperClient, RecordingTransport, RecordingTransport]:
    api = RecordingTransport()
    dev = RecordingTransport()
    client = make_client(api)
    developer = DhmadDeveloperClient(
        "dev-token",
        environment="sandbox",
        transport=dev,
        rate_limit=RateLimit.disabled(),
        clock=InstantClock(),
    )
    return client, developer, api, dev


def test_every_id_taking_method_is_covered() -> None:
    """The table above lists every public resource method taking a positional ``*_id``."""
    found = set()
    for cls in vars(resources_pkg).values():
        if inspect.isclass(cls) and issubclass(cls, Resource) and cls is not Resource:
            for name, method in inspect.getmembers(cls, inspect.isfunction):
                params = inspect.signature(method).parameters.values()
                if not name.startswith("_") and any(
                    p.name.endswith("_id") and p.kind is p.POSITIONAL_OR_KEYWORD for p in params
                ):
                    found.add(f"{cls.__name__}.{name}")
    assert found == set(ID_CALLS)


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("call", list(ID_CALLS), ids=str)
async def test_bad_ids_are_refused_and_nothing_is_sent(call: str, bad: str) -> None:
    """``escrows.deliver("..")`` used to POST /api/v1/deliver; now it raises, naming the field."""
    client, developer, api, dev = _clients()
    with pytest.raises(InvalidParamsError) as info:
        await ID_CALLS[call](client, developer, bad)
    (field,) = info.value.errors
    assert field.endswith("_id")
    assert api.sent == [] and dev.sent == []


@pytest.mark.parametrize("value", [None, 42, b"abc", ["a"]], ids=repr)
def test_non_strings_are_refused(value: object) -> None:
    """An id must be a string."""
    with pytest.raises(InvalidParamsError, match="escrow_id"):
        path_id("escrow_id", value)


# Odd but harmless ids: opaque strings that stay inside their segment.
ODD_IDS = [
    "507f1f77bcf86cd799439011",
    "550e8400-e29b-41d4-a716-446655440000",
    "...",
    ".a",
    "a.",
    "a..b",
    "a b",
    "a;b",
    "x;..",
    "a?b#c",
    "100%",
    "%zz",
    "caf\u00e9",
    "a+b=c&d",
    "~user",
    "x" * 256,
]


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A real aiohttp server on 127.0.0.1 recording each request's raw path."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response(
            {"message": "ok", "escrow": {"id": "x", "status": "delivered"}, "session": {"id": "x"}}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api/v1", seen
    finally:
        await runner.cleanup()


async def test_odd_ids_reach_the_server_in_their_segment(
    echo_server: tuple[str, list[str]],
) -> None:
    """Through real HTTP, each odd id arrives as exactly one segment that decodes back to it."""
    base_url, seen = echo_server
    async with DhmadClient(
        "sk_sandbox_" + "0" * 64, base_url=base_url, rate_limit=RateLimit.disabled()
    ) as client:
        for odd in ODD_IDS:
            await client.escrows.deliver(odd)
    assert len(seen) == len(ODD_IDS)
    for odd, raw in zip(ODD_IDS, seen, strict=True):
        parts = raw.split("?")[0].split("/")
        assert parts[:4] == ["", "api", "v1", "escrows"], raw
        assert parts[5:] == ["deliver"], raw
        assert unquote(parts[4]) == odd


@given(st.text(max_size=40))
def test_any_text_is_refused_or_stays_in_one_segment(text: str) -> None:
    """For any string, path_id refuses it or the URL aiohttp sends keeps it in one segment."""
    try:
        segment = path_id("escrow_id", text)
    except InvalidParamsError:
        return
    url = wire_url(f"https://sandbox.dhmad.tn/api/v1/escrows/{segment}/deliver")
    assert url.raw_path == f"/api/v1/escrows/{segment}/deliver"
    assert url.raw_parts[4] == segment
    assert url.parts[4] not in (".", "..", "")
    assert url.path.count("/") == 5


async def test_sent_url_is_the_built_url() -> None:
    """The transport sends the quoted id byte for byte (aiohttp would decode ``%3B`` to ``;``)."""
    client, _, api, _ = _clients()
    api.default = response(200, {"escrow": {"id": "x", "status": "paid"}})
    await client.escrows.get("a;b")
    assert api.last.url.endswith("/escrows/a%3Bb")
    assert str(wire_url(api.last.url)).endswith("/escrows/a%3Bb")


def test_wire_url_falls_back_to_quoting_for_unencoded_urls() -> None:
    """A base URL written by hand with a space is still quoted, as before."""
    assert wire_url("http://127.0.0.1:1/my api/v1/me").raw_path == "/my%20api/v1/me"
