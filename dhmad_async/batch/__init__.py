"""
High-volume escrow creation: ``client.escrows.create_many(items)``.

A journal records every item's intent before it is sent, so a run can be
killed at any moment and resumed: SQLite for one process, PostgreSQL
(:class:`PostgresJournal`, the ``[postgres]`` extra) for workers on several
hosts. Creates whose outcome is unknown are found again on the server
(reconciliation) instead of being re-sent blindly. See
``docs/batch.md``. Importing this package does no I/O.
"""

from __future__ import annotations

import typing

from dhmad_async.batch._items import BatchItem, read_items
from dhmad_async.batch._journal import (
    Journal,
    JournalBusyError,
    JournalDamagedError,
    JournalError,
    JournalRow,
    JournalState,
    JournalStatus,
    JournalUnavailableError,
    LeaseLostError,
)
from dhmad_async.batch._protocols import BatchJournal
from dhmad_async.batch._report import BatchProgress, BatchReport, ItemOutcome, OutcomeStatus
from dhmad_async.batch._runner import (
    BatchOptions,
    BatchRun,
    EnqueueResult,
    create_many,
    enqueue,
    work,
)

if typing.TYPE_CHECKING:  # pragma: no cover
    from dhmad_async.batch._postgres import PostgresJournal

__all__ = [
    "BatchItem",
    "BatchJournal",
    "BatchOptions",
    "BatchProgress",
    "BatchReport",
    "BatchRun",
    "EnqueueResult",
    "ItemOutcome",
    "Journal",
    "JournalBusyError",
    "JournalDamagedError",
    "JournalError",
    "JournalRow",
    "JournalState",
    "JournalStatus",
    "JournalUnavailableError",
    "LeaseLostError",
    "OutcomeStatus",
    "PostgresJournal",
    "create_many",
    "enqueue",
    "read_items",
    "work",
]


def __getattr__(name: str) -> typing.Any:
    # asyncpg is an optional extra: load the PostgreSQL journal only when it is asked for.
    if name == "PostgresJournal":
        from dhmad_async.batch._postgres import PostgresJournal

        globals()[name] = PostgresJournal
        return PostgresJournal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"PostgresJournal"})
