"""Four "hosts" share one batch through PostgreSQL: one is SIGKILLed and restarted.

The hosts are ``batch work`` processes bound to distinct loopback source addresses
(127.0.0.2 … 127.0.0.5: Linux routes all of 127/8 to lo), and the emulator limits per
source IP, so each has its own budget. 1,000 items, seeded faults on creates (500s
that may have committed, lost responses, resets). Invariants only, never speed:
exactly one escrow per created item and never two for one item, per the emulator's
state; nothing reported created without its escrow; nothing re-sent after an unknown
answer unless reconciliation proved it absent first; no source IP over its window;
and the killed worker's unresolved items were taken over by another worker.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dhmad_async.batch import enqueue
from dhmad_async.testing import Emulator, FaultRule, ServerRateLimitOptions

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

N = 1000
SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
TIME_SCALE = 100.0  # the 60 s window lasts 0.6 real seconds
ASSOCIATED = "merchant@example.com"  # the emulator's associated user


def _item(n: int) -> dict[str, Any]:
    """A third are between two third parties (unprovable); the rest have us as a party."""
    base: dict[str, Any] = {
        "title": f"Order {n}",
        "amount": Decimal("40.250"),
        "mode": "quick",
        "estimated_delivery_days": 3,
        "external_key": f"order-{n}",
    }
    if n % 3 == 0:  # between two other users: the documented list never shows it
        return {**base, "buyer_email": f"buyer{n % 7}@example.com", "seller_email": "s@example.com"}
    if n % 3 == 1:  # we sell (no seller_email: standard mode, with its contract)
        return {
            **base,
            "buyer_email": f"buyer{n % 7}@example.com",
            "mode": "standard",
            "contract_terms": "Deliver as described.",
        }
    return {**base, "buyer_email": ASSOCIATED, "seller_email": f"seller{n % 5}@example.com"}


async def _worker(emu: Emulator, dsn: str, source: str, report: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        "work",
        "--journal",
        dsn,
        "--source-address",
        source,
        "--base-url",
        emu.base_url,
        "--rate-window",
        str(60.0 / TIME_SCALE),
        "--rate-margin",
        "0.05",
        "--lease",
        "2",
        "--settle",
        "0.2",
        "--associated-email",
        ASSOCIATED,
        "--progress",
        "none",
        "--report",
        str(report),
        env={**os.environ, "DHMAD_API_KEY": emu.api_key},
        stderr=asyncio.subprocess.PIPE,
    )


async def _in_flight_of(db: asyncpg.Connection, pid: int) -> int:
    """Items the worker with this pid marked sent and has no answer for yet."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM dhmad_batch.items i WHERE i.state = 'sent' AND ("
            " SELECT e.worker FROM dhmad_batch.events e WHERE e.key = i.key"
            " ORDER BY e.id DESC LIMIT 1) IN (SELECT id FROM dhmad_batch.workers WHERE pid = $1)",
            pid,
        )
    )


@pytest.mark.timeout(600)
async def test_four_hosts_one_killed_create_every_item_exactly_once(
    pg_dsn: str, tmp_path: Path
) -> None:
    async with Emulator(time_scale=TIME_SCALE, rate_limit=ServerRateLimitOptions(limit=100)) as emu:
        assert emu.fidelity == "documented"
        emu.set_faults(
            FaultRule(
                method="POST",
                path="/api/v1/escrows",
                error_500=0.05,
                commit_on_500=0.5,
                lost_response=0.03,
                reset=0.02,
            ),
            seed=20261124,
        )
        loaded = await enqueue([_item(n) for n in range(N)], journal=pg_dsn)
        assert (loaded.added, loaded.refused) == (N, ())
        reports = [tmp_path / f"worker{n}.jsonl" for n in range(len(SOURCES) + 1)]
        workers = [
            await _worker(emu, pg_dsn, source, reports[n]) for n, source in enumerate(SOURCES)
        ]
        db = await asyncpg.connect(pg_dsn)
        victim = workers[1]
        try:
            # Kill one host mid-run, while it has creates in flight.
            for _ in range(6000):
                created = await db.fetchval(
                    "SELECT count(*) FROM dhmad_batch.items WHERE state = 'created'"
                )
                if created >= 250 and await _in_flight_of(db, victim.pid):
                    break
                assert victim.returncode is None, "the worker finished before it could be killed"
                await asyncio.sleep(0.01)
            victim_id = await db.fetchval(
                "SELECT id FROM dhmad_batch.workers WHERE pid = $1", victim.pid
            )
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            assert victim.returncode == -signal.SIGKILL
            assert 0 < len(emu.escrows()) < N
            # The host comes back (a new worker on the same address) and joins again.
            workers.append(await _worker(emu, pg_dsn, SOURCES[1], reports[-1]))
            outputs = await asyncio.gather(*(w.communicate() for w in workers if w is not victim))
            for proc, (_, err) in zip(
                [w for w in workers if w is not victim], outputs, strict=True
            ):
                assert proc.returncode in (0, 1), err.decode()[-2000:]
            rows = {r["key"]: r for r in await db.fetch("SELECT * FROM dhmad_batch.items")}
            events: dict[str, list[tuple[str, str | None]]] = collections.defaultdict(list)
            for e in await db.fetch(
                "SELECT key, state, worker FROM dhmad_batch.events ORDER BY id"
            ):
                events[e["key"]].append((e["state"], e["worker"]))
        finally:
            await db.close()
            for proc in workers:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        stats = emu.stats()
        escrows = emu.escrows()
        admitted = emu.rate_limiter.admitted_by_ip

    assert stats["faults"].get("error_500", 0) > 0 and stats["faults"].get("lost_response", 0) > 0
    assert stats["faults"].get("reset", 0) > 0
    # Every source address was used, and none went over its window.
    assert set(admitted) == set(SOURCES)
    for source in SOURCES:
        assert emu.rate_limiter.max_in_any_window(source) <= 100, source
    # Never two escrows for one item; every escrow is one of ours.
    per_title = collections.Counter(e["title"] for e in escrows)
    assert set(per_title) <= {f"Order {n}" for n in range(N)}
    assert max(per_title.values()) == 1
    by_id = {e["id"]: e["title"] for e in escrows}
    # Every item is decided, and each decision is one the rules allow.
    assert len(rows) == N
    for n in range(N):
        row, title = rows[f"order-{n}"], f"Order {n}"
        if row["state"] == "created":
            assert by_id[row["escrow_id"]] == title  # never created without its escrow
        elif n % 3 == 0:
            assert row["state"] == "needs_review", (n, dict(row))
            assert row["error_type"] == "AbsenceUnprovable", (n, dict(row))
        else:  # provable: only a proven absence after every send of a run met a fault
            assert row["state"] == "failed" and row["error_type"] == "NotCreated", (n, dict(row))
            assert per_title[title] == 0
    created = {r["escrow_id"] for r in rows.values() if r["state"] == "created"}
    reviewed = {f"Order {k.split('-')[1]}" for k, r in rows.items() if r["state"] == "needs_review"}
    assert {by_id[i] for i in set(by_id) - created} <= reviewed  # the rest await review
    # Nothing was re-sent blindly: a send follows an intent, a proven absence or a
    # definite failure, never a send or an unknown answer.
    for key, history in events.items():
        for before, after in itertools.pairwise(history):
            if after[0] == "sent":
                assert before[0] in ("pending", "failed"), (key, history)
    # The killed worker's unresolved creates were reconciled by the others.
    taken_over = [
        key
        for key, history in events.items()
        if any(w == victim_id and s == "sent" for s, w in history)
        and history[-1][1] not in (victim_id, None)
        and [s for s, w in history if w == victim_id][-1] == "sent"
    ]
    assert taken_over, "no item of the killed worker was taken over"
    for key in taken_over:
        assert rows[key]["state"] != "pending"
    # The reports of the surviving workers agree with the journal.
    for report in reports:
        if not report.exists():
            continue
        for line in report.read_text().splitlines():
            outcome = json.loads(line)
            if outcome["status"] == "created":
                assert by_id[outcome["escrow_id"]] == f"Order {outcome['external_key'][6:]}"
