"""Crash safety end to end: 1,000 creates with seeded faults, SIGKILL part-way, resume."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest
from batch_support import fast_rate_limit, fast_retry, item

from dhmad_async import DhmadClient
from dhmad_async.batch import BatchOptions, OutcomeStatus, create_many
from dhmad_async.testing import Emulator, FaultRule

CHILD = str(Path(__file__).with_name("batch_support.py"))
N = 1000


def _sent_rows(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM items WHERE attempts > 0").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # schema not created yet


async def _burst_429s(emu: Emulator, stop: asyncio.Event) -> None:
    """Another client on the same IP spends a whole window now and then: 429 bursts."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(4):
            await asyncio.sleep(1.5)
            if stop.is_set():
                return
            for _ in range(60):
                async with http.get(emu.base_url + "/me", headers=headers) as response:
                    await response.read()


@pytest.mark.slow
async def test_kill_and_resume_gives_exactly_one_escrow_per_item(
    emu: Emulator, tmp_path: Path
) -> None:
    """A batch SIGKILLed mid-run and resumed leaves one escrow per item and reports them all."""
    emu.set_faults(
        FaultRule(
            method="POST",
            path="/api/v1/escrows",
            error_500=0.05,
            commit_on_500=0.5,
            lost_response=0.03,
            reset=0.02,
        ),
        seed=20240601,
    )
    journal = tmp_path / "batch.sqlite"
    stop = asyncio.Event()
    noise = asyncio.create_task(_burst_429s(emu, stop))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        CHILD,
        emu.base_url,
        str(journal),
        "0",
        str(N),
        env={**os.environ, "DHMAD_API_KEY": emu.api_key},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        while _sent_rows(journal) < 400:
            assert child.returncode is None, "the batch finished before it could be killed"
            await asyncio.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        assert child.returncode == -signal.SIGKILL
        killed_at = len(emu.escrows())
        assert 0 < killed_at < N
        # Resume in this process with the same journal: faults and 429 bursts continue.
        async with DhmadClient(
            emu.api_key,
            base_url=emu.base_url,
            rate_limit=fast_rate_limit(),
            retry=fast_retry(),
            timeout=5.0,
        ) as client:
            report = await create_many(
                client,
                [item(n) for n in range(N)],
                journal=journal,
                options=BatchOptions(settle=0.1, clock_skew=30.0),
            )
    finally:
        stop.set()
        await noise
        if child.returncode is None:
            child.kill()
            await child.wait()
    stats = emu.stats()
    assert stats["faults"].get("error_500", 0) > 0 and stats["faults"].get("lost_response", 0) > 0
    assert stats["rateLimited"] > 0  # the bursts did cause 429s
    titles = [e["title"] for e in emu.escrows()]
    assert sorted(titles) == sorted(f"Order {n}" for n in range(N))  # one per item, no dupes
    assert len(report) == N
    assert report.counts == {"created": N, "failed": 0, "needs_review": 0}
    by_id = {e["id"]: e["title"] for e in emu.escrows()}
    assert all(by_id[o.escrow_id or ""] == f"Order {o.position}" for o in report)
    assert any(o.reconciled for o in report)
    assert all(o.status is OutcomeStatus.CREATED for o in report)
