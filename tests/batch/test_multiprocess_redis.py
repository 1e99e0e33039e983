"""Four batch processes sharing one Redis budget never exceed the server's limit together."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from dhmad_async.testing import Emulator

pytestmark = pytest.mark.redis

CHILD = str(Path(__file__).with_name("batch_support.py"))
# make test points this at a private server when none answers on 6379.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_four_processes_share_the_budget(emu: Emulator, tmp_path: Path) -> None:
    """Four processes on one Redis budget: every item once, and the budget is shared.

    Invariants only (the machine is shared and loaded): one escrow per item, every item
    created. A few 429s can come from arrival jitter larger than the margin; without a
    shared budget the four processes would send four windows' worth at once and most of
    it would be refused, so 429s beyond a tenth of the admitted requests fail the test.
    """
    key = f"batch-test-{uuid.uuid4().hex}"
    per_process = 75
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            CHILD,
            emu.base_url,
            str(tmp_path / f"j{n}.sqlite"),
            str(n * per_process),
            str((n + 1) * per_process),
            REDIS_URL,
            key,
            env={**os.environ, "DHMAD_API_KEY": emu.api_key},
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(4)
    ]
    outputs = [await child.communicate() for child in children]
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert all(child.returncode == 0 for child in children)
    assert all(r["counts"]["created"] == per_process for r in results)
    stats = emu.stats()
    assert stats["admitted"] >= 4 * per_process
    assert emu.rate_limiter.max_in_any_window() <= 100
    assert stats["rateLimited"] <= stats["admitted"] // 10
    titles = [e["title"] for e in emu.escrows()]
    assert sorted(titles) == sorted(f"Order {n}" for n in range(4 * per_process))
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.delete(*[f"{{{key}}}:{suffix}" for suffix in ("log", "tat", "pause")])
        await client.aclose()
    except ImportError:  # pragma: no cover
        pass
