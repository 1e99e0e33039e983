"""Shared helpers for the webhook tests: a fake clock and signed deliveries."""

from __future__ import annotations

import json
from typing import Any

from dhmad_async.webhooks import format_timestamp, signed_headers

SECRET = "a1b2c3d4e5f6a7b8c9d0"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    """A settable epoch clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
