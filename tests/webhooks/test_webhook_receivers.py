"""The receivers over real HTTP: aiohttp.web, and FastAPI/Starlette under uvicorn.

At-least-once by default: the handler runs before the answer; a failure releases the
claim and answers 5xx, so the sender's redelivery runs the handler again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fastapi import FastAPI, Request, Response
from webhook_support import SECRET, FakeClock, Recorder, delivery, serve_asgi

from dhmad_async.webhooks import (
    DedupState,
    MemoryDedupStore,
    WebhookEvent,
    WebhookReceiver,
    WebhookVerifier,
    aiohttp_webhook_handler,
)


def _verifier() -> WebhookVerifier:
    return WebhookVerifier([SECRET], clock=FakeClock())


@asynccontextmanager
async def _aiohttp_receiver(handler: Any, **options: Any) -> AsyncIterator[str]:
    """A real aiohttp.web server on 127.0.0.1 with the SDK's handler at /hooks."""
    route = aiohttp_webhook_handler(_verifier(), handler, **options)
    app = web.Application()
    app.router.add_post("/hooks", route)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield str(server.make_url("/hooks"))
        await route.endpoint.aclose()  # type: ignore[attr-defined]


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, data=body, headers=dict(headers)) as resp:
        return resp.status, json.loads(await resp.read())


async def test_aiohttp_receiver_valid_duplicate_and_forged() -> None:
    """Valid → 200 and handled once; duplicate → 200 not re-run; bad signature → 401 w/o details."""
    recorder = Recorder()
    body, headers = delivery()
    async with (
        _aiohttp_receiver(recorder, dedup=MemoryDedupStore()) as url,
        aiohttp.ClientSession() as session,
    ):
        assert (await _post(session, url, body, headers))[0] == 200
        status, answer = await _post(session, url, body, headers)
        assert status == 200 and answer["duplicate"] is True
        bad = dict(headers, **{"X-Webhook-Signature": "ab" * 32})
        async with session.post(url, data=body, headers=bad) as resp:
            assert resp.status == 401
            text = await resp.text()
            assert "no_matching" not in text and SECRET not in text
    assert [event.id for event in recorder.events] == ["evt_1"]


async def test_aiohttp_handler_that_fails_once_runs_again_on_redelivery() -> None:
    """A failing handler gets 500 and its claim released; the redelivery runs it and gets 200."""
    recorder = Recorder(fail=1)  # e.g. the database was down for the first attempt
    body, headers = delivery()
    async with (
        _aiohttp_receiver(recorder, dedup=MemoryDedupStore()) as url,
        aiohttp.ClientSession() as session,
    ):
        first = await _post(session, url, body, headers)
        second = await _post(session, url, body, headers)  # DHMAD's retry
        third = await _post(session, url, body, headers)  # a later duplicate
    assert first[0] == 500 and "received" not in first[1]
    assert second == (200, {"received": True})
    assert third == (200, {"received": True, "duplicate": True})
    assert [event.id for event in recorder.events] == ["evt_1", "evt_1"]


async def test_handler_timeout_answers_503_and_releases_the_claim() -> None:
    """A handler stuck past handler_timeout is cancelled, answered 503, and runs on redelivery."""
    calls: list[str] = []
    never = asyncio.Event()

    async def stuck_then_fine(event: WebhookEvent) -> None:
        calls.append(event.dedup_key)
        if len(calls) == 1:
            await never.wait()  # only the timeout ends this

    body, headers = delivery()
    async with (
        _aiohttp_receiver(stuck_then_fine, dedup=MemoryDedupStore(), handler_timeout=0.05) as url,
        aiohttp.ClientSession() as session,
    ):
        first = await _post(session, url, body, headers)
        second = await _post(session, url, body, headers)
    assert first[0] == 503 and "timed out" in first[1]["error"]
    assert second == (200, {"received": True})
    assert len(calls) == 2


async def test_redelivery_while_the_handler_runs_is_503_not_duplicate() -> None:
    """A retry that arrives mid-handler must not be acknowledged: that handler may still fail."""
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def slow_then_failing(event: WebhookEvent) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            await release.wait()
            raise RuntimeError("failed after a long time")

    body, headers = delivery()
    async with (
        _aiohttp_receiver(slow_then_failing, dedup=MemoryDedupStore()) as url,
        aiohttp.ClientSession() as session,
    ):
        first = asyncio.create_task(_post(session, url, body, headers))
        await started.wait()
        concurrent = await _post(session, url, body, headers)
        release.set()
        failed = await first
        retried = await _post(session, url, body, headers)
    assert concurrent[0] == 503
    assert failed[0] == 500
    assert retried == (200, {"received": True})
    assert runs == [0, 1]


async def test_fast_ack_answers_before_the_handler_runs() -> None:
    """fast_ack=True: 200 while the handler is still blocked (at-most-once, by choice)."""
    release = asyncio.Event()
    done: list[str] = []

    async def blocked(event: WebhookEvent) -> None:
        await release.wait()
        done.append(event.dedup_key)

    body, headers = delivery()
    store = MemoryDedupStore()
    async with (
        _aiohttp_receiver(blocked, dedup=store, fast_ack=True) as url,
        aiohttp.ClientSession() as session,
    ):
        status, _ = await _post(session, url, body, headers)
        assert status == 200 and done == []  # answered; the handler has not finished
        release.set()
    assert len(done) == 1
    assert await store.peek(done[0]) is DedupState.DONE


async def test_fast_ack_handler_failure_releases_the_claim(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In fast-ack mode a failure cannot reach DHMAD, but a later duplicate copy is handled."""
    recorder = Recorder(fail=1)
    store = MemoryDedupStore()
    endpoint = WebhookReceiver(_verifier(), recorder, dedup=store, fast_ack=True)
    body, headers = delivery()
    with caplog.at_level(logging.ERROR, logger="dhmad_async.webhooks"):
        assert (await endpoint.process(body, headers))[0] == 200
        await endpoint.aclose()
    assert (await endpoint.process(body, headers))[0] == 200
    await endpoint.aclose()
    assert len(recorder.events) == 2
    assert "evt_1" in caplog.text and "esc_1" not in caplog.text  # the body is never logged


class _BrokenStore(MemoryDedupStore):
    async def claim(self, key: str, *, lease: float) -> DedupState:
        raise ConnectionError("redis is down")


async def test_dedup_store_failure_answers_503_without_running_the_handler() -> None:
    """Without a working store the receiver cannot tell a duplicate: it asks for a retry."""
    recorder = Recorder()
    endpoint = WebhookReceiver(_verifier(), recorder, dedup=_BrokenStore())
    body, headers = delivery()
    assert (await endpoint.process(body, headers))[0] == 503
    assert recorder.events == []


async def test_handler_failure_is_logged_with_id_not_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing handler gets a 500 without details; the log names the event id, not the body."""
    endpoint = WebhookReceiver(_verifier(), Recorder(fail=1))
    body, headers = delivery()
    with caplog.at_level(logging.ERROR, logger="dhmad_async.webhooks"):
        status, answer = await endpoint.process(body, headers)
    assert status == 500 and b"exploded" not in answer
    assert "evt_1" in caplog.text
    assert "esc_1" not in caplog.text  # body content never logged


def _fastapi_app(endpoint: WebhookReceiver) -> FastAPI:
    """A FastAPI app using the endpoint both ways: mounted, and from a route."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await endpoint.aclose()

    app = FastAPI(lifespan=lifespan)
    app.mount("/mounted", endpoint)

    @app.post("/route")
    async def route(request: Request) -> Response:
        status, body = await endpoint.process(await request.body(), request.headers)
        return Response(content=body, status_code=status, media_type="application/json")

    return app


@pytest.mark.parametrize("path", ["/mounted/", "/route"])
async def test_fastapi_handler_that_fails_once_runs_again_on_redelivery(path: str) -> None:
    """Under uvicorn, mounted or called from a route: 500, then the retry is handled, then dup."""
    recorder = Recorder(fail=1)
    endpoint = WebhookReceiver(_verifier(), recorder, dedup=MemoryDedupStore())
    body, headers = delivery()
    async with serve_asgi(_fastapi_app(endpoint)) as base, aiohttp.ClientSession() as session:
        url = base + path
        statuses = [(await _post(session, url, body, headers))[0] for _ in range(3)]
        async with session.get(url) as resp:
            wrong_method = resp.status
    assert statuses == [500, 200, 200]
    assert [event.id for event in recorder.events] == ["evt_1", "evt_1"]
    assert wrong_method == 405


async def test_starlette_app_mounts_the_endpoint_with_its_lifespan() -> None:
    """A plain Starlette app serves the endpoint and rejects a tampered body with 401."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    recorder = Recorder()
    endpoint = WebhookReceiver(_verifier(), recorder, dedup=MemoryDedupStore())
    app = Starlette(routes=[Mount("/hooks", app=endpoint)])
    body, headers = delivery()
    async with serve_asgi(app) as base, aiohttp.ClientSession() as session:
        ok = await _post(session, base + "/hooks/", body, headers)
        forged = await _post(session, base + "/hooks/", body.replace(b"paid", b"gone"), headers)
    assert ok == (200, {"received": True}) and forged[0] == 401
    assert len(recorder.events) == 1


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

    async def run(self, app: WebhookReceiver) -> tuple[int, bytes]:
        await app(self.scope, self.receive, self.send)
        return self.sent[0]["status"], self.sent[1]["body"]


async def test_asgi_app_valid_duplicate_and_invalid() -> None:
    """The ASGI app answers 200, 200 (duplicate, not re-run), 401 and 405 as it should."""
    recorder = Recorder()
    endpoint = WebhookReceiver(_verifier(), recorder, dedup=MemoryDedupStore())
    body, headers = delivery()
    assert (await FakeASGIDriver(body, headers).run(endpoint))[0] == 200
    status, answer = await FakeASGIDriver(body, headers).run(endpoint)
    assert status == 200 and b"duplicate" in answer
    tampered = body.replace(b"paid", b"gone")
    assert (await FakeASGIDriver(tampered, headers).run(endpoint))[0] == 401
    assert (await FakeASGIDriver(body, headers, method="GET").run(endpoint))[0] == 405
    assert len(recorder.events) == 1


async def test_asgi_lifespan_waits_for_fast_ack_handlers() -> None:
    """lifespan.shutdown completes only after background (fast-ack) handlers finish."""
    release = asyncio.Event()
    done: list[str] = []

    async def slow(event: WebhookEvent) -> None:
        await release.wait()
        done.append(event.dedup_key)

    endpoint = WebhookReceiver(_verifier(), slow, fast_ack=True)
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
    assert len(done) == 1


async def test_malformed_body_and_no_secret_statuses() -> None:
    """A signed non-object body gets 400; a receiver without secret gets 500."""
    from dhmad_async.webhooks import sign

    endpoint = WebhookReceiver(_verifier(), Recorder())
    _, headers = delivery()
    headers["X-Webhook-Signature"] = sign(b"[]", SECRET)
    assert (await endpoint.process(b"[]", headers))[0] == 400
    unconfigured = WebhookReceiver(WebhookVerifier([]), Recorder())
    assert (await unconfigured.process(b"{}", headers))[0] == 500


def test_dedup_ttls_shorter_than_window_and_bad_timeouts_are_refused() -> None:
    """A dedup ttl (or ambiguous_ttl) below the tolerance window is a configuration error."""
    from dhmad_async.webhooks import DedupPolicy

    with pytest.raises(ValueError, match="ttl"):
        WebhookReceiver(_verifier(), Recorder(), dedup=MemoryDedupStore(ttl=10))
    with pytest.raises(ValueError, match="ambiguous_ttl"):
        WebhookReceiver(
            _verifier(),
            Recorder(),
            dedup=MemoryDedupStore(),
            policy=DedupPolicy(ambiguous_ttl=60),
        )
    with pytest.raises(ValueError, match="handler_timeout"):
        WebhookReceiver(_verifier(), Recorder(), handler_timeout=0)


async def test_fastapi_example_serves_both_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/webhook_receiver_fastapi.py runs under uvicorn and verifies deliveries."""
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("DHMAD_WEBHOOK_SECRET", SECRET)
    path = Path(__file__).parents[2] / "examples" / "webhook_receiver_fastapi.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver_fastapi_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    # The example verifies against the real clock: sign a delivery stamped now.
    import time

    body, headers = delivery(when=time.time())
    async with serve_asgi(example.app) as base, aiohttp.ClientSession() as session:
        mounted = await _post(session, base + "/hooks/", body, headers)
        routed = await _post(session, base + "/webhooks/dhmad", body, headers)
    assert mounted == (200, {"received": True})
    assert routed == (200, {"received": True, "duplicate": True})  # one shared store
