"""
What the batch needs from a client and from a journal, as protocols. Pure.

The batch is handed a client and never imports the client module: ``DhmadClient``
builds resources, ``client.escrows.create_many`` builds a batch run, and the run
only talks back through this narrow surface. That keeps the import graph one-way
(``_client`` → ``resources`` → ``batch``) and lets tests hand in a fake.

:class:`BatchJournal` is what the run needs from a journal: the SQLite
:class:`~dhmad_async.batch.Journal` (one process) and
:class:`~dhmad_async.batch.PostgresJournal` (workers on several hosts) both are one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from dhmad_async._clock import Clock
    from dhmad_async.batch._items import PreparedItem
    from dhmad_async.batch._journal import ClaimedGroup, JournalRow, JournalStatus
    from dhmad_async.resources.escrows import Escrows

__all__ = ["BatchClient", "BatchJournal", "EscrowsBinding"]


class BatchClient(Protocol):
    """The parts of :class:`~dhmad_async.DhmadClient` a batch run uses."""

    @property
    def escrows(self) -> Escrows:
        """Creates, reconciliation lists and confirming reads go through here."""
        ...

    @property
    def clock(self) -> Clock:
        """The client's clock: pacing, settle delays and server-time floors."""
        ...

    @property
    def max_connections(self) -> int | None:
        """The pool size, which bounds how many creates may be in flight."""
        ...


@attrs.frozen
class EscrowsBinding:
    """A :class:`BatchClient` made from an escrows resource and what its client knows."""

    escrows: Escrows
    clock: Clock
    max_connections: int | None


class BatchJournal(Protocol):
    """
    What a batch run needs from its journal.

    Every ``mark_*`` is one committed change with an ``events`` row; ``mark_sent``
    is committed before the request leaves. A shared journal fences them: once
    this worker's lease ran out they raise
    :class:`~dhmad_async.batch.LeaseLostError` instead of writing.
    """

    @property
    def path(self) -> str:
        """A name for messages and reports (a file path, or a DSN without its password)."""
        ...

    async def register(self, items: Iterable[PreparedItem]) -> dict[str, JournalRow | str]:
        """Record every item's intent; each key's row, or why it conflicts with the journal."""
        ...

    async def claim(
        self, scope: frozenset[str] | None, exclude: set[str], limit: int
    ) -> list[ClaimedGroup]:
        """Take up to ``limit`` groups with workable items of ``scope`` (None: all)."""
        ...

    async def release(self, match_key: str) -> None:
        """Give a claimed group back: this run has finished with it."""
        ...

    async def waiting(self, scope: frozenset[str] | None, exclude: set[str]) -> int:
        """Groups with workable items that cannot be claimed now (another worker has them)."""
        ...

    def sending(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wraps one create: raises LeaseLostError (cancelling it) if the lease runs out."""
        ...

    async def mark_sent(self, key: str, floor: float) -> None: ...

    async def mark_created(
        self, key: str, escrow_id: str, escrow: Mapping[str, Any] | None, *, reconciled: bool
    ) -> None: ...

    async def mark_ambiguous(
        self, key: str, error: str, error_type: str, status: int | None
    ) -> None: ...

    async def mark_failed(
        self, key: str, error: str, error_type: str, status: int | None, *, retryable: bool
    ) -> None: ...

    async def mark_absent(self, key: str) -> None: ...

    async def mark_needs_review(
        self, key: str, error: str, error_type: str, candidates: tuple[str, ...] = ()
    ) -> None: ...

    async def claimed_ids(self) -> set[str]:
        """Every escrow id an item of the journal holds."""
        ...

    async def own_escrow_ids(self, limit: int = 3) -> list[str]:
        """Escrows of created items sent without ``sellerEmail``."""
        ...

    async def rows(self) -> list[JournalRow]:
        """Every item, in input order."""
        ...

    async def rows_for(self, keys: Iterable[str]) -> dict[str, JournalRow]:
        """The rows of ``keys``."""
        ...

    async def get_meta(self, name: str) -> str | None: ...

    async def set_meta(self, name: str, value: str) -> None: ...

    async def status(self, window: float = 60.0) -> JournalStatus:
        """Items per state, throughput and workers."""
        ...

    async def aclose(self) -> None: ...
