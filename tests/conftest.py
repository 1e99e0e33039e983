"""Suite-wide fixtures: the aioresponses bridge for aiohttp >= 3.14 and environment isolation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import settings

# Hypothesis fails an example that takes longer than 200 ms by default: real time, which
# a loaded machine exceeds. Examples are judged on what they assert, never on speed
# (pytest-timeout still catches a hang).
settings.register_profile("dhmad", deadline=None)
settings.load_profile("dhmad")


class _FinishedUpload:
    """Stands in for the request body writer of a response whose request is already sent."""

    output_size = 0


class _BridgedClientResponse(aiohttp.ClientResponse):
    """
    A ``ClientResponse`` that aioresponses 0.7.9 can build on aiohttp >= 3.14.

    aiohttp 3.14 (a security release) made ``stream_writer`` a required
    keyword-only argument; aioresponses does not pass it (upstream issue #289).
    We never pin aiohttp below 3.14, so we supply a finished-upload writer here.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _FinishedUpload())
        super().__init__(method, url, **kwargs)


@pytest.fixture(autouse=True)
def _bridge_aioresponses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every aioresponses mock build responses through the bridged class."""
    try:
        import aioresponses.core as core
    except ImportError:  # pragma: no cover - aioresponses is a test dependency
        return
    monkeypatch.setattr(core, "ClientResponse", _BridgedClientResponse)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the user's DHMAD_* variables and proxies out of every test."""
    for name in list(os.environ):
        if name.startswith("DHMAD_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    yield
