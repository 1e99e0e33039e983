"""Tests for the aiohttp receiver over real loopback and the ASGI app via a fake ASGI driver."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from webhook_support import SECRET, FakeClock, delivery

from dhmad_async.webhooks import (
    MemoryDedupStore,
    WebhookEndpoint,
    WebhookEvent,
    WebhookVerifier,
    aiohttp_webhook_handler,
)


class Recorder:
    """A user handler that records events and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[WebhookEvent] = []
        self.fail = fail

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        if self.fail:
            raise RuntimeError("handler exploded")


def _verifier() -> WebhookVerifier:
    return WebhookVerifier([SECRET], clock=FakeClock())


async def test_aiohttp_receiver_over_loopback() -> None:
    """Valid → 200 and handled once; duplicate → 200 not re-run; bad signature → 401 w/o details."""
    recorder = Recorder()
    handler = aiohttp_webhook_handler(_verifier(), recorder, dedup=MemoryDedupStore())
    app = web.Application()
    app.router.add_post("/hooks", handler)
    body, headers = delivery()
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        async with aiohttp.ClientSession() as session:
            url = server.make_url("/hooks")
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["duplicate"] is True
            bad = dict(headers, **{"X-Webhook-Signature": "ab" * 32})
            async with session.post(url, data=body, headers=bad) as resp:
                assert resp.status == 401
                text = await resp.text()
                assert "no_matching" not in text and SECRET not in text
        await handler.endpoint.aclose()  # type: ignore[attr-defined]
    assert [event.id for event in recorder.events] == ["evt_1"]


class FakeASGIDriver:
    """Drives an ASGI app with one request, collecting what it sends."""

    def __init__(self, body: bytes, headers: Mapping[str, str], *, method: str = "POST") -> None:
        # Split the body to exercise more_body handling.
        half = len(body) // 2
        self.incoming: list[dict[str, Any]] = [
            {"type": "http.request", "body": body[:half], "more_body": True},
            {"type": "http.request", "body": body[half:], "more_body": False},
        ]
        self.scope = {
            "type": "http",
            "method": method,
            "path": "/hooks",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        self.sent: list[Mapping[str, Any]] = []

    async def receive(self) -> Mapping[str, Any]:
        return self.incoming.pop(0) if self.incoming else {"type": "http.disconnect"}

    async def send(self, message: Mapping[str, Any]) -> None:
        self.sent.append(message)

    async def run(self, app: WebhookEndpoint) -> tuple[int, bytes]:
        await app(self.scope, self.receive, self.send)
        return self.sent[0]["status"], self.sent[1]["body"]


async def test_asgi_app_valid_duplicate_and_invalid() -> None:
    """The ASGI app answers 200, 200 (duplicate, not re-run), 401 and 405 as it should."""
    recorder = Recorder()
    endpoint = WebhookEndpoint(_verifier(), recorder, dedup=MemoryDedupStore())
    body, headers = delivery()
    assert (await FakeASGIDriver(body, headers).run(endpoint))[0] == 200
    status, answer = await FakeASGIDriver(body, headers).run(endpoint)
    assert status == 200 and b"duplicate" in answer
    tampered = body.replace(b"paid", b"gone")
    assert (await FakeASGIDriver(tampered, headers).run(endpoint))[0] == 401
    assert (await FakeASGIDriver(body, headers, method="GET").run(endpoint))[0] == 405
    await endpoint.aclose()
    assert len(recorder.events) == 1


async def test_asgi_lifespan_waits_for_handlers() -> None:
    """lifespan.shutdown completes only after running handlers finish."""
    release = asyncio.Event()
    done: list[str] = []

    async def slow(event: WebhookEvent) -> None:
        await release.wait()
        done.append(event.dedup_key)

    endpoint = WebhookEndpoint(_verifier(), slow)
    body, headers = delivery()
    assert (await endpoint.process(body, headers))[0] == 200
    assert endpoint.pending == 1
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Mapping[str, Any]] = []

    async def receive() -> Mapping[str, Any]:
        return messages.pop(0)

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            release.set()

    await endpoint({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert done == ["evt_1"]


async def test_handler_failure_is_logged_with_id_not_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing handler still got a 200; the log names the event id and not the body."""
    endpoint = WebhookEndpoint(_verifier(), Recorder(fail=True))
    body, headers = delivery()
    with caplog.at_level(logging.ERROR, logger="dhmad_async.webhooks"):
        assert (await endpoint.process(body, headers))[0] == 200
        await endpoint.aclose()
    assert "evt_1" in caplog.text
    assert "esc_1" not in caplog.text  # body content never logged


async def test_malformed_body_and_no_secret_statuses() -> None:
    """A signed non-object body gets 400; a receiver without secret gets 500."""
    from dhmad_async.webhooks import sign

    endpoint = WebhookEndpoint(_verifier(), Recorder())
    _, headers = delivery()
    headers["X-Webhook-Signature"] = sign(b"[]", SECRET)
    assert (await endpoint.process(b"[]", headers))[0] == 400
    unconfigured = WebhookEndpoint(WebhookVerifier([]), Recorder())
    assert (await unconfigured.process(b"{}", headers))[0] == 500


def test_dedup_ttl_shorter_than_window_is_refused() -> None:
    """A dedup ttl below the tolerance window is a configuration error."""
    with pytest.raises(ValueError):
        WebhookEndpoint(_verifier(), Recorder(), dedup=MemoryDedupStore(ttl=10))
