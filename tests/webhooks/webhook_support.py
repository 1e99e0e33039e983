"""Shared helpers for the webhook tests: a fake clock, signed deliveries, a real ASGI server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import strategies as st

from dhmad_async.webhooks import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    SignatureScheme,
    WebhookVerifier,
    format_timestamp,
    signed_headers,
)
from dhmad_async.webhooks import _scheme as scheme_module

SECRET = "a1b2c3d4e5f6a7b8c9d0"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
WHSEC = "whsec_" + base64.b64encode(b"fuzz-key-0123456789abcdef").decode()

# The schemes a delivery may be signed with, each with a secret of its key format:
# the default, Standard Webhooks, and variants that sign the timestamp and id (so
# the header values are part of the MAC).
SIGNING_SCHEMES: list[tuple[SignatureScheme, str]] = [
    (DEFAULT_SCHEME, SECRET),
    (STANDARD_WEBHOOKS_SCHEME, WHSEC),
    (SignatureScheme(name="ts-b64", message="{timestamp}.{body}", encoding="base64"), SECRET),
    (SignatureScheme(name="hex-key", key="hex", message="{id}:{body}"), "00ff" * 8),
]

# Any JSON value (small), and JSON objects: what a delivery's body may hold.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


class FakeClock:
    """A settable epoch clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def general_path_verifier(secrets: list[str], **options: Any) -> WebhookVerifier:
    """A verifier whose keys have no HMAC pads, so every MAC goes through PreparedKey.mac
    (the general path that the inlined fast loop must agree with)."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(scheme_module, "hmac_pads", lambda key, digest: None)
        verifier = WebhookVerifier(secrets, **options)
    assert verifier._fast_keys is None  # the general path, or a comparison proves nothing
    return verifier


def delivery(
    payload: dict[str, Any] | None = None,
    *,
    secret: str = SECRET,
    event_type: str = "escrow.status.updated",
    event_id: str = "evt_1",
    when: float = NOW,
) -> tuple[bytes, dict[str, str]]:
    """Return (body, headers) as the emulator would send them."""
    if payload is None:
        payload = {
            "id": event_id,
            "type": event_type,
            "createdAt": format_timestamp(when),
            "data": {"escrow": {"id": "esc_1", "status": "paid", "amount": 150.5}},
        }
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signed_headers(
        body, secret, event_type=event_type, event_id=event_id, timestamp=format_timestamp(when)
    )
    return body, headers


def reference_key(key_encoding: str, secret: str) -> bytes:
    """HMAC key bytes for a scheme's ``key`` setting, decoded with the standard library alone."""
    if key_encoding == "utf-8":
        return secret.encode("utf-8")
    if key_encoding == "hex":
        return bytes.fromhex(secret)
    if key_encoding == "whsec":
        return base64.b64decode(secret.removeprefix("whsec_"))
    return base64.b64decode(secret)


def reference_mac(
    body: bytes, *, digest: str, template: str, key: bytes, timestamp: str, event_id: str
) -> bytes:
    """The raw MAC of ``template`` filled in, computed with hmac/hashlib only (never sign())."""
    before, after = template.split("{body}")

    def fill(part: str) -> bytes:
        return part.replace("{timestamp}", timestamp).replace("{id}", event_id).encode()

    return hmac.new(key, fill(before) + body + fill(after), getattr(hashlib, digest)).digest()


def reference_signature(
    body: bytes, scheme: Any, secret: str, *, timestamp: str = "", event_id: str = ""
) -> str:
    """The ``X-Webhook-Signature`` value for ``scheme``, computed independently of sign()."""
    mac = reference_mac(
        body,
        digest=scheme.digest,
        template=scheme.message,
        key=reference_key(scheme.key, secret),
        timestamp=timestamp,
        event_id=event_id,
    )
    encoded = mac.hex() if scheme.encoding == "hex" else base64.b64encode(mac).decode("ascii")
    return str(scheme.header_prefix) + encoded


class Recorder:
    """A user handler that records the events it ran for and fails the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.events: list[Any] = []
        self.fail = fail

    async def __call__(self, event: Any) -> None:
        self.events.append(event)
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("handler exploded")


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn server on 127.0.0.1; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise its error
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
