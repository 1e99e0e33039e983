"""
The batch journal: a SQLite file (stdlib ``sqlite3``, WAL) that records each item's intent
before it is sent and every state change after. File I/O, run on one worker thread.

Every change is one committed transaction (``synchronous=FULL`` by default), and
the ``sent`` state is committed *before* the request leaves, so a ``kill -9`` at
any moment leaves either an item that was certainly not sent (``pending``) or
one that is reconciled on the next run (``sent``/``ambiguous``). A partial
unique index on ``escrow_id`` makes it impossible to claim one escrow for two
items. An ``events`` table keeps the history of every item.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

from dhmad_async.batch._items import PreparedItem

__all__ = ["ClaimConflict", "Journal", "JournalBusyError", "JournalRow", "JournalState"]

_T = TypeVar("_T")

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


class JournalBusyError(RuntimeError):
    """Raised when another process has the same journal open."""


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
    power loss. One process at a time: a second opener gets :class:`JournalBusyError`.
    """

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        self._durable = durable
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dhmad-journal")
        self._conn: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<Journal {self.path!r}>"

    @classmethod
    async def open(cls, path: str | Path, *, durable: bool = True) -> Journal:
        """Open (or create) the journal at ``path``."""
        journal = cls(path, durable=durable)
        try:
            await journal._run(journal._open_sync)
        except BaseException:
            await journal.aclose()
            raise
        return journal

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        # One thread owns the connection; the event loop never blocks on a fsync.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            self._lock_file = _lock(self.path + ".lock")
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        self._conn = conn

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the journal is closed")
        return self._conn

    async def aclose(self) -> None:
        """Close the database and release the lock. Idempotent."""
        if self._conn is not None:
            with contextlib.suppress(RuntimeError):
                await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

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
        """
        return await self._run(self._register_sync, list(items))

    def _register_sync(self, items: list[PreparedItem]) -> dict[str, JournalRow | str]:
        db = self._db
        out: dict[str, JournalRow | str] = {}
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                assert item.wire is not None
                existing = db.execute("SELECT * FROM items WHERE key = ?", (item.key,)).fetchone()
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

    async def mark_needs_review(self, key: str, error: str, candidates: tuple[str, ...]) -> None:
        """Reconciliation could not decide (several matches): a human must look."""
        await self._run(
            lambda: self._change(
                key,
                JournalState.NEEDS_REVIEW,
                error,
                error=error,
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

    async def rows(self) -> list[JournalRow]:
        """Every item, in input order."""
        return await self._run(self.rows_sync)

    def rows_sync(self) -> list[JournalRow]:
        """Every item, in input order (blocking; for tests and tools)."""
        return [_row(r) for r in self._db.execute("SELECT * FROM items ORDER BY position, key")]

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


def _lock(path: str) -> IO[bytes] | None:
    """Take an exclusive advisory lock on ``path`` (POSIX); None where unsupported."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process guard
        return None
    handle = open(path, "ab")  # noqa: SIM115 - held open for the journal's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise JournalBusyError(
            f"the journal {os.path.basename(path[: -len('.lock')])!r} is in use by another process"
        ) from None
    return handle
