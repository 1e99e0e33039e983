"""
The PostgreSQL batch journal, shared by workers on several hosts. Network I/O (asyncpg).

The same journal as the SQLite one (intent committed before each send, an
``events`` row for every change, a unique constraint on ``escrow_id``), plus
what sharing needs:

* **Work is claimed by match group.** Items whose normalised title and amount
  agree may be indistinguishable on the server, so a group is the unit one
  worker holds: ``SELECT … FOR UPDATE SKIP LOCKED`` picks free groups, and the
  worker's id is written into ``groups.owner``. Two identical items are never in
  flight on two workers.
* **Leases.** A worker's row in ``workers`` carries ``lease_until``, renewed by a
  heartbeat every third of the lease. A group whose owner's lease ran out is
  free again; whoever claims it reconciles its ``sent``/``ambiguous`` items
  first, exactly as a resumed run does. Every write is *fenced*: it commits
  only while the writer still owns the item's group and its lease is current,
  and a create is cancelled locally before the lease can run out, so a worker
  that stalls or loses the database never sends after another one took over.
* **Schema.** The tables live in one PostgreSQL schema (``dhmad_batch`` by
  default: one batch per schema), created and migrated by :meth:`open` under an
  advisory lock; ``schema_version`` records the version, and a newer version
  than this code knows is refused.

Needs the ``[postgres]`` extra (asyncpg).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import yarl

from dhmad_async.batch._items import PreparedItem
from dhmad_async.batch._journal import (
    ClaimConflict,
    ClaimedGroup,
    JournalDamagedError,
    JournalError,
    JournalRow,
    JournalState,
    JournalStatus,
    JournalUnavailableError,
    LeaseLostError,
    _dumps,
)

if TYPE_CHECKING:  # pragma: no cover
    import asyncpg

__all__ = ["SCHEMA_VERSION", "PostgresJournal"]

#: The schema version this code writes and reads.
SCHEMA_VERSION: Final = 1

_MISSING_EXTRA: Final = (
    "PostgresJournal needs asyncpg; install it with: pip install 'dhmad-async[postgres]'"
)

# States a run may still act on. A retryable failure is sent again by a worker that
# started after it (a later run), never by the worker that recorded it.
_OPEN_STATES: Final = ("pending", "sent", "ambiguous")

# Each migration takes the schema from version n-1 to n; {s} is the quoted schema name.
_MIGRATIONS: Final[dict[int, str]] = {
    1: """
CREATE TABLE {s}.meta (k text PRIMARY KEY, v text NOT NULL);
CREATE TABLE {s}.workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    label text,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    stopped_at timestamptz
);
CREATE TABLE {s}.groups (
    match_key text PRIMARY KEY,
    first_position bigint NOT NULL,
    open boolean NOT NULL DEFAULT true,
    owner text REFERENCES {s}.workers (id),
    claimed_at timestamptz
);
CREATE INDEX groups_open ON {s}.groups (first_position) WHERE open;
CREATE INDEX groups_owner ON {s}.groups (owner) WHERE owner IS NOT NULL;
CREATE TABLE {s}.items (
    key text PRIMARY KEY,
    position bigint NOT NULL,
    fingerprint text NOT NULL,
    match_key text NOT NULL REFERENCES {s}.groups (match_key),
    params text NOT NULL,
    state text NOT NULL CHECK (state IN
        ('pending', 'sent', 'ambiguous', 'created', 'failed', 'needs_review')),
    attempts integer NOT NULL DEFAULT 0,
    floor double precision,
    escrow_id text UNIQUE,
    escrow text,
    reconciled boolean NOT NULL DEFAULT false,
    error text,
    error_type text,
    http_status integer,
    retryable boolean NOT NULL DEFAULT false,
    candidates text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_match_key ON {s}.items (match_key, position, key);
CREATE INDEX items_fingerprint ON {s}.items (fingerprint);
CREATE INDEX items_state ON {s}.items (state);
CREATE TABLE {s}.events (
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    state text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail text,
    worker text
);
CREATE INDEX events_state_at ON {s}.events (state, at);
""",
}


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_MISSING_EXTRA) from exc
    return asyncpg


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password (it may reach logs, reports and error messages)."""
    try:
        url = yarl.URL(dsn)
    except ValueError:  # pragma: no cover - asyncpg refuses it first
        return "postgresql://…"
    if url.password is not None:
        url = url.with_password("***")
    return str(url.with_query(None))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _row(record: Any) -> JournalRow:
    escrow = record["escrow"]
    return JournalRow(
        key=record["key"],
        position=int(record["position"]),
        fingerprint=record["fingerprint"],
        match_key=record["match_key"],
        params=json.loads(record["params"], parse_float=Decimal),
        state=JournalState(record["state"]),
        attempts=int(record["attempts"]),
        floor=record["floor"],
        escrow_id=record["escrow_id"],
        escrow=json.loads(escrow, parse_float=Decimal) if escrow else None,
        reconciled=bool(record["reconciled"]),
        error=record["error"],
        error_type=record["error_type"],
        http_status=record["http_status"],
        retryable=bool(record["retryable"]),
        candidates=tuple(record["candidates"].split()) if record["candidates"] else (),
    )


class PostgresJournal:
    """
    A batch journal in PostgreSQL that several workers (processes, hosts) share.

    ``await PostgresJournal.open(dsn)``; ``await journal.aclose()``. Pass it (or the
    DSN itself) as ``journal=`` to :func:`~dhmad_async.batch.create_many` or
    :func:`~dhmad_async.batch.work`.

    :param dsn: ``postgresql://user[:password]@host[:port]/database``.
    :param schema: The PostgreSQL schema holding this batch's tables (one batch per
        schema; created if missing).
    :param lease: Seconds a worker's claim on its groups lasts without a heartbeat.
        A worker that dies is taken over after at most this long; one that cannot
        renew its lease in time stops sending.
    :param label: Shown by ``batch status`` (e.g. the source address).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "dhmad_batch",
        lease: float = 30.0,
        label: str | None = None,
    ) -> None:
        if not schema:
            raise ValueError("schema must be a non-empty name")
        if not lease > 0:
            raise ValueError(f"lease must be a positive number of seconds, got {lease!r}")
        self._dsn = dsn
        self.schema = schema
        self.lease = lease
        self.label = label
        #: The DSN without its password, and the schema: for messages and reports.
        self.path = f"{_safe_dsn(dsn)}#{schema}"
        self._s = _quote(schema)
        self._pool: asyncpg.Pool | None = None
        self._asyncpg: Any = None
        #: This worker's id in ``workers``, registered on the first claim.
        self.worker_id: str | None = None
        self._started_at: dt.datetime | None = None
        self._deadline = -1.0  # loop time until which our lease certainly holds
        self._lost: str | None = None
        self._guards: set[asyncio.Timeout] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._sql: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<PostgresJournal {self.path!r}>"

    # -- opening and the schema --------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "dhmad_batch",
        lease: float = 30.0,
        label: str | None = None,
        create: bool = True,
    ) -> PostgresJournal:
        """
        Connect, create or migrate the schema, and return the journal.

        ``create=False`` only opens an existing journal (for reading its status):
        a schema without one raises :class:`JournalUnavailableError`.
        """
        journal = cls(dsn, schema=schema, lease=lease, label=label)
        try:
            await journal._open(create=create)
        except BaseException:
            await journal.aclose()
            raise
        return journal

    async def _open(self, *, create: bool = True) -> None:
        asyncpg = self._asyncpg = _import_asyncpg()
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=10, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise JournalUnavailableError(
                f"cannot connect to the journal database {_safe_dsn(self._dsn)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        async with self._conn() as conn, conn.transaction():
            # One opener at a time creates or migrates a schema.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"dhmad_async.batch:{self.schema}"
            )
            if not create and not await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{self._s}.schema_version"
            ):
                raise JournalUnavailableError(
                    f"no batch journal in schema {self.schema!r} of {_safe_dsn(self._dsn)}"
                )
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
            version = await self._version(conn)
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal schema {self.schema!r} has version {version}, newer than this "
                    f"dhmad_async knows ({SCHEMA_VERSION}); upgrade dhmad_async on this host"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                await conn.execute(_MIGRATIONS[target].format(s=self._s))
                await conn.execute(
                    f"INSERT INTO {self._s}.schema_version (version) VALUES ($1)", target
                )

    async def _version(self, conn: Any) -> int:
        has_version = await conn.fetchval(
            "SELECT to_regclass($1) IS NOT NULL", f"{self._s}.schema_version"
        )
        if has_version:
            return int(
                await conn.fetchval(
                    f"SELECT coalesce(max(version), 0) FROM {self._s}.schema_version"
                )
            )
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1", self.schema
        )
        if tables:
            raise JournalDamagedError(
                f"PostgreSQL schema {self.schema!r} holds tables but no batch journal "
                "(no schema_version table); give another schema"
            )
        await conn.execute(
            f"CREATE TABLE {self._s}.schema_version ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        return 0

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        """A pooled connection; a lost database becomes JournalUnavailableError."""
        if self._pool is None:
            raise RuntimeError("the journal is closed")
        asyncpg = self._asyncpg
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise JournalUnavailableError(
                f"lost the journal database {_safe_dsn(self._dsn)}: {type(exc).__name__}: {exc}"
            ) from None

    async def aclose(self) -> None:
        """Give this worker's groups back, end its lease, and close. Idempotent."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            if self.worker_id is not None:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(self._release_sql("owner = $1"), self.worker_id)
                    await conn.execute(
                        f"UPDATE {self._s}.workers SET stopped_at = now(), lease_until = now()"
                        " WHERE id = $1",
                        self.worker_id,
                    )
        except Exception:  # the lease runs out by itself: others take over then
            pass
        finally:
            await pool.close()

    # -- leases ------------------------------------------------------------------------------------

    async def _join(self) -> None:
        """Register this worker and start its heartbeat (on the first claim)."""
        loop = asyncio.get_running_loop()
        worker = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        started = loop.time()
        async with self._conn() as conn:
            self._started_at = await conn.fetchval(
                f"INSERT INTO {self._s}.workers (id, host, pid, label, lease_until)"
                " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
                " RETURNING started_at",
                worker,
                socket.gethostname(),
                os.getpid(),
                self.label,
                self.lease,
            )
        self.worker_id = worker
        self._extend(started)
        self._heartbeat = asyncio.create_task(self._beat(), name="dhmad-journal-heartbeat")

    def _extend(self, asked_at: float) -> None:
        # The database set lease_until = its now() + lease, and its now() is no earlier
        # than our asking; a tenth of the lease covers clock-rate differences.
        self._deadline = asked_at + self.lease * 0.9
        for guard in self._guards:
            guard.reschedule(self._deadline)

    def _lose(self, reason: str) -> None:
        self._lost = reason
        self._deadline = -1.0
        now = asyncio.get_running_loop().time()
        for guard in self._guards:
            guard.reschedule(now)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.lease / 3)
            asked = loop.time()
            try:
                async with self._conn() as conn:
                    renewed = await conn.fetchval(
                        f"UPDATE {self._s}.workers SET heartbeat_at = now(),"
                        " lease_until = now() + make_interval(secs => $2)"
                        " WHERE id = $1 AND lease_until > now() AND stopped_at IS NULL"
                        " RETURNING 1",
                        self.worker_id,
                        self.lease,
                    )
            except (JournalUnavailableError, OSError, TimeoutError):
                if loop.time() >= self._deadline:
                    self._lose("the database did not answer the heartbeat in time")
                    return
                continue  # try again; the guards fire by themselves at the deadline
            if renewed is None:
                self._lose("the lease had already run out")
                return
            self._extend(asked)

    @contextlib.asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """Run one create; cancel it and raise LeaseLostError if the lease may run out."""
        loop = asyncio.get_running_loop()
        if self._lost is not None or loop.time() >= self._deadline:
            raise LeaseLostError(self._lost or "the lease ran out before the create was sent")
        timeout = asyncio.timeout_at(self._deadline)
        try:
            async with timeout:
                self._guards.add(timeout)
                try:
                    yield
                finally:
                    self._guards.discard(timeout)
        except TimeoutError:
            if timeout.expired():
                raise LeaseLostError(
                    self._lost or "the lease could not be renewed in time; the create was cancelled"
                ) from None
            raise

    def _check_lease(self) -> str:
        if self.worker_id is None:
            raise RuntimeError("claim() first: only a worker holding a group may change it")
        if self._lost is not None:
            raise LeaseLostError(self._lost)
        return self.worker_id

    # -- registering items -------------------------------------------------------------------------

    async def register(self, items: Iterable[PreparedItem]) -> dict[str, JournalRow | str]:
        """
        Record the intent of every valid item; return each key's row, or a conflict message.

        The same rules as the SQLite journal, and one more: an item whose group a live
        worker holds keeps its parameters (that worker may be sending it).
        """
        batch = list(items)
        if not batch:
            return {}
        s = self._s
        out: dict[str, JournalRow | str] = {}
        keys = [item.key for item in batch]
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"dhmad_async.register:{self.schema}"
            )
            existing = {
                r["key"]: r
                for r in await conn.fetch(f"SELECT * FROM {s}.items WHERE key = ANY($1)", keys)
            }
            fingerprints = list({item.fingerprint for item in batch if item.key not in existing})
            by_fingerprint: dict[str, list[tuple[str, str]]] = {}
            for r in await conn.fetch(
                f"SELECT key, state, fingerprint FROM {s}.items WHERE fingerprint = ANY($1)"
                " AND state NOT IN ('pending', 'failed')",
                fingerprints,
            ):
                by_fingerprint.setdefault(r["fingerprint"], []).append((r["key"], r["state"]))
            held = {
                r["match_key"]
                for r in await conn.fetch(
                    f"SELECT g.match_key FROM {s}.groups g JOIN {s}.workers w ON w.id = g.owner"
                    " WHERE w.lease_until > now() AND g.match_key = ANY($1)",
                    list(
                        {item.match_key for item in batch}
                        | {r["match_key"] for r in existing.values()}
                    ),
                )
            }
            input_keys = set(keys)
            inserts: list[PreparedItem] = []
            changes: list[PreparedItem] = []
            moves: list[tuple[int, str]] = []
            for item in batch:
                assert item.wire is not None
                row = existing.get(item.key)
                if row is None:
                    conflict = _kind_switch(
                        item, by_fingerprint.get(item.fingerprint, ()), input_keys
                    )
                    if conflict is not None:
                        out[item.key] = conflict
                    else:
                        inserts.append(item)
                elif row["fingerprint"] != item.fingerprint:
                    if row["state"] not in ("pending", "failed"):
                        out[item.key] = (
                            f"external_key {item.key!r} is already in the journal "
                            f"({row['state']}) with different parameters; not sent"
                        )
                    elif row["match_key"] in held or item.match_key in held:
                        out[item.key] = (
                            f"external_key {item.key!r} has new parameters, but a worker is "
                            "working its group right now; not changed, try again when it is done"
                        )
                    else:
                        changes.append(item)
                elif row["position"] != item.position:
                    moves.append((item.position, item.key))
            touched = inserts + changes
            if touched:
                await conn.executemany(
                    f"INSERT INTO {s}.groups (match_key, first_position) VALUES ($1, $2)"
                    " ON CONFLICT (match_key) DO UPDATE SET open = true,"
                    " first_position = least(groups.first_position, excluded.first_position)",
                    sorted({(i.match_key, i.position) for i in touched}),
                )
            if inserts:
                await conn.executemany(
                    f"INSERT INTO {s}.items (key, position, fingerprint, match_key, params, state)"
                    " VALUES ($1, $2, $3, $4, $5, 'pending')",
                    [
                        (i.key, i.position, i.fingerprint, i.match_key, _dumps(i.wire))
                        for i in inserts
                    ],
                )
                await conn.executemany(
                    f"INSERT INTO {s}.events (key, state, detail) VALUES ($1, 'pending', 'intent')",
                    [(i.key,) for i in inserts],
                )
            if changes:
                await conn.executemany(
                    f"UPDATE {s}.items SET fingerprint = $2, match_key = $3, params = $4,"
                    " position = $5, state = 'pending', updated_at = now() WHERE key = $1",
                    [
                        (i.key, i.fingerprint, i.match_key, _dumps(i.wire), i.position)
                        for i in changes
                    ],
                )
                await conn.executemany(
                    f"INSERT INTO {s}.events (key, state, detail)"
                    " VALUES ($1, 'pending', 'parameters changed')",
                    [(i.key,) for i in changes],
                )
            if moves:
                await conn.executemany(f"UPDATE {s}.items SET position = $1 WHERE key = $2", moves)
            recorded = [k for k in keys if k not in out]
            for r in await conn.fetch(f"SELECT * FROM {s}.items WHERE key = ANY($1)", recorded):
                out[r["key"]] = _row(r)
        return out

    # -- claiming work -----------------------------------------------------------------------------

    def _workable_sql(self, alias: str) -> str:
        """Items of group ``g`` that a run may act on, within scope $3 (NULL: all)."""
        return (
            f"EXISTS (SELECT 1 FROM {self._s}.items {alias} WHERE {alias}.match_key = g.match_key"
            f" AND ($3::text[] IS NULL OR {alias}.key = ANY($3::text[]))"
            f" AND ({alias}.state IN ('pending', 'sent', 'ambiguous')"
            f" OR ({alias}.state = 'failed' AND {alias}.retryable AND {alias}.updated_at < $4)))"
        )

    async def claim(
        self, scope: frozenset[str] | None, exclude: set[str], limit: int
    ) -> list[ClaimedGroup]:
        """
        Take up to ``limit`` free groups with workable items of ``scope`` (None: all).

        A group is free when nobody owns it or its owner's lease ran out. Rows are
        locked with ``FOR UPDATE SKIP LOCKED``, so workers claiming at once never
        wait for each other and never get the same group.
        """
        if self.worker_id is None:
            await self._join()
        worker = self._check_lease()
        s = self._s
        scope_list = sorted(scope) if scope is not None else None
        async with self._conn() as conn, conn.transaction():
            keys = await conn.fetch(
                f"WITH free AS ("
                f" SELECT g.match_key FROM {s}.groups g"
                " WHERE g.open AND NOT (g.match_key = ANY($2::text[]))"
                f" AND (g.owner IS NULL OR NOT EXISTS (SELECT 1 FROM {s}.workers w"
                "      WHERE w.id = g.owner AND w.lease_until > now() AND w.stopped_at IS NULL))"
                f" AND {self._workable_sql('i')}"
                f" AND EXISTS (SELECT 1 FROM {s}.workers m"
                " WHERE m.id = $1 AND m.lease_until > now())"
                " ORDER BY g.first_position LIMIT $5"
                " FOR UPDATE OF g SKIP LOCKED)"
                f" UPDATE {s}.groups SET owner = $1, claimed_at = now() FROM free"
                " WHERE groups.match_key = free.match_key RETURNING groups.match_key",
                worker,
                sorted(exclude),
                scope_list,
                self._started_at,
                max(1, limit),
            )
            match_keys = [r["match_key"] for r in keys]
            if not match_keys:
                return []
            records = await conn.fetch(
                f"SELECT * FROM {s}.items WHERE match_key = ANY($1) ORDER BY position, key",
                match_keys,
            )
        by_group: dict[str, list[JournalRow]] = {}
        updated: dict[str, dt.datetime] = {}
        for record in records:
            row = _row(record)
            by_group.setdefault(row.match_key, []).append(row)
            updated[row.key] = record["updated_at"]
        out: list[ClaimedGroup] = []
        for match_key in match_keys:
            rows = by_group.get(match_key, [])

            def workable(row: JournalRow) -> bool:
                if row.state in (JournalState.PENDING, JournalState.SENT, JournalState.AMBIGUOUS):
                    return True
                started = self._started_at
                return (
                    row.state is JournalState.FAILED
                    and row.retryable
                    and started is not None
                    and updated[row.key] < started
                )

            mine = [r for r in rows if (scope is None or r.key in scope) and workable(r)]
            unsettled = any(
                r.state is JournalState.NEEDS_REVIEW
                or (
                    r.state in (JournalState.SENT, JournalState.AMBIGUOUS)
                    and scope is not None
                    and r.key not in scope
                )
                for r in rows
            )
            out.append(ClaimedGroup(match_key=match_key, rows=tuple(mine), unsettled=unsettled))
        return out

    def _release_sql(self, where: str) -> str:
        s = self._s
        return (
            f"UPDATE {s}.groups SET owner = NULL, claimed_at = NULL, open = EXISTS ("
            f"SELECT 1 FROM {s}.items i WHERE i.match_key = groups.match_key"
            " AND (i.state IN ('pending', 'sent', 'ambiguous') OR (i.state = 'failed'"
            f" AND i.retryable))) WHERE {where}"
        )

    async def release(self, match_key: str) -> None:
        """Give a group back; other workers may claim it if it still has work."""
        if self.worker_id is None:
            return
        async with self._conn() as conn:
            await conn.execute(
                self._release_sql("match_key = $1 AND owner = $2"), match_key, self.worker_id
            )

    async def waiting(self, scope: frozenset[str] | None, exclude: set[str]) -> int:
        """Groups with workable items of ``scope`` that another live worker holds now."""
        s = self._s
        async with self._conn() as conn:
            return int(
                await conn.fetchval(
                    f"SELECT count(*) FROM {s}.groups g JOIN {s}.workers w ON w.id = g.owner"
                    " WHERE g.open AND g.owner <> $1 AND NOT (g.match_key = ANY($2::text[]))"
                    " AND w.lease_until > now() AND w.stopped_at IS NULL"
                    f" AND {self._workable_sql('i')}",
                    self.worker_id or "",
                    sorted(exclude),
                    sorted(scope) if scope is not None else None,
                    self._started_at,
                )
            )

    # -- fenced writes -----------------------------------------------------------------------------

    async def _change(
        self, key: str, state: JournalState, detail: str | None, assignments: str, *values: Any
    ) -> None:
        """
        One change of one item, with its event, in one statement: only while this worker
        owns the item's group and its lease is current (``FOR SHARE`` on the group row
        keeps a claimer from taking the group over in between).
        """
        worker = self._check_lease()
        s = self._s
        sql = self._sql.get(assignments)
        if sql is None:
            sql = self._sql[assignments] = (
                f"WITH fence AS (SELECT g.match_key FROM {s}.groups g"
                f" JOIN {s}.workers w ON w.id = g.owner"
                f" WHERE g.match_key = (SELECT match_key FROM {s}.items WHERE key = $1)"
                " AND g.owner = $2 AND w.lease_until > now() FOR SHARE OF g),"
                f" upd AS (UPDATE {s}.items SET state = $3, updated_at = now()"
                f"{', ' if assignments else ''}{assignments}"
                " WHERE key = $1 AND EXISTS (SELECT 1 FROM fence) RETURNING key),"
                f" ev AS (INSERT INTO {s}.events (key, state, detail, worker)"
                " SELECT key, $3, $4, $2 FROM upd)"
                " SELECT count(*) FROM upd"
            )
        async with self._conn() as conn:
            try:
                changed = await conn.fetchval(sql, key, worker, str(state), detail, *values)
            except self._asyncpg.UniqueViolationError:
                raise ClaimConflict(values[0] if values else key) from None
            if changed:
                return
            why = await conn.fetchrow(
                f"SELECT g.owner, (SELECT lease_until > now() FROM {s}.workers WHERE id = $2)"
                f" AS alive FROM {s}.items i JOIN {s}.groups g ON g.match_key = i.match_key"
                " WHERE i.key = $1",
                key,
                worker,
            )
        if why is None:
            raise KeyError(key)
        reason = (
            "this worker's lease ran out"
            if not why["alive"]
            else f"its group is now held by worker {why['owner']}"
        )
        self._lose(f"could not record item {key!r}: {reason}")
        raise LeaseLostError(self._lost)

    async def mark_sent(self, key: str, floor: float) -> None:
        """Commit "about to send" (before the request leaves); keeps the earliest floor."""
        await self._change(
            key,
            JournalState.SENT,
            None,
            "floor = least(coalesce(floor, $5), $5), attempts = attempts + 1",
            floor,
        )

    async def mark_created(
        self, key: str, escrow_id: str, escrow: Mapping[str, Any] | None, *, reconciled: bool
    ) -> None:
        """Record the item's escrow; :class:`ClaimConflict` if another item holds that id."""
        await self._change(
            key,
            JournalState.CREATED,
            escrow_id,
            "escrow_id = $5, escrow = $6, reconciled = $7, error = NULL, error_type = NULL,"
            " http_status = NULL, retryable = false, candidates = ''",
            escrow_id,
            _dumps(escrow) if escrow is not None else None,
            reconciled,
        )

    async def mark_ambiguous(
        self, key: str, error: str, error_type: str, status: int | None
    ) -> None:
        """The answer proved nothing: reconcile before sending again."""
        await self._change(
            key,
            JournalState.AMBIGUOUS,
            error,
            "error = $5, error_type = $6, http_status = $7",
            error,
            error_type,
            status,
        )

    async def mark_failed(
        self, key: str, error: str, error_type: str, status: int | None, *, retryable: bool
    ) -> None:
        """A definite failure: nothing was created. The floor is cleared."""
        await self._change(
            key,
            JournalState.FAILED,
            error,
            "error = $5, error_type = $6, http_status = $7, retryable = $8, floor = NULL",
            error,
            error_type,
            status,
            retryable,
        )

    async def mark_absent(self, key: str) -> None:
        """Reconciliation proved no escrow exists for the item: it may be sent again."""
        await self._change(key, JournalState.PENDING, "absent after reconciliation", "floor = NULL")

    async def mark_needs_review(
        self, key: str, error: str, error_type: str, candidates: tuple[str, ...] = ()
    ) -> None:
        """Nothing could be proven either way (see ``error_type``): a human must look."""
        await self._change(
            key,
            JournalState.NEEDS_REVIEW,
            error,
            "error = $5, error_type = $6, candidates = $7",
            error,
            error_type,
            " ".join(candidates),
        )

    # -- reads -------------------------------------------------------------------------------------

    async def claimed_ids(self) -> set[str]:
        """Every escrow id recorded for an item (by any worker)."""
        async with self._conn() as conn:
            records = await conn.fetch(
                f"SELECT escrow_id FROM {self._s}.items WHERE escrow_id IS NOT NULL"
            )
        return {r["escrow_id"] for r in records}

    async def own_escrow_ids(self, limit: int = 3) -> list[str]:
        """Escrows of created items sent without ``sellerEmail`` (the associated user sells)."""
        async with self._conn() as conn:
            records = await conn.fetch(
                f"SELECT escrow_id, params FROM {self._s}.items WHERE state = 'created'"
                " ORDER BY updated_at DESC LIMIT 200"
            )
        out = [r["escrow_id"] for r in records if not json.loads(r["params"]).get("sellerEmail")]
        return out[:limit]

    async def rows(self) -> list[JournalRow]:
        """Every item, in input order."""
        async with self._conn() as conn:
            records = await conn.fetch(f"SELECT * FROM {self._s}.items ORDER BY position, key")
        return [_row(r) for r in records]

    async def rows_for(self, keys: Iterable[str]) -> dict[str, JournalRow]:
        """The journal's rows for ``keys`` (those that exist)."""
        async with self._conn() as conn:
            records = await conn.fetch(
                f"SELECT * FROM {self._s}.items WHERE key = ANY($1)", list(keys)
            )
        return {r["key"]: _row(r) for r in records}

    async def events(self, key: str) -> list[dict[str, Any]]:
        """The history of one item: state, time, detail and worker of every change."""
        async with self._conn() as conn:
            records = await conn.fetch(
                f"SELECT state, at, detail, worker FROM {self._s}.events WHERE key = $1"
                " ORDER BY id",
                key,
            )
        return [dict(r) for r in records]

    async def get_meta(self, name: str) -> str | None:
        """A value stored with :meth:`set_meta`."""
        async with self._conn() as conn:
            value = await conn.fetchval(f"SELECT v FROM {self._s}.meta WHERE k = $1", name)
        return None if value is None else str(value)

    async def set_meta(self, name: str, value: str) -> None:
        """Store a small value shared by every worker (e.g. the server clock offset)."""
        async with self._conn() as conn:
            await conn.execute(
                f"INSERT INTO {self._s}.meta (k, v) VALUES ($1, $2)"
                " ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                name,
                value,
            )

    async def status(self, window: float = 60.0) -> JournalStatus:
        """Items per state, throughput over the last ``window`` seconds, and every worker."""
        s = self._s
        async with self._conn() as conn:
            counts = {str(state): 0 for state in JournalState}
            for r in await conn.fetch(f"SELECT state, count(*) AS n FROM {s}.items GROUP BY state"):
                counts[r["state"]] = int(r["n"])
            rates: Any = await conn.fetchrow(
                f"SELECT (SELECT count(*) FROM {s}.events WHERE state = 'created'"
                " AND at >= now() - make_interval(secs => $1)) AS recent,"
                f" (SELECT extract(epoch FROM min(at)) FROM {s}.events WHERE state = 'sent')"
                " AS first_sent,"
                f" (SELECT extract(epoch FROM max(at)) FROM {s}.events WHERE state = 'created')"
                " AS last_created",
                window,
            )
            workers = await conn.fetch(
                f"SELECT w.id, w.host, w.pid, w.label, w.stopped_at IS NOT NULL AS stopped,"
                " (w.lease_until > now() AND w.stopped_at IS NULL) AS alive,"
                " extract(epoch FROM now() - w.heartbeat_at) AS heartbeat_age,"
                f" (SELECT count(*) FROM {s}.groups g WHERE g.owner = w.id) AS groups"
                f" FROM {s}.workers w ORDER BY w.started_at"
            )
        overall = 0.0
        first, last = rates["first_sent"], rates["last_created"]
        if first is not None and last is not None and last > first:
            overall = counts["created"] / float(last - first)
        return JournalStatus(
            name=self.path,
            counts=counts,
            recent_rate=int(rates["recent"]) / window,
            window=window,
            overall_rate=overall,
            workers=tuple(
                {
                    "id": w["id"],
                    "host": w["host"],
                    "pid": w["pid"],
                    "label": w["label"],
                    "alive": bool(w["alive"]),
                    "stopped": bool(w["stopped"]),
                    "heartbeat_age": float(w["heartbeat_age"]),
                    "groups": int(w["groups"]),
                }
                for w in workers
            ),
        )


def _kind_switch(
    item: PreparedItem, same_content: Sequence[tuple[str, str]], keys: set[str]
) -> str | None:
    """The SQLite journal's rule: the same content under the other kind of key is a conflict."""
    auto = item.key.startswith("auto-")
    for key, state in same_content:
        if key not in keys and key.startswith("auto-") != auto:
            return (
                f"an item with the same content is in the journal under key {key!r} "
                f"({state}), and this run names items by "
                f"{'content' if auto else 'external_key'} instead: not sent, it could be "
                "a second escrow for that item; use the keys of the first run, or a new "
                "journal for new orders"
            )
    return None
