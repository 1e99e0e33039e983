"""The PostgreSQL journal on the real server: schema versions, claims by group, leases, fencing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from batch_support import item, own_item

from dhmad_async import DhmadClient
from dhmad_async.batch import (
    JournalDamagedError,
    JournalError,
    JournalState,
    LeaseLostError,
    PostgresJournal,
    create_many,
    enqueue,
)
from dhmad_async.batch._items import prepare_items
from dhmad_async.batch._journal import ClaimConflict
from dhmad_async.batch._postgres import SCHEMA_VERSION
from dhmad_async.testing import Emulator

pytestmark = pytest.mark.postgres


async def test_schema_is_created_with_its_version_and_a_newer_one_is_refused(pg_dsn: str) -> None:
    """open() creates the tables and records the version; a newer version is never used."""
    journal = await PostgresJournal.open(pg_dsn, schema="batch_a")
    await journal.aclose()
    again = await PostgresJournal.open(pg_dsn, schema="batch_a")  # reopening migrates nothing
    await again.aclose()
    conn = await asyncpg.connect(pg_dsn)
    try:
        versions = [
            r["version"] for r in await conn.fetch("SELECT version FROM batch_a.schema_version")
        ]
        assert versions == [SCHEMA_VERSION]
        await conn.execute("INSERT INTO batch_a.schema_version (version) VALUES (99)")
        await conn.execute("CREATE SCHEMA other; CREATE TABLE other.items (x int)")
    finally:
        await conn.close()
    with pytest.raises(JournalError, match="version 99, newer"):
        await PostgresJournal.open(pg_dsn, schema="batch_a")
    with pytest.raises(JournalDamagedError, match="no batch journal"):
        await PostgresJournal.open(pg_dsn, schema="other")


async def test_the_password_never_reaches_the_journal_name(pg_dsn: str) -> None:
    """path (used in reports and messages) hides the DSN's password."""
    journal = PostgresJournal("postgresql://u:hunter2@127.0.0.1:5432/db", schema="s")
    assert "hunter2" not in journal.path and "hunter2" not in repr(journal)


async def test_intents_claims_and_marks_are_durable_with_events(pg_dsn: str) -> None:
    """Registering twice adds nothing; a claimed item's marks are stored with their events."""
    result = await enqueue([item(0), item(1)], journal=pg_dsn)
    assert (result.added, result.known, result.refused) == (2, 0, ())
    result = await enqueue([item(0), item(1), {"title": "x"}], journal=pg_dsn)
    assert (result.added, result.known, len(result.refused)) == (0, 2, 1)
    journal = await PostgresJournal.open(pg_dsn)
    try:
        groups = await journal.claim(None, set(), 10)
        assert sorted(r.key for g in groups for r in g.rows) == ["order-0", "order-1"]
        await journal.mark_sent("order-0", 1000.0)
        await journal.mark_sent("order-0", 900.0)  # keeps the earliest floor
        await journal.mark_created("order-0", "e1", {"id": "e1"}, reconciled=False)
        with pytest.raises(ClaimConflict):
            await journal.mark_created("order-1", "e1", {"id": "e1"}, reconciled=True)
        history = [e["state"] for e in await journal.events("order-0")]
    finally:
        await journal.aclose()
    assert history == ["pending", "sent", "sent", "created"]
    reader = await PostgresJournal.open(pg_dsn)
    try:
        rows = {r.key: r for r in await reader.rows()}
        status = await reader.status()
    finally:
        await reader.aclose()
    assert rows["order-0"].state is JournalState.CREATED and rows["order-0"].attempts == 2
    assert rows["order-0"].floor == 900.0 and rows["order-0"].escrow_id == "e1"
    assert rows["order-1"].state is JournalState.PENDING
    assert status.counts["created"] == 1 and status.counts["pending"] == 1
    assert [w["alive"] for w in status.workers] == [False]  # closed: its lease ended


async def test_concurrent_claims_never_share_a_group(pg_dsn: str) -> None:
    """Four workers claiming at once get disjoint groups; identical items are one group."""
    items = [item(n) for n in range(40)] + [item(99, external_key=f"same-{n}") for n in range(3)]
    await enqueue(items, journal=pg_dsn)
    workers = [await PostgresJournal.open(pg_dsn) for _ in range(4)]
    try:
        claims = await asyncio.gather(*(w.claim(None, set(), 8) for w in workers))
        more = await asyncio.gather(*(w.claim(None, set(), 8) for w in workers))
    finally:
        for w in workers:
            await w.aclose()
    keys = [g.match_key for batch in (*claims, *more) for g in batch]
    assert len(keys) == len(set(keys)) == 41  # 40 distinct titles and one group of three
    same = [g for batch in (*claims, *more) for g in batch if len(g.rows) == 3]
    assert [sorted(r.key for r in g.rows) for g in same] == [["same-0", "same-1", "same-2"]]


async def test_a_dead_workers_group_is_taken_over_and_its_writes_are_fenced(pg_dsn: str) -> None:
    """A lease that is not renewed ends: another worker claims the group, the first is fenced.

    The lease is the database's clock, so it is real time: 2 s gives a loaded machine
    room for the claim, mark_sent and the second claim inside the first lease, and the
    wait after the heartbeat stops is the whole lease and a little more, never less.
    """
    lease = 2.0
    await enqueue([item(0), item(1)], journal=pg_dsn)
    first = await PostgresJournal.open(pg_dsn, lease=lease)
    second = await PostgresJournal.open(pg_dsn, lease=lease)
    try:
        groups = await first.claim(None, set(), 10)
        assert len(groups) == 2
        await first.mark_sent("order-0", 1000.0)
        assert await second.claim(None, set(), 10) == []  # held, and the lease is current
        assert await second.waiting(None, set()) == 2
        assert first._heartbeat is not None
        first._heartbeat.cancel()  # the worker stalls: no more heartbeats
        await asyncio.sleep(lease + 0.2)  # the last heartbeat was before the cancel
        taken = await second.claim(None, set(), 10)
        rows = {r.key: r for g in taken for r in g.rows}
        assert rows["order-0"].state is JournalState.SENT  # reconciled, never resent blindly
        with pytest.raises(LeaseLostError):
            await first.mark_created("order-0", "e9", None, reconciled=False)
        with pytest.raises(LeaseLostError):
            async with first.sending():
                pass
        await second.mark_ambiguous("order-0", "lost", "APIConnectionError", None)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_create_in_flight_is_cancelled_when_the_lease_cannot_be_renewed(
    pg_dsn: str,
) -> None:
    """sending() cancels what runs inside it once the lease may have run out."""
    await enqueue([item(0)], journal=pg_dsn)
    journal = await PostgresJournal.open(pg_dsn, lease=0.6)
    try:
        await journal.claim(None, set(), 10)
        assert journal._heartbeat is not None
        journal._heartbeat.cancel()
        reached_the_end = False
        with pytest.raises(LeaseLostError):
            async with journal.sending():
                await asyncio.sleep(5)
                reached_the_end = True
        assert not reached_the_end
    finally:
        await journal.aclose()


async def test_parameters_of_a_group_a_live_worker_holds_are_not_changed(pg_dsn: str) -> None:
    """A re-registered item with new parameters is a conflict while its group is being worked."""
    await enqueue([item(0)], journal=pg_dsn)
    worker = await PostgresJournal.open(pg_dsn)
    try:
        await worker.claim(None, set(), 10)
        result = await enqueue([item(0, amount="30")], journal=pg_dsn)
        assert [o.error_type for o in result.refused] == ["JournalConflict"]
        assert "working its group" in (result.refused[0].error or "")
    finally:
        await worker.aclose()
    result = await enqueue([item(0, amount="30")], journal=pg_dsn)  # released: now it may
    assert result.refused == ()


async def test_create_many_with_a_postgres_journal_creates_and_resumes(
    emu: Emulator, make_client: Callable[..., DhmadClient], pg_dsn: str, tmp_path: Path
) -> None:
    """The same run as with SQLite: every item once, and a rerun sends nothing."""
    items = [own_item(n) for n in range(12)] + [item(n) for n in range(12, 20)]
    client = make_client()
    report = await create_many(client, items, journal=pg_dsn)
    assert report.counts == {"created": 20, "failed": 0, "needs_review": 0}
    assert sorted(e["id"] for e in emu.escrows()) == sorted(o.escrow_id for o in report)
    posts = emu.request_count("POST", "/api/v1/escrows")
    again = await create_many(client, items, journal=pg_dsn)
    assert again.counts["created"] == 20 and all(o.from_journal for o in again)
    assert emu.request_count("POST", "/api/v1/escrows") == posts
    assert prepare_items(items)[0].key == again.outcomes[0].external_key


async def _batch_cli(emu: Emulator, *args: str) -> tuple[int, str, str]:
    import os
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        *args,
        env={**os.environ, "DHMAD_API_KEY": emu.api_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_enqueue_work_and_status_from_the_command_line(
    emu: Emulator, pg_dsn: str, tmp_path: Path
) -> None:
    """--enqueue sends nothing; work creates everything from its source address; status shows it."""
    source = tmp_path / "orders.csv"
    source.write_text(
        "external_key,title,amount,buyer_email,seller_email,mode,estimated_delivery_days\n"
        + "".join(f"K-{n},Item {n},25,b{n}@example.com,s@example.com,quick,3\n" for n in range(6))
    )
    code, _, err = await _batch_cli(emu, "status", "--journal", pg_dsn)
    assert code == 7 and "no batch journal" in err  # and status created none
    code, _, err = await _batch_cli(emu, "create", str(source), "--journal", pg_dsn, "--enqueue")
    assert code == 0 and "enqueued 6 new items" in err, err
    assert emu.request_count() == 0
    code, out, _ = await _batch_cli(emu, "status", "--journal", pg_dsn)
    assert code == 0 and "6 items" in out and "pending 6" in out
    code, _, err = await _batch_cli(
        emu, "work", "--journal", pg_dsn, "--base-url", emu.base_url, "--rate-window", "0.6",
        "--source-address", "127.0.0.2", "--progress", "none",
    )  # fmt: skip
    assert code == 0, err
    assert set(emu.rate_limiter.admitted_by_ip) == {"127.0.0.2"}
    assert sorted(e["title"] for e in emu.escrows()) == [f"Item {n}" for n in range(6)]
    code, out, _ = await _batch_cli(emu, "status", "--journal", pg_dsn, "--watch")
    assert code == 0 and "created 6" in out and "workers: 0 alive, 1 gone" in out
    code, _, err = await _batch_cli(
        emu, "work", "--journal", pg_dsn, "--source-address", "192.0.2.1",
        "--base-url", emu.base_url,
    )  # fmt: skip
    assert code == 2 and "cannot send from 192.0.2.1" in err
