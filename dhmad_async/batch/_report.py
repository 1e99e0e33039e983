"""
Batch outcomes and the report: one outcome per item, in input order, and CSV / JSON Lines output.

Pure apart from :meth:`BatchReport.write`, which writes one local file.
"""

from __future__ import annotations

import csv
import enum
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from dhmad_async.models import Escrow

__all__ = ["BatchProgress", "BatchReport", "ItemOutcome", "OutcomeStatus"]


class OutcomeStatus(enum.StrEnum):
    """What happened to one item."""

    #: The escrow exists (created now, earlier, or found by reconciliation).
    CREATED = "created"
    #: A definite error; nothing was created (see ``retryable``).
    FAILED = "failed"
    #: Could not be proven either way; look at ``candidates`` and the journal.
    NEEDS_REVIEW = "needs_review"


@attrs.frozen(kw_only=True)
class ItemOutcome:
    """The outcome of one item."""

    position: int
    external_key: str
    status: OutcomeStatus
    escrow_id: str | None = None
    escrow: Escrow | None = attrs.field(default=None, repr=False)
    #: The error message (API message and field details), for failed and needs_review.
    error: str | None = None
    error_type: str | None = None
    http_status: int | None = None
    #: For ``failed``: a later run with the same journal will send this item again.
    retryable: bool = False
    #: Requests sent for this item, over every run.
    attempts: int = 0
    #: True when the escrow was found by reconciliation rather than a response.
    reconciled: bool = False
    #: Unclaimed escrows that matched an ambiguous create (needs_review).
    candidates: tuple[str, ...] = ()
    #: True when the outcome was read from the journal: already final before this run,
    #: or finished by another worker sharing the journal.
    from_journal: bool = False

    def to_row(self) -> dict[str, Any]:
        """A flat dict for CSV / JSON Lines reports."""
        return {
            "position": self.position,
            "external_key": self.external_key,
            "status": str(self.status),
            "escrow_id": self.escrow_id or "",
            "error": self.error or "",
            "error_type": self.error_type or "",
            "http_status": self.http_status if self.http_status is not None else "",
            "retryable": self.retryable,
            "attempts": self.attempts,
            "reconciled": self.reconciled,
            "candidates": " ".join(self.candidates),
            "from_journal": self.from_journal,
        }


_ROW_COLUMNS = (
    "position",
    "external_key",
    "status",
    "escrow_id",
    "error",
    "error_type",
    "http_status",
    "retryable",
    "attempts",
    "reconciled",
    "candidates",
    "from_journal",
)


@attrs.frozen(kw_only=True)
class BatchProgress:
    """A snapshot passed to ``on_progress`` after every outcome."""

    total: int
    done: int
    created: int
    failed: int
    needs_review: int
    #: Requests sent so far in this run (creates and reconciliation lists).
    requests: int
    #: Items already final in the journal when this run began (included in ``done``):
    #: a resumed run reports them at once, so rates and ETAs must leave them out.
    resumed: int = 0
    #: Creates this run sent (re-sends after a proven absence included).
    sends: int = 0

    @property
    def done_this_run(self) -> int:
        """Items this run finished (``done`` without the resumed ones)."""
        return self.done - self.resumed


@attrs.frozen(kw_only=True)
class BatchReport:
    """One :class:`ItemOutcome` per input item, in input order."""

    outcomes: tuple[ItemOutcome, ...]
    journal_path: str | None = None
    #: Why the run stopped early (e.g. an authentication error), or None.
    stopped: str | None = None

    def __iter__(self) -> Iterator[ItemOutcome]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def counts(self) -> dict[str, int]:
        """Outcomes per status, every status present."""
        counter = Counter(str(o.status) for o in self.outcomes)
        return {str(status): counter.get(str(status), 0) for status in OutcomeStatus}

    @property
    def created(self) -> list[ItemOutcome]:
        """The items whose escrow exists."""
        return [o for o in self.outcomes if o.status is OutcomeStatus.CREATED]

    @property
    def failed(self) -> list[ItemOutcome]:
        """The items that definitely failed."""
        return [o for o in self.outcomes if o.status is OutcomeStatus.FAILED]

    @property
    def needs_review(self) -> list[ItemOutcome]:
        """The items that could not be proven either way."""
        return [o for o in self.outcomes if o.status is OutcomeStatus.NEEDS_REVIEW]

    @property
    def ok(self) -> bool:
        """True when every item's escrow exists."""
        return all(o.status is OutcomeStatus.CREATED for o in self.outcomes)

    def write(self, path: str | Path) -> None:
        """Write the report as CSV (``.csv``) or JSON Lines (anything else); file I/O."""
        write_rows(path, [o.to_row() for o in self.outcomes])


#: What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """
    A report value safe to open in a spreadsheet: text that starts like a formula gets a ``'``.

    Error messages and keys come from input files and the server, so ``=HYPERLINK(…)``
    in one must not run in the reader's spreadsheet. Only text is touched, never a
    number the report writes (``http_status``, ``attempts``); the one ``'`` added is
    the whole change, so removing a leading ``'`` from such a cell gives the original
    (``'-42`` was ``-42``).
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """
    Write report rows to ``path``; the suffix picks CSV or JSON Lines.

    CSV cells are neutralised against formula injection (:func:`neutralise_cell`);
    JSON Lines keep every value exactly.
    """
    file = Path(path)
    if file.suffix.lower() == ".csv":
        with file.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(_ROW_COLUMNS))
            writer.writeheader()
            writer.writerows(
                {name: neutralise_cell(value) for name, value in row.items()} for row in rows
            )
        return
    with file.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")
