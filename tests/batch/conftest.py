"""Fixtures for batch tests: a fast emulator (time-scaled rate window) and clients bound to it.

``emu`` runs every test that uses it once per fidelity profile (``documented``, then
``generous``). ``pg_dsn`` is a fresh database on the real PostgreSQL server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import yarl
from batch_support import TIME_SCALE, fast_rate_limit, fast_retry

from dhmad_async import DhmadClient
from dhmad_async.testing import FIDELITY_PROFILES, Emulator, Fidelity, ServerRateLimitOptions


@pytest.fixture(params=FIDELITY_PROFILES)
def fidelity(request: pytest.FixtureRequest) -> Fidelity:
    """The emulator profile under test: ``documented`` and ``generous``."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def emu(fidelity: Fidelity) -> AsyncIterator[Emulator]:
    """A started emulator whose rate window is time-scaled, in the profile under test."""
    async with Emulator(
        fidelity=fidelity,
        time_scale=TIME_SCALE,
        rate_limit=ServerRateLimitOptions(limit=100),
    ) as e:
        yield e


@pytest.fixture
async def make_client(emu: Emulator) -> AsyncIterator[Callable[..., DhmadClient]]:
    """Build clients for ``emu``; all are closed after the test."""
    clients: list[DhmadClient] = []

    def build(**options: Any) -> DhmadClient:
        options.setdefault("rate_limit", fast_rate_limit())
        options.setdefault("retry", fast_retry())
        options.setdefault("timeout", 5.0)
        client = DhmadClient(options.pop("api_key", emu.api_key), base_url=emu.base_url, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A fresh, uniquely named PostgreSQL database on the real server; dropped afterwards.

    ``TEST_POSTGRES_DSN`` names the server (``make test`` exports it; the default is
    the machine's PostgreSQL on 127.0.0.1:5432, user postgres, trust auth).
    """
    import asyncpg

    admin = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"dhmad_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = yarl.URL(admin)
    try:
        yield str(url.with_path("/" + name))
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
