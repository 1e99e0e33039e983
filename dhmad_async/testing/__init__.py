"""Test helpers: the DHMAD emulator (an aiohttp.web server on loopback) and ``FakeClock``.

Importing this package does no I/O; starting an ``Emulator`` binds a local port.
"""

from __future__ import annotations

from typing import Any

from dhmad_async.testing._common import ApiError
from dhmad_async.testing._emulator import Emulator
from dhmad_async.testing._escrows import EscrowRules
from dhmad_async.testing._faults import FaultRule
from dhmad_async.testing._fidelity import FIDELITY_PROFILES, Fidelity
from dhmad_async.testing._pages import PageOptions
from dhmad_async.testing._ratelimit import ServerRateLimitOptions
from dhmad_async.testing._routes_v1 import ApiOptions
from dhmad_async.testing._state import ApiKeyInfo
from dhmad_async.testing._webhooks import DeliveryRecord, WebhookOptions

__all__ = [
    "FIDELITY_PROFILES",
    "ApiError",
    "ApiKeyInfo",
    "ApiOptions",
    "DeliveryRecord",
    "Emulator",
    "EscrowRules",
    "FakeClock",
    "FaultRule",
    "Fidelity",
    "PageOptions",
    "ServerRateLimitOptions",
    "WebhookOptions",
]


def __getattr__(name: str) -> Any:
    # FakeClock lives in _fake_clock.py (owned by the limiter work); import it lazily so
    # this package works before that module exists.
    if name == "FakeClock":
        from dhmad_async.testing._fake_clock import FakeClock

        return FakeClock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
