"""
The batch journal: a SQLite file (stdlib ``sqlite3``, WAL) that records each item's intent
before it is sent and every state change after. File I/O, run on one worker thread.

Every change is one committed transaction (``synchronous=FULL`` by default), and
the ``sent`` state is committed *before* the request leaves, so a ``kill -9`` at
any moment leaves either an item that was certainly not sent (``pending``) or
one that is reconciled on the next run (``sent``/``ambiguous``). A partial
unique index on ``escrow_id`` makes it impossible to claim one escrow for two
items. An ``events`` table keeps the history of every item.

One writer per file: the lock is an exclusive ``flock`` on the database file
itself (its real path), so symlinks, hard links and other names of the same
file all meet the same lock, and there is no side file to delete. A journal is
created whole (schema and marker written to a temporary file, then linked into
place), so an empty or foreign file is damage, never a fresh start. While open,
the main file says ``open``; a clean close checkpoints and says ``closed``. A
file that says ``open`` without its ``-wal`` file lost its latest commits and is
refused.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs

from dhmad_async.batch._items import PreparedItem, auto_key, group_key

__all__ = [
    "ClaimConflict",
    "ClaimedGroup",
    "Journal",
    "JournalBusyError",
    "JournalDamagedError",
    "JournalError",
    "JournalRow",
    "JournalState",
    "JournalStatus",
    "JournalUnavailableError",
    "LeaseLostError",
    "is_workable",
    "read_status",
]

_T = TypeVar("_T")

#: The journal format this code writes. 1 (no ``format`` row): automatic keys from row
#: positions, migrated on open. 2: automatic keys from content and occurrence.
FORMAT = "2"

# Journals open in this process, by (device, inode): a second open of the same file
# must not even open a descriptor, because closing it would drop SQLite's own POSIX
# locks on that file for the whole process.
_OPEN_FILES: set[tuple[int, int]] = set()
_OPEN_FILES_LOCK = threading.Lock()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    match_key TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    floor REAL,
    escrow_id TEXT,
    escrow TEXT,
    reconciled INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_type TEXT,
    http_status INTEGER,
    retryable INTEGER NOT NULL DEFAULT 0,
    candidates TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS items_escrow_id ON items(escrow_id)
    WHERE escrow_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_state ON items(state);
CREATE INDEX IF NOT EXISTS items_fingerprint ON items(fingerprint);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    detail TEXT
);
"""


class JournalState(enum.StrEnum):
    """An item's state in the journal."""

    PENDING = "pending"  # intent recorded; certainly not sent since the last resolution
    SENT = "sent"  # committed just before sending; no answer recorded yet
    AMBIGUOUS = "ambiguous"  # the answer did not prove success or failure
    CREATED = "created"  # escrow_id is this item's escrow
    FAILED = "failed"  # a definite error; nothing was created
    NEEDS_REVIEW = "needs_review"  # reconciliation could not decide


#: States after which the item may have an escrow on the server we do not know of.
UNRESOLVED = frozenset({JournalState.SENT, JournalState.AMBIGUOUS})


class JournalError(RuntimeError):
    """A journal that cannot be used; the message is one line naming the file and the fix."""


class JournalBusyError(JournalError):
    """Another run (this process or another) has the same journal file open."""


class JournalDamagedError(JournalError):
    """The file is empty, not a journal, damaged, or lost its ``-wal`` file: never restarted."""


class JournalUnavailableError(JournalError):
    """The journal cannot be reached or created: a missing directory, no permission, no server."""


class LeaseLostError(JournalError):
    """
    This worker's lease on its items ran out (shared journals only).

    Another worker may take its items over now, so this one must not send or
    record anything more: the run stops, and its unresolved items are reconciled
    by whichever worker takes them.
    """


class ClaimConflict(Exception):
    """Raised when an escrow id is already claimed by another item of the journal."""


@attrs.frozen(kw_only=True)
class JournalRow:
    """One item as the journal holds it."""

    key: str
    position: int
    fingerprint: str
    match_key: str
    params: dict[str, Any]
    state: JournalState
    attempts: int
    floor: float | None
    escrow_id: str | None
    escrow: dict[str, Any] | None
    reconciled: bool
    error: str | None
    error_type: str | None
    http_status: int | None
    retryable: bool
    candidates: tuple[str, ...]


@attrs.frozen(kw_only=True)
class ClaimedGroup:
    """
    A match group handed to one worker: its workable items, in input order.

    Items of one group may be indistinguishable on the server, so a group is
    worked by one worker at a time, one item at a time. ``unsettled``: an item of
    the group may have an escrow that no item claims (one in ``needs_review``,
    or an unresolved one outside this run's input), so an escrow found for
    another item of the group may be that one's.
    """

    match_key: str
    rows: tuple[JournalRow, ...]
    unsettled: bool


@attrs.frozen(kw_only=True)
class JournalStatus:
    """What ``batch status`` shows: items per state, recent throughput, and the workers."""

    name: str
    counts: dict[str, int]
    #: Items created per second over the last ``window`` seconds (events of any worker).
    recent_rate: float
    window: float
    #: Items created per second from the first send to the latest creation.
    overall_rate: float
    #: One dict per worker (shared journals): id, host, label, alive, heartbeat age, groups held.
    workers: tuple[dict[str, Any], ...] = ()

    @property
    def total(self) -> int:
        """Items in the journal."""
        return sum(self.counts.values())


def is_workable(row: JournalRow) -> bool:
    """Whether a run may still act on the item: send it, or reconcile an unknown answer."""
    if row.state in (JournalState.PENDING, JournalState.SENT, JournalState.AMBIGUOUS):
        return True
    return row.state is JournalState.FAILED and row.retryable


def _dumps(data: object) -> str:
    def default(value: object) -> object:
        if isinstance(value, Decimal):
            return str(value)  # exact; the converter reads numeric strings back as Decimal
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    return json.dumps(data, separators=(",", ":"), default=default)


def _row(record: sqlite3.Row) -> JournalRow:
    return JournalRow(
        key=record["key"],
        position=record["position"],
        fingerprint=record["fingerprint"],
        match_key=record["match_key"],
        params=json.loads(record["params"], parse_float=Decimal),
        state=JournalState(record["state"]),
        attempts=record["attempts"],
        floor=record["floor"],
        escrow_id=record["escrow_id"],
        escrow=json.loads(record["escrow"], parse_float=Decimal) if record["escrow"] else None,
        reconciled=bool(record["reconciled"]),
        error=record["error"],
        error_type=record["error_type"],
        http_status=record["http_status"],
        retryable=bool(record["retryable"]),
        candidates=tuple(record["candidates"].split()) if record["candidates"] else (),
    )


class Journal:
    """
    The SQLite journal of one batch. ``await Journal.open(path)``; ``await journal.aclose()``.

    ``path=":memory:"`` keeps it in memory (no resume). ``durable=False`` uses
    ``synchronous=NORMAL``: still safe against a killed process, not against
    power loss. One writer per file: a second opener, by any path, gets
    :class:`JournalBusyError`; a damaged file gets :class:`JournalDamagedError`.
    """

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        self._durable = durable
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dhmad-journal")
        self._conn: sqlite3.Connection | None = None
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._ready = False  # opened and checked: only then may close mark it "closed"

    def __repr__(self) -> str:
        return f"<Journal {self.path!r}>"

    @classmethod
    async def open(cls, path: str | Path, *, durable: bool = True) -> Journal:
        """Open (or create) the journal at ``path``."""
        journal = cls(path, durable=durable)
        try:
            await journal._run(journal._open_sync)
        except JournalError:
            await journal.aclose()
            raise
        except (OSError, sqlite3.OperationalError) as exc:
            await journal.aclose()
            # A missing directory, a directory given as the file, no permission: one line.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise JournalUnavailableError(
                f"cannot open or create journal {os.path.basename(journal.path)!r}: {reason}"
            ) from None
        except BaseException:
            await journal.aclose()
            raise
        return journal

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        # One thread owns the connection; the event loop never blocks on a fsync.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _open_sync(self) -> None:
        if self.path == ":memory:":
            conn = self._connect(":memory:")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta (k, v) VALUES ('format', ?)", (FORMAT,))
            self._conn = conn
            return
        real = os.path.realpath(self.path)
        name = os.path.basename(self.path)
        if not os.path.exists(real):
            _create(real, durable=self._durable)
        self._lock(real, name)
        size = os.fstat(self._fd).st_size if self._fd is not None else os.stat(real).st_size
        if size == 0:
            raise JournalDamagedError(
                f"journal {name!r} is empty (0 bytes): it is not a fresh journal but a "
                "truncated or damaged one; restore it from a backup, or use a new journal "
                "only if you know no item of it was ever sent"
            )
        wal_present = os.path.exists(real + "-wal")
        conn = self._connect(real)
        self._conn = conn
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            meta = self._read_meta(conn, name)
            if meta.get("state") == "open" and not wal_present:
                raise JournalDamagedError(
                    f"journal {name!r} was not closed cleanly and its {name}-wal file is "
                    f"missing, so its latest changes are lost; put {name}-wal back next to it "
                    "(never resume a batch from an incomplete journal)"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise JournalDamagedError(f"journal {name!r} is damaged (integrity check: {check})")
            # Indexes added since a journal was created (idempotent, cheap when present).
            conn.execute("CREATE INDEX IF NOT EXISTS items_fingerprint ON items(fingerprint)")
            if meta.get("format") is None:
                self._migrate_v1(conn)
            elif meta["format"] != FORMAT:
                raise JournalDamagedError(
                    f"journal {name!r} has format {meta['format']}, which this version "
                    "cannot read; use the version that wrote it"
                )
            self._set_state(conn, "open")
            self._ready = True
        except sqlite3.DatabaseError as exc:
            raise JournalDamagedError(
                f"journal {name!r} is not a readable SQLite database ({exc})"
            ) from None

    def _lock(self, real: str, name: str) -> None:
        """Hold an exclusive flock on the database file itself for the journal's lifetime."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no cross-process guard
            return
        with _OPEN_FILES_LOCK:
            try:
                before = os.stat(real)
            except FileNotFoundError:
                raise JournalError(f"journal {name!r} disappeared while opening") from None
            identity = (before.st_dev, before.st_ino)
            if identity in _OPEN_FILES:
                raise JournalBusyError(f"journal {name!r} is in use by another run in this process")
            fd = os.open(real, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            try:
                after = os.fstat(fd)
                if (after.st_dev, after.st_ino) != identity:
                    raise JournalError(f"journal {name!r} was replaced while opening; try again")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise JournalBusyError(f"journal {name!r} is in use by another process") from None
            except BaseException:
                os.close(fd)
                raise
            _OPEN_FILES.add(identity)
            self._fd, self._identity = fd, identity

    @staticmethod
    def _read_meta(conn: sqlite3.Connection, name: str) -> dict[str, str]:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"meta", "items", "events"} <= tables:
            raise JournalDamagedError(
                f"{name!r} is an SQLite file but not a batch journal; give another path"
            )
        return {row["k"]: row["v"] for row in conn.execute("SELECT k, v FROM meta")}

    def _set_state(self, conn: sqlite3.Connection, state: str) -> None:
        """Record ``open``/``closed`` and checkpoint, so the main file itself says so."""
        conn.execute(
            "INSERT INTO meta (k, v) VALUES ('state', ?) ON CONFLICT(k) DO UPDATE SET v = ?",
            (state, state),
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _migrate_v1(self, conn: sqlite3.Connection) -> None:
        """Re-key a format-1 journal: automatic keys from content and occurrence, new groups."""
        rows = conn.execute("SELECT key, fingerprint, params FROM items ORDER BY position, key")
        occurrences: collections.Counter[str] = collections.Counter()
        changes: list[tuple[str, str, str]] = []
        for row in rows.fetchall():
            new_key = row["key"]
            if row["key"].startswith("auto-"):
                new_key = auto_key(row["fingerprint"], occurrences[row["fingerprint"]])
                occurrences[row["fingerprint"]] += 1
            wire = json.loads(row["params"], parse_float=Decimal)
            changes.append((row["key"], new_key, group_key(wire)))
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Through a temporary name, so a new key equal to another row's old one is fine.
            for old, _, match_key in changes:
                conn.execute(
                    "UPDATE items SET key = ?, match_key = ? WHERE key = ?",
                    ("migrating:" + old, match_key, old),
                )
                conn.execute("UPDATE events SET key = ? WHERE key = ?", ("migrating:" + old, old))
            for old, new, _ in changes:
                conn.execute("UPDATE items SET key = ? WHERE key = ?", (new, "migrating:" + old))
                conn.execute("UPDATE events SET key = ? WHERE key = ?", (new, "migrating:" + old))
            conn.execute("INSERT INTO meta (k, v) VALUES ('format', ?)", (FORMAT,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the journal is closed")
        return self._conn

    async def aclose(self) -> None:
        """Mark the journal closed, close it and release the lock. Idempotent."""
        if self._conn is not None or self._fd is not None:
            with contextlib.suppress(RuntimeError):
                await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if self._ready and self._identity is not None and not conn.in_transaction:
                    self._set_state(conn, "closed")
            except sqlite3.Error:
                pass  # the next open finds "open" with its -wal: an ordinary resume
            finally:
                conn.close()
        # After SQLite's own descriptors are closed: closing ours drops POSIX locks.
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if self._identity is not None:
            with _OPEN_FILES_LOCK:
                _OPEN_FILES.discard(self._identity)
            self._identity = None

    # -- writes: one transaction each --------------------------------------------------------

    def _change(self, key: str, state: JournalState, detail: str | None, **fields: Any) -> None:
        db = self._db
        now = time.time()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = list(fields.values())
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.execute(
                f"UPDATE items SET state = ?, updated_at = ?{', ' if fields else ''}{assignments}"
                " WHERE key = ?",
                [str(state), now, *values, key],
            )
            if cursor.rowcount != 1:
                raise KeyError(key)
            db.execute(
                "INSERT INTO events (key, state, at, detail) VALUES (?, ?, ?, ?)",
                (key, str(state), now, detail),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def register(self, items: Iterable[PreparedItem]) -> dict[str, JournalRow | str]:
        """
        Record the intent of every valid item; return each key's row, or a conflict message.

        An existing key keeps its state. If its parameters changed, the new ones
        replace them only while nothing may exist on the server for it
        (``pending``, or ``failed``); otherwise the key is reported as a conflict.
        A new key whose content equals a journal item of the other key kind
        (automatic versus ``external_key``) that this input no longer names is a
        changed mapping: the same order under a new key would be a second escrow,
        so it is a conflict too unless nothing can exist for that item.
        """
        return await self._run(self._register_sync, list(items))

    def _kind_switch(self, item: PreparedItem, keys: set[str]) -> str | None:
        auto = item.key.startswith("auto-")
        for row in self._db.execute(
            "SELECT key, state FROM items WHERE fingerprint = ? AND state NOT IN (?, ?)",
            (item.fingerprint, str(JournalState.PENDING), str(JournalState.FAILED)),
        ):
            if row["key"] not in keys and row["key"].startswith("auto-") != auto:
                return (
                    f"an item with the same content is in the journal under key {row['key']!r} "
                    f"({row['state']}), and this run names items by "
                    f"{'content' if auto else 'external_key'} instead: not sent, it could be "
                    "a second escrow for that item; use the keys of the first run, or a new "
                    "journal for new orders"
                )
        return None

    def _register_sync(self, items: list[PreparedItem]) -> dict[str, JournalRow | str]:
        db = self._db
        out: dict[str, JournalRow | str] = {}
        now = time.time()
        keys = {item.key for item in items}
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                assert item.wire is not None
                existing = db.execute("SELECT * FROM items WHERE key = ?", (item.key,)).fetchone()
                conflict = self._kind_switch(item, keys) if existing is None else None
                if conflict is not None:
                    out[item.key] = conflict
                    continue
                if existing is None:
                    db.execute(
                        "INSERT INTO items (key, position, fingerprint, match_key, params, state,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            item.key,
                            item.position,
                            item.fingerprint,
                            item.match_key,
                            _dumps(item.wire),
                            str(JournalState.PENDING),
                            now,
                        ),
                    )
                    db.execute(
                        "INSERT INTO events (key, state, at, detail) VALUES (?, ?, ?, ?)",
                        (item.key, str(JournalState.PENDING), now, "intent"),
                    )
                elif existing["fingerprint"] != item.fingerprint:
                    if existing["state"] in (JournalState.PENDING, JournalState.FAILED):
                        db.execute(
                            "UPDATE items SET fingerprint = ?, match_key = ?, params = ?,"
                            " position = ?, state = ?, updated_at = ? WHERE key = ?",
                            (
                                item.fingerprint,
                                item.match_key,
                                _dumps(item.wire),
                                item.position,
                                str(JournalState.PENDING),
                                now,
                                item.key,
                            ),
                        )
                        db.execute(
                            "INSERT INTO events (key, state, at, detail) VALUES (?, ?, ?, ?)",
                            (item.key, str(JournalState.PENDING), now, "parameters changed"),
                        )
                    else:
                        out[item.key] = (
                            f"external_key {item.key!r} is already in the journal "
                            f"({existing['state']}) with different parameters; not sent"
                        )
                        continue
                elif existing["position"] != item.position:
                    db.execute(
                        "UPDATE items SET position = ? WHERE key = ?", (item.position, item.key)
                    )
                record = db.execute("SELECT * FROM items WHERE key = ?", (item.key,)).fetchone()
                out[item.key] = _row(record)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out

    async def mark_sent(self, key: str, floor: float) -> None:
        """Commit "about to send" (before the request leaves); keeps the earliest floor."""
        await self._run(self._mark_sent_sync, key, floor)

    def _mark_sent_sync(self, key: str, floor: float) -> None:
        current = self._db.execute("SELECT floor FROM items WHERE key = ?", (key,)).fetchone()
        earliest = floor if current is None or current["floor"] is None else current["floor"]
        self._change(
            key,
            JournalState.SENT,
            None,
            floor=min(earliest, floor),
            attempts=self._attempts(key) + 1,
        )

    def _attempts(self, key: str) -> int:
        row = self._db.execute("SELECT attempts FROM items WHERE key = ?", (key,)).fetchone()
        return int(row["attempts"]) if row is not None else 0

    async def mark_created(
        self, key: str, escrow_id: str, escrow: Mapping[str, Any] | None, *, reconciled: bool
    ) -> None:
        """Record the item's escrow; :class:`ClaimConflict` if another item holds that id."""
        await self._run(self._mark_created_sync, key, escrow_id, escrow, reconciled)

    def _mark_created_sync(
        self, key: str, escrow_id: str, escrow: Mapping[str, Any] | None, reconciled: bool
    ) -> None:
        try:
            self._change(
                key,
                JournalState.CREATED,
                escrow_id,
                escrow_id=escrow_id,
                escrow=_dumps(escrow) if escrow is not None else None,
                reconciled=int(reconciled),
                error=None,
                error_type=None,
                http_status=None,
                retryable=0,
                candidates="",
            )
        except sqlite3.IntegrityError:
            raise ClaimConflict(escrow_id) from None

    async def mark_ambiguous(
        self, key: str, error: str, error_type: str, status: int | None
    ) -> None:
        """The answer proved nothing: reconcile before sending again."""
        await self._run(
            lambda: self._change(
                key,
                JournalState.AMBIGUOUS,
                error,
                error=error,
                error_type=error_type,
                http_status=status,
            )
        )

    async def mark_failed(
        self, key: str, error: str, error_type: str, status: int | None, *, retryable: bool
    ) -> None:
        """A definite failure: nothing was created. The floor is cleared."""
        await self._run(
            lambda: self._change(
                key,
                JournalState.FAILED,
                error,
                error=error,
                error_type=error_type,
                http_status=status,
                retryable=int(retryable),
                floor=None,
            )
        )

    async def mark_absent(self, key: str) -> None:
        """Reconciliation proved no escrow exists for the item: it may be sent again."""
        await self._run(
            lambda: self._change(
                key, JournalState.PENDING, "absent after reconciliation", floor=None
            )
        )

    async def mark_needs_review(
        self, key: str, error: str, error_type: str, candidates: tuple[str, ...] = ()
    ) -> None:
        """Nothing could be proven either way (see ``error_type``): a human must look."""
        await self._run(
            lambda: self._change(
                key,
                JournalState.NEEDS_REVIEW,
                error,
                error=error,
                error_type=error_type,
                candidates=" ".join(candidates),
            )
        )

    # -- reads ------------------------------------------------------------------------------

    async def claimed_ids(self) -> set[str]:
        """Every escrow id recorded for an item."""
        return await self._run(self._claimed_sync)

    def _claimed_sync(self) -> set[str]:
        rows = self._db.execute("SELECT escrow_id FROM items WHERE escrow_id IS NOT NULL")
        return {row["escrow_id"] for row in rows}

    async def own_escrow_ids(self, limit: int = 3) -> list[str]:
        """Escrows of created items sent without ``sellerEmail`` (the associated user sells)."""
        return await self._run(self._own_sync, limit)

    def _own_sync(self, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT escrow_id, params FROM items WHERE state = ? ORDER BY updated_at DESC",
            (str(JournalState.CREATED),),
        )
        out: list[str] = []
        for row in rows:
            if not json.loads(row["params"]).get("sellerEmail"):
                out.append(row["escrow_id"])
                if len(out) >= limit:
                    break
        return out

    async def rows(self) -> list[JournalRow]:
        """Every item, in input order."""
        return await self._run(self.rows_sync)

    def rows_sync(self) -> list[JournalRow]:
        """Every item, in input order (blocking; for tests and tools)."""
        return [_row(r) for r in self._db.execute("SELECT * FROM items ORDER BY position, key")]

    async def rows_for(self, keys: Iterable[str]) -> dict[str, JournalRow]:
        """The journal's rows for ``keys`` (those that exist)."""
        wanted = set(keys)
        return {row.key: row for row in await self.rows() if row.key in wanted}

    # -- handing out work ---------------------------------------------------------------------

    async def claim(
        self, scope: frozenset[str] | None, exclude: set[str], limit: int
    ) -> list[ClaimedGroup]:
        """
        Every group with workable items of ``scope`` (every item when None), but ``exclude``.

        One process holds the file, so there is nobody to share with: all groups
        are handed out at once, whatever ``limit``.
        """
        return await self._run(self._claim_sync, scope, set(exclude))

    def _claim_sync(self, scope: frozenset[str] | None, exclude: set[str]) -> list[ClaimedGroup]:
        groups: dict[str, list[JournalRow]] = {}
        for row in self.rows_sync():
            groups.setdefault(row.match_key, []).append(row)
        out: list[ClaimedGroup] = []
        for match_key, rows in groups.items():
            if match_key in exclude:
                continue
            mine = [r for r in rows if (scope is None or r.key in scope) and is_workable(r)]
            if not mine:
                continue
            unsettled = any(
                r.state is JournalState.NEEDS_REVIEW
                or (r.state in UNRESOLVED and scope is not None and r.key not in scope)
                for r in rows
            )
            out.append(ClaimedGroup(match_key=match_key, rows=tuple(mine), unsettled=unsettled))
        return out

    async def release(self, match_key: str) -> None:
        """Give a group back (nothing to do: no other worker can use this file)."""

    async def waiting(self, scope: frozenset[str] | None, exclude: set[str]) -> int:
        """Groups with work that another worker holds: none, with one writer per file."""
        return 0

    def sending(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wraps each create; a local file has no lease to run out."""
        return contextlib.nullcontext()

    async def status(self, window: float = 60.0) -> JournalStatus:
        """Items per state and throughput (see :func:`read_status` for a running batch)."""
        return await self._run(_status_sync, self._db, os.path.basename(self.path), window)

    async def get_meta(self, name: str) -> str | None:
        """A value stored with :meth:`set_meta`."""
        return await self._run(self._get_meta_sync, name)

    def _get_meta_sync(self, name: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (name,)).fetchone()
        return None if row is None else str(row["v"])

    async def set_meta(self, name: str, value: str) -> None:
        """Store a small value (e.g. the measured server clock offset)."""
        await self._run(
            lambda: self._db.execute(
                "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                (name, value),
            )
        )


def _create(real: str, *, durable: bool) -> None:
    """
    Create a journal at ``real`` whole: schema and markers first, then link into place.

    The link fails if the name exists, so two runs creating the same journal at once
    end up with one file; the loser opens the winner's.
    """
    directory = os.path.dirname(real) or "."
    tmp = os.path.join(
        directory, f".{os.path.basename(real)}.{os.getpid()}.{secrets.token_hex(4)}.new"
    )
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # recorded in the file header
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT INTO meta (k, v) VALUES ('format', ?), ('state', 'closed')", (FORMAT,)
            )
        finally:
            conn.close()  # the last close checkpoints into the main file
        try:
            os.link(tmp, real)
        except FileExistsError:
            pass
        except OSError:  # pragma: no cover - no hard links here (some network shares)
            _copy_exclusive(tmp, real)
        if durable:
            _fsync_dir(directory)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp + suffix)


def _copy_exclusive(source: str, target: str) -> None:  # pragma: no cover - see _create
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        dst.write(src.read())
        dst.flush()
        os.fsync(dst.fileno())


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _status_sync(conn: sqlite3.Connection, name: str, window: float) -> JournalStatus:
    counts = {str(state): 0 for state in JournalState}
    for state, count in conn.execute("SELECT state, count(*) FROM items GROUP BY state"):
        counts[str(state)] = int(count)
    now = time.time()
    recent = conn.execute(
        "SELECT count(*) FROM events WHERE state = ? AND at >= ?",
        (str(JournalState.CREATED), now - window),
    ).fetchone()[0]
    first_sent = conn.execute(
        "SELECT min(at) FROM events WHERE state = ?", (str(JournalState.SENT),)
    ).fetchone()[0]
    last_created = conn.execute(
        "SELECT max(at) FROM events WHERE state = ?", (str(JournalState.CREATED),)
    ).fetchone()[0]
    overall = 0.0
    if first_sent is not None and last_created is not None and last_created > first_sent:
        overall = counts[str(JournalState.CREATED)] / (last_created - first_sent)
    return JournalStatus(
        name=name,
        counts=counts,
        recent_rate=int(recent) / window,
        window=window,
        overall_rate=overall,
    )


def read_status(path: str | Path, window: float = 60.0) -> JournalStatus:
    """
    The status of the SQLite journal at ``path``, read-only and without its lock.

    Works while a run holds the journal (SQLite readers never block its writer);
    blocking file I/O. Raises :class:`JournalUnavailableError` if there is no such
    journal, :class:`JournalDamagedError` if it is not one.
    """
    name = os.path.basename(str(path))
    if not os.path.exists(path):
        raise JournalUnavailableError(f"no journal {name!r} at {str(path)!r}")
    try:
        conn = sqlite3.connect(f"file:{os.path.realpath(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise JournalUnavailableError(f"cannot open journal {name!r}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        Journal._read_meta(conn, name)
        return _status_sync(conn, name, window)
    except sqlite3.DatabaseError as exc:
        raise JournalDamagedError(
            f"journal {name!r} is not a readable SQLite database ({exc})"
        ) from None
    finally:
        conn.close()
