"""Four batch processes sharing one Redis budget never exceed the server's limit together."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from batch_support import WINDOW

from dhmad_async.testing import Emulator

pytestmark = pytest.mark.redis

CHILD = str(Path(__file__).with_name("batch_support.py"))
# make test points this at a private server when none answers on 6379.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_four_processes_share_the_budget(emu: Emulator, tmp_path: Path) -> None:
    """Four processes on one Redis budget: every item once, and never over the limit.

    Invariants only, none about speed (the machine is shared and loaded): exactly one
    escrow per item; every request went through the shared budget, which never handed
    out more than the limit in any window (Redis ``TIME``, so no clock or scheduling
    delay enters); the server never admitted more than the limit from our IP in any
    window; and every 429, if arrival jitter caused any, was retried to a created
    escrow. How *often* 429s happen is a benchmark figure, not a test.
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
    assert all(child.returncode == 0 for child in children)
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    # Every item created, none failed or left for review: each 429 was recovered.
    for result in results:
        assert result["stopped"] is None
        assert result["counts"]["created"] == per_process
        assert sum(result["counts"].values()) == per_process
    titles = [e["title"] for e in emu.escrows()]
    assert sorted(titles) == sorted(f"Order {n}" for n in range(4 * per_process))
    stats = emu.stats()
    # One admission from the shared budget per request that reached the server.
    granted = sorted(t for r in results for t in r["granted"])
    assert len(granted) == stats["requests"] == stats["admitted"] + stats["rateLimited"]
    # The budget: the (i + limit)-th admission never starts before the i-th left the
    # window. (Redis counts over the window plus the margin, so this holds exactly.)
    window_us, limit = round(WINDOW * 1_000_000), 100
    crowded = [
        i for i in range(len(granted) - limit) if granted[i + limit] < granted[i] + window_us
    ]
    assert crowded == []
    # The server: per client IP (all four processes are 127.0.0.1), never over the limit.
    assert stats["maxInWindowByIp"] == {"127.0.0.1": stats["maxInWindow"]}
    assert stats["maxInWindow"] <= limit
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.delete(*[f"{{{key}}}:{suffix}" for suffix in ("log", "tat", "pause")])
        await client.aclose()
    except ImportError:  # pragma: no cover
        pass
