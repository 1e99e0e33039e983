"""
High-volume escrow creation: ``client.escrows.create_many(items)``.

A SQLite journal records every item's intent before it is sent, so a run can be
killed at any moment and resumed; creates whose outcome is unknown are found
again on the server (reconciliation) instead of being re-sent blindly. See
``docs/batch.md``. Importing this package does no I/O.
"""

from __future__ import annotations

from dhmad_async.batch._items import BatchItem, read_items
from dhmad_async.batch._journal import (
    Journal,
    JournalBusyError,
    JournalDamagedError,
    JournalError,
    JournalRow,
    JournalState,
)
from dhmad_async.batch._report import BatchProgress, BatchReport, ItemOutcome, OutcomeStatus
from dhmad_async.batch._runner import BatchOptions, BatchRun, create_many

__all__ = [
    "BatchItem",
    "BatchOptions",
    "BatchProgress",
    "BatchReport",
    "BatchRun",
    "ItemOutcome",
    "Journal",
    "JournalBusyError",
    "JournalDamagedError",
    "JournalError",
    "JournalRow",
    "JournalState",
    "OutcomeStatus",
    "create_many",
    "read_items",
]
