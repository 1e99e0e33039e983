"""A client that hangs up mid-request is logged as one DEBUG line, never an ERROR traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator


async def _hang_up_mid_body(emu: Emulator, path: str, content_type: str) -> None:
    """Send headers promising 1000 bytes, send a few, then close the connection."""
    host, port = emu.origin.removeprefix("http://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {emu.api_key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
            "title="
        ).encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)  # let the handler start reading the body
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/escrows", "application/json"),
        ("/api/oauth/token", "application/json"),
        ("/__emulator__/advance", "application/json"),
        # the hosted pages read forms
        ("/api/oauth/authorize", "application/x-www-form-urlencoded"),
        ("/checkout/{session}", "application/x-www-form-urlencoded"),
    ],
)
async def test_client_disconnect_is_one_debug_line(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    content_type: str,
) -> None:
    if "{session}" in path:
        created = await dhmad_client.escrows.create(
            title="Kilim",
            amount="250",
            buyer_email="buyer@example.com",
            mode="quick",
            seller_email="seller@example.com",
            estimated_delivery_days=3,
        )
        session = await dhmad_client.checkout_sessions.create(
            created.escrow.id,
            action="accept_pay",
            target_user_email="buyer@example.com",
            redirect_url="http://127.0.0.1/done",
        )
        path = path.format(session=session.session_id)
    caplog.set_level(logging.DEBUG)
    await _hang_up_mid_body(dhmad_emulator, path, content_type)
    # The server notices the lost connection on its next loop turns; wait for the log line.
    for _ in range(1000):
        if any("disconnected" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    ours = [r for r in caplog.records if r.name == "dhmad_async.testing"]
    assert [(r.levelno, r.getMessage()) for r in ours] == [
        (logging.DEBUG, f"client disconnected during POST {path}")
    ]
