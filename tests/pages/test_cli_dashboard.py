"""The README's flow: `python -m dhmad_async emulator`, then open the dashboard it prints."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp


async def test_the_emulator_command_prints_a_dashboard_that_answers() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a pipe sees it
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "emulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        async with asyncio.timeout(30):
            while "dashboard" not in lines:
                line = (await proc.stdout.readline()).decode()
                assert line, f"the command ended early: {lines}"
                key, _, value = line.partition(":")
                lines[key.strip()] = value.strip()
        url = lines["dashboard"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/__emulator__/")
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200 and "<h1>Dashboard</h1>" in await resp.text()
    finally:
        proc.terminate()
        await proc.wait()
