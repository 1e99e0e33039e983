"""
The examples under examples/ run as shipped (``make typecheck`` also holds them to mypy --strict).

The FastAPI receiver runs under a real uvicorn with the ASGI lifespan protocol on:
its ``lifespan`` context (not the deprecated ``on_event``) closes the receiver
when the server stops.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import time
import warnings
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from dhmad_async.webhooks import format_timestamp, signed_headers

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET = "whsec_example_secret"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_fastapi_example_closes_its_receiver_through_lifespan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Served by uvicorn: a signed delivery is accepted, and shutdown runs aclose() once."""
    import uvicorn

    monkeypatch.setenv("DHMAD_WEBHOOK_SECRET", SECRET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        example = _load("webhook_receiver_fastapi")
    assert example.app.router.on_startup == [] and example.app.router.on_shutdown == []
    closed: list[float] = []
    original = example.endpoint.aclose

    async def recording_aclose() -> None:
        closed.append(time.monotonic())
        await original()

    monkeypatch.setattr(example.endpoint, "aclose", recording_aclose)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(example.app, lifespan="on", log_level="warning", access_log=False)
    )
    with warnings.catch_warnings(record=True) as served:
        warnings.simplefilter("always")
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(30):
                while not server.started:
                    assert not task.done(), "uvicorn failed to start the example"
                    await asyncio.sleep(0.01)
            body = json.dumps(
                {
                    "id": "evt_1",
                    "type": "escrow.status.updated",
                    "createdAt": format_timestamp(time.time()),
                    "data": {"escrow": {"id": "esc_1", "status": "paid"}},
                },
                separators=(",", ":"),
            ).encode()
            headers = signed_headers(
                body,
                SECRET,
                event_type="escrow.status.updated",
                event_id="evt_1",
                timestamp=format_timestamp(time.time()),
            )
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{port}/webhooks/dhmad"
                async with http.post(url, data=body, headers=headers) as answer:
                    assert answer.status == 200, await answer.text()
            assert closed == []  # still serving
        finally:
            server.should_exit = True
            await task
            sock.close()
    assert len(closed) == 1  # the lifespan's shutdown half ran
    deprecations = [
        str(w.message) for w in [*caught, *served] if issubclass(w.category, DeprecationWarning)
    ]
    assert not [m for m in deprecations if "on_event" in m], deprecations
