"""Item and journal identity: edits of the input, one writer per journal file, damaged journals.

The lock tests hold a journal in a child process (``batch_support.py hold``) and try
to open the same file from this one through another path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from batch_support import own_item

from dhmad_async import DhmadClient
from dhmad_async.batch import Journal, JournalBusyError, OutcomeStatus, create_many
from dhmad_async.testing import Emulator

CHILD = str(Path(__file__).with_name("batch_support.py"))
POST = ("POST", "/api/v1/escrows")


def _plain(n: int, **overrides: Any) -> dict[str, Any]:
    """An own item without an external key: its key comes from its content."""
    data = own_item(n, **overrides)
    del data["external_key"]
    return data


# -- editing the input --------------------------------------------------------------------------


async def test_removing_or_inserting_an_item_resends_nothing_else(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Without external keys, deleting one row or inserting one never re-sends the others."""
    journal = tmp_path / "j.db"
    client = make_client()
    items = [_plain(n) for n in range(6)]
    first = await client.escrows.create_many(items, journal=journal)
    assert first.counts["created"] == 6
    posts = emu.request_count(*POST)
    trimmed = items[:2] + items[3:]  # a bad row deleted in the spreadsheet
    second = await client.escrows.create_many(trimmed, journal=journal)
    assert emu.request_count(*POST) == posts
    assert [o.escrow_id for o in second] == [
        o.escrow_id for o in first.outcomes[:2] + first.outcomes[3:]
    ]
    inserted = [_plain(99), *items]  # a new row at the top
    third = await client.escrows.create_many(inserted, journal=journal)
    assert emu.request_count(*POST) == posts + 1
    assert third.counts["created"] == 7 and len(emu.escrows()) == 7


async def test_fixing_a_bad_item_sends_only_that_item(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """An item that failed validation is fixed and the batch rerun: only it is sent."""
    journal = tmp_path / "j.db"
    client = make_client()
    items = [_plain(0), _plain(1, amount="-4"), _plain(2)]
    first = await client.escrows.create_many(items, journal=journal)
    assert [o.status for o in first] == ["created", "failed", "created"]
    items[1] = _plain(1)
    second = await client.escrows.create_many(items, journal=journal)
    assert second.counts["created"] == 3 and emu.request_count(*POST) == 3


async def test_identical_items_are_counted_not_positioned(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Three identical items make three escrows; two of them later resend nothing, four one."""
    journal = tmp_path / "j.db"
    client = make_client()
    same = _plain(0)
    await client.escrows.create_many([_plain(5), same, same, same], journal=journal)
    assert len(emu.escrows()) == 4
    await client.escrows.create_many([same, same], journal=journal)
    assert emu.request_count(*POST) == 4
    fourth = await client.escrows.create_many([same, same, same, same], journal=journal)
    assert emu.request_count(*POST) == 5 and len({o.escrow_id for o in fourth}) == 4


async def test_switching_between_automatic_and_external_keys_is_refused(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Adding external keys to items created without them would re-send them: refused."""
    journal = tmp_path / "j.db"
    client = make_client()
    await client.escrows.create_many([_plain(0), _plain(1)], journal=journal)
    keyed = [{**_plain(0), "external_key": "ord-0"}, {**_plain(1), "external_key": "ord-1"}]
    report = await client.escrows.create_many(keyed, journal=journal)
    assert emu.request_count(*POST) == 2
    assert all(o.status is OutcomeStatus.FAILED for o in report)
    assert all(o.error_type == "JournalConflict" for o in report)
    assert "same content" in (report.outcomes[0].error or "")


def test_titles_are_normalised_the_same_way_for_grouping_and_matching() -> None:
    """Titles differing in surrounding or repeated whitespace or case are one group."""
    from dhmad_async.batch._items import prepare_items
    from dhmad_async.batch._reconcile import escrow_matches
    from dhmad_async.models import Escrow

    first, second, other = prepare_items(
        [_plain(0, title="Order A"), _plain(0, title="  order   A "), _plain(0, title="Order B")]
    )
    assert first.match_key == second.match_key != other.match_key
    assert first.wire is not None and second.wire is not None
    seen = Escrow(
        id="e1",
        status="pending",
        title=" ORDER a",
        amount=first.params.amount if first.params else None,
    )
    assert escrow_matches(first.wire, seen) and escrow_matches(second.wire, seen)


async def test_create_many_needs_a_journal(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Without journal= there is nothing to resume from: a clear error, nothing sent."""
    client = make_client()
    os.chdir(tmp_path)  # where the old default journal would have appeared
    with pytest.raises(ValueError, match="journal="):
        create_many(client, [_plain(0)])
    with pytest.raises(ValueError, match="journal="):
        client.escrows.create_many([_plain(0)])
    assert emu.request_count() == 0 and os.listdir(tmp_path) == []


# -- one writer per journal file ------------------------------------------------------------------


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[Path]:
    """A journal at ``tmp_path/j.sqlite`` held open by a child process."""
    path = tmp_path / "j.sqlite"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        CHILD,
        "hold",
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    line = await asyncio.wait_for(child.stdout.readline(), 30)
    assert line.strip() == b"held", line
    try:
        yield path
    finally:
        child.stdin.close()
        await child.wait()


async def _refused(path: Path) -> None:
    with pytest.raises(JournalBusyError, match="in use"):
        journal = await Journal.open(path)
        await journal.aclose()


async def test_second_opener_through_a_symlink_is_refused(held: Path, tmp_path: Path) -> None:
    """A symlink to a journal held by another process is the same journal: busy."""
    link = tmp_path / "other-name.sqlite"
    link.symlink_to(held)
    await _refused(link)


async def test_second_opener_through_a_hard_link_is_refused(held: Path, tmp_path: Path) -> None:
    """A hard link (same inode, other directory entry) is the same journal: busy."""
    link = tmp_path / "hard.sqlite"
    os.link(held, link)
    await _refused(link)


async def test_deleting_side_files_does_not_free_the_journal(held: Path) -> None:
    """The lock is on the database file itself: removing a .lock file changes nothing."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{held}.lock")
    assert f"{held.name}.lock" not in os.listdir(held.parent)
    await _refused(held)


async def test_second_opener_in_the_same_process_is_refused(tmp_path: Path) -> None:
    """Two opens in one process, by two paths, cannot both hold the journal."""
    path = tmp_path / "j.sqlite"
    link = tmp_path / "alias.sqlite"
    first = await Journal.open(path)
    try:
        link.symlink_to(path)
        await _refused(link)
        await _refused(path)
    finally:
        await first.aclose()
    again = await Journal.open(link)
    await again.aclose()


# -- damaged journals --------------------------------------------------------------------------


async def test_a_zero_byte_journal_is_refused(tmp_path: Path) -> None:
    """An empty file is not a fresh journal: it may be a truncated one, so it is refused."""
    from dhmad_async.batch import JournalDamagedError

    path = tmp_path / "j.sqlite"
    path.write_bytes(b"")
    with pytest.raises(JournalDamagedError, match="0 bytes"):
        await Journal.open(path)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    """Garbage, or an SQLite file that is not a journal, is refused with one line."""
    from dhmad_async.batch import JournalDamagedError

    path = tmp_path / "j.sqlite"
    path.write_bytes(b"not a database at all, just text\n" * 200)
    with pytest.raises(JournalDamagedError) as info:
        await Journal.open(path)
    assert "\n" not in str(info.value)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(JournalDamagedError, match="not a batch journal"):
        await Journal.open(other)


async def _killed_journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    child = await asyncio.create_subprocess_exec(
        sys.executable, CHILD, "sent-then-killed", str(path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    assert out.strip() == b"sent" and child.returncode == -9
    assert f"{path.name}-wal" in os.listdir(tmp_path)
    return path


def _drop_wal(path: Path) -> None:
    """Lose the -wal (and -shm) file, as a copy of only the main file would."""
    os.unlink(f"{path}-wal")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{path}-shm")


async def test_a_killed_journal_resumes_with_its_wal(tmp_path: Path) -> None:
    """kill -9 leaves the -wal file: the journal opens and shows the sent item."""
    path = await _killed_journal(tmp_path)
    journal = await Journal.open(path)
    try:
        rows = {r.key: r.state for r in await journal.rows()}
    finally:
        await journal.aclose()
    assert rows == {"order-0": "sent", "order-1": "pending"}


async def test_a_journal_without_its_wal_is_refused(tmp_path: Path) -> None:
    """Resumed without its -wal file, the journal would forget the sent item: refused."""
    from dhmad_async.batch import JournalDamagedError

    path = await _killed_journal(tmp_path)
    _drop_wal(path)
    with pytest.raises(JournalDamagedError, match="-wal"):
        await Journal.open(path)


async def test_cli_refuses_a_damaged_journal_with_its_own_exit_code(
    emu: Emulator, tmp_path: Path
) -> None:
    """`batch create` on a WAL-less journal prints one line and exits 4; nothing is sent."""
    path = await _killed_journal(tmp_path)
    _drop_wal(path)
    source = tmp_path / "items.jsonl"
    source.write_text(json.dumps({**_plain(0), "amount": "40.25"}) + "\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        "create",
        str(source),
        "--journal",
        str(path),
        "--base-url",
        emu.base_url,
        env={**os.environ, "DHMAD_API_KEY": emu.api_key},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 4
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "-wal" in lines[0], lines
    assert emu.request_count() == 0


# -- journals written before content-based keys ------------------------------------------------


async def test_a_journal_with_position_based_keys_is_rekeyed(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A journal whose automatic keys came from row positions is re-keyed, not re-sent."""
    from dhmad_async.batch._items import canonical_json, prepare_items

    client = make_client()
    items = [_plain(0), _plain(1)]
    created = [await client.escrows.create(**dict(i)) for i in items]
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
        for position, (prepared, done) in enumerate(
            zip(prepare_items(items), created, strict=True)
        ):
            old_key = (
                "auto-"
                + hashlib.sha256(f"{prepared.fingerprint}#{position}".encode()).hexdigest()[:20]
            )
            db.execute(
                "INSERT INTO items (key, position, fingerprint, match_key, params, state,"
                " attempts, escrow_id, updated_at) VALUES (?, ?, ?, '', ?, 'created', 1, ?, 0)",
                (
                    old_key,
                    position,
                    prepared.fingerprint,
                    canonical_json(prepared.wire),
                    done.escrow.id,
                ),
            )
    db.close()
    report = await client.escrows.create_many([items[1]], journal=path)  # the first row removed
    assert emu.request_count(*POST) == 2
    assert report.outcomes[0].escrow_id == created[1].escrow.id


_OLD_SCHEMA = """
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY, position INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    match_key TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, floor REAL, escrow_id TEXT, escrow TEXT,
    reconciled INTEGER NOT NULL DEFAULT 0, error TEXT, error_type TEXT, http_status INTEGER,
    retryable INTEGER NOT NULL DEFAULT 0, candidates TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX items_escrow_id ON items(escrow_id) WHERE escrow_id IS NOT NULL;
CREATE INDEX items_state ON items(state);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, state TEXT NOT NULL,
    at REAL NOT NULL, detail TEXT
);
"""
