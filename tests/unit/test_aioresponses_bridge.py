"""The aioresponses bridge in tests/conftest.py keeps working on aiohttp >= 3.14."""

from __future__ import annotations

import aiohttp
from aioresponses import aioresponses


async def test_aioresponses_serves_json_on_current_aiohttp() -> None:
    """A mocked GET returns the payload and headers through a real ClientSession."""
    with aioresponses() as mocked:
        mocked.get("https://dhmad.test/api/v1/me", payload={"ok": True}, headers={"X-A": "1"})
        async with (
            aiohttp.ClientSession() as session,
            session.get("https://dhmad.test/api/v1/me") as response,
        ):
            assert {"ok": True} == await response.json()
            assert "1" == response.headers["X-A"]
