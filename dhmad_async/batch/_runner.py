"""
``create_many``: send many creates at the client's rate limit, journalled and reconciled.

I/O: HTTP through the client (creates and reconciliation lists) and the journal
(SQLite, or PostgreSQL shared by workers on several hosts). Pacing is the
client's limiter (local or :class:`RedisRateLimit`): a 429 seen by any task
pauses every task there. This module only bounds how many creates are in
flight, so the connection pool never overflows.

Work is handed out by the journal one match group at a time (:meth:`claim`):
the SQLite journal hands every group to its one process at once, the PostgreSQL
journal a few at a time to whichever worker asks, under that worker's lease.

Items with the same normalised title and amount may be indistinguishable on the
server (the documented list shows no emails, currency or mode), so each such
group is sent one item at a time, and a group waits while one of its items is
being reconciled. An escrow is re-sent only when the list proves it absent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from dhmad_async._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DhmadError,
    RateLimitError,
    RateLimiterUnavailableError,
    ResponseValidationError,
)
from dhmad_async._serialization import structure, unstructure
from dhmad_async.batch._items import PreparedItem, prepare_items
from dhmad_async.batch._journal import (
    ClaimConflict,
    ClaimedGroup,
    Journal,
    JournalRow,
    JournalState,
    LeaseLostError,
)
from dhmad_async.batch._reconcile import Pending, Verdict, party_emails, reconcile
from dhmad_async.batch._report import BatchProgress, BatchReport, ItemOutcome, OutcomeStatus
from dhmad_async.models import Escrow
from dhmad_async.resources import EscrowParams, InvalidParamsError

if TYPE_CHECKING:
    from dhmad_async.batch._protocols import BatchClient, BatchJournal

__all__ = [
    "BatchOptions",
    "BatchRun",
    "EnqueueResult",
    "create_many",
    "enqueue",
    "open_journal",
    "work",
]

_log = logging.getLogger("dhmad_async.batch")

# Statuses after which a later run may send the item again: nothing was created
# and the condition may pass.
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 502, 503, 504})
_OFFSET_META = "server_offset"
_ASSOCIATED_META = "associated_email"
# 429s (after the client's own retries) one item may meet in one run before it is
# reported failed (retryable): the limiter pauses every task meanwhile.
_MAX_RATE_LIMITED = 20


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _positive_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _email_or_none(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or "@" not in value):
        raise ValueError(f"{attribute.name} must be an email address, got {value!r}")


IfNotFound = Literal["resend_if_proven", "resend", "review"]


def _if_not_found(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("resend_if_proven", "resend", "review"):
        raise ValueError(
            f"{attribute.name} must be 'resend_if_proven', 'resend' or 'review', got {value!r}"
        )


@attrs.frozen(kw_only=True)
class BatchOptions:
    """
    Tuning for :func:`create_many`; the defaults suit the documented 100/min limit.

    Args:
        max_sends: Creates per item per run: the first and re-sends after
            reconciliation proved nothing was created.
        settle: Seconds to wait after an ambiguous attempt before looking for
            its escrow, so a request still being processed can land first.
        clock_skew: Seconds subtracted from an attempt's start when deciding
            which escrows are recent enough to be its own (the server clock is
            estimated from ``createdAt`` of earlier responses).
        page_size: ``limit`` of reconciliation list calls (at most 100).
        max_scan_pages: The most list pages one reconciliation reads.
        if_not_found: What to do when an ambiguous create's escrow is not found.
            ``"resend_if_proven"`` (default) sends again only when the escrow list
            can show the item's escrow (the associated user is its seller or
            buyer), and otherwise marks it ``needs_review``: the documented list
            shows only the associated user's escrows, so for an escrow between
            two other users "not listed" proves nothing. ``"resend"`` also resends
            those (only if your account's list shows every escrow the key
            created). ``"review"`` never resends after an ambiguous create.
        associated_email: The email of the user your developer account is
            associated with (the seller of escrows created without
            ``seller_email``). Needed to prove absence for items where that user
            is the buyer; learned from the server when the journal holds such an
            escrow. Without it those items are treated as unprovable.
        max_pause: The longest a worker waits after a create was refused for
            rate limiting before it tries again. During a server block longer
            than ``RateLimit.max_server_wait`` the client lets one probe through
            per window, so a longer wait would only delay noticing that the
            block was lifted (a 429 may ask for an hour: its unit is not known).
        durable: ``synchronous=FULL`` in the journal (survives power loss).
        claim_poll: Seconds between looks for work while other workers hold
            the rest (a shared journal): a worker that dies loses its lease,
            and its items are taken over on the next look.
    """

    max_sends: int = attrs.field(default=3, validator=_positive_int)
    settle: float = 2.0
    clock_skew: float = 120.0
    page_size: int = attrs.field(default=100, validator=_positive_int)
    max_scan_pages: int = attrs.field(default=50, validator=_positive_int)
    if_not_found: IfNotFound = attrs.field(default="resend_if_proven", validator=_if_not_found)
    associated_email: str | None = attrs.field(default=None, validator=_email_or_none)
    max_pause: float = attrs.field(default=60.0, validator=_positive_seconds)
    durable: bool = True
    claim_poll: float = attrs.field(default=1.0, validator=_positive_seconds)


@attrs.define
class _Work:
    item: PreparedItem
    row: JournalRow
    sends: int = 0  # this run
    due: float = 0.0  # monotonic time its reconciliation may start
    scan_failures: int = 0
    #: Server-time floor of the earliest unresolved attempt (mirrors the journal).
    floor: float | None = None
    rate_limited: int = 0  # 429s that outlasted the client's own retries, this run
    #: Marked sent in the journal and no answer recorded yet (in flight or unknown).
    unresolved: bool = False


@attrs.define
class _Group:
    match_key: str
    works: collections.deque[_Work]
    #: Items of this group waiting for reconciliation; the group sends nothing meanwhile.
    parked_count: int = 0
    #: An item of this group (or an orphan of the journal) may have an unclaimed escrow,
    #: so an escrow found for another item of the group may be that one's.
    unsettled: bool = False

    @property
    def parked(self) -> bool:
        return self.parked_count > 0


_NO_JOURNAL = (
    "create_many needs journal=: a file path such as 'orders.sqlite', kept between runs "
    "so a rerun resumes instead of creating escrows again, or ':memory:' for a run that "
    "can never be resumed"
)


def _describe(exc: BaseException) -> tuple[str, str, int | None]:
    status = exc.status if isinstance(exc, APIStatusError) else None
    return str(exc), type(exc).__name__, status


def _retryable(exc: DhmadError) -> bool:
    if isinstance(exc, RateLimitError | AuthenticationError | RateLimiterUnavailableError):
        return True  # a pause, a key or a limiter fixed later: nothing was created
    if isinstance(exc, APIConnectionError):
        return exc.request_sent is False
    return isinstance(exc, APIStatusError) and exc.status in _RETRYABLE_STATUSES


def _lower(value: object) -> str | None:
    return str(value).strip().lower() if value else None


def _is_dsn(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


async def open_journal(
    journal: BatchJournal | str | Path, *, durable: bool = True
) -> tuple[BatchJournal, bool]:
    """
    The journal for ``journal=`` and whether the caller owns (must close) it.

    A ``postgresql://`` DSN opens a :class:`~dhmad_async.batch.PostgresJournal`
    (the ``[postgres]`` extra), any other string or path the SQLite journal.
    """
    if isinstance(journal, Path) or (isinstance(journal, str) and not _is_dsn(journal)):
        return await Journal.open(journal, durable=durable), True
    if isinstance(journal, str):
        from dhmad_async.batch._postgres import PostgresJournal

        return await PostgresJournal.open(journal), True
    return journal, False


def _is_final(row: JournalRow) -> bool:
    """Nothing more to do for the item: created, under review, or failed for good."""
    return row.state in (JournalState.CREATED, JournalState.NEEDS_REVIEW) or (
        row.state is JournalState.FAILED and not row.retryable
    )


def _item_of(row: JournalRow) -> PreparedItem:
    """A journal row as an item to send (a worker that was not given the input)."""
    params: EscrowParams | None = None
    error: str | None = None
    try:
        params = EscrowParams.from_mapping(row.params)
    except (InvalidParamsError, TypeError, ValueError) as exc:  # pragma: no cover - ours
        error = f"the journal's parameters cannot be read: {exc}"
    return PreparedItem(
        position=row.position,
        key=row.key,
        params=params,
        wire=row.params,
        fingerprint=row.fingerprint,
        match_key=row.match_key,
        error=error,
    )


def _escrow_of(row: JournalRow) -> Escrow | None:
    if row.escrow is None:
        return None
    try:
        return structure(row.escrow, Escrow)
    except DhmadError:  # pragma: no cover - written by us from a parsed model
        return None


class _Engine:
    """One run of a batch: scheduling, sending, reconciling and journalling."""

    def __init__(
        self,
        client: BatchClient,
        items: Iterable[object] | None,
        *,
        journal: BatchJournal | str | Path | None,
        concurrency: int,
        on_progress: Callable[[BatchProgress], object] | None,
        options: BatchOptions,
        emit: Callable[[ItemOutcome], None],
    ) -> None:
        self.client = client
        self.items = items
        self.journal_arg = journal
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.options = options
        self._emit_outcome = emit
        self.clock = client.clock
        self.outcomes: dict[tuple[int, str], ItemOutcome] = {}
        self.total = 0
        self.requests = 0
        self.sends = 0  # creates sent by this run
        self.resumed = 0  # items already final in the journal when this run began
        self.stopped: str | None = None
        self.offset: float | None = None  # server clock minus local clock, underestimated
        self.journal: BatchJournal | None = None
        # Who the associated user is: the option, or what the server showed us.
        self.associated: str | None = _lower(options.associated_email)
        self._learned = False  # the associated email came from the server
        self._asked = False  # already tried to learn it from an own escrow this run
        self._ready: collections.deque[_Group] = collections.deque()
        self._parked: list[tuple[_Group, _Work]] = []
        self._busy = 0
        self._pause = 1.0
        self._cond = asyncio.Condition()
        #: The input's items by key (None: work what the journal holds), and their keys.
        self._inputs: dict[str, PreparedItem] | None = None
        self._scope: frozenset[str] | None = None
        self._seen_groups: set[str] = set()  # claimed in this run: never claimed again
        self._groups: list[_Group] = []
        self._held = 0  # groups claimed and not yet given back
        self._feeding = True  # the journal may still hand out work

    # -- outcomes ----------------------------------------------------------------------------

    def _emit(self, outcome: ItemOutcome) -> None:
        self.outcomes[(outcome.position, outcome.external_key)] = outcome
        self._emit_outcome(outcome)
        if self.on_progress is not None:
            counts = collections.Counter(o.status for o in self.outcomes.values())
            self.on_progress(
                BatchProgress(
                    total=max(self.total, len(self.outcomes)),
                    done=len(self.outcomes),
                    created=counts[OutcomeStatus.CREATED],
                    failed=counts[OutcomeStatus.FAILED],
                    needs_review=counts[OutcomeStatus.NEEDS_REVIEW],
                    requests=self.requests,
                    resumed=self.resumed,
                    sends=self.sends,
                )
            )

    def _done(self, work: _Work) -> bool:
        return (work.item.position, work.item.key) in self.outcomes

    def _outcome(self, work: _Work, status: OutcomeStatus, **fields: Any) -> ItemOutcome:
        return ItemOutcome(
            position=work.item.position,
            external_key=work.item.key,
            status=status,
            attempts=work.row.attempts,
            **fields,
        )

    def _from_row(self, item: PreparedItem, row: JournalRow) -> ItemOutcome:
        status = {
            JournalState.CREATED: OutcomeStatus.CREATED,
            JournalState.NEEDS_REVIEW: OutcomeStatus.NEEDS_REVIEW,
        }.get(row.state, OutcomeStatus.FAILED)
        return ItemOutcome(
            position=item.position,
            external_key=item.key,
            status=status,
            escrow_id=row.escrow_id,
            escrow=_escrow_of(row),
            error=row.error if status is not OutcomeStatus.CREATED else None,
            error_type=row.error_type if status is not OutcomeStatus.CREATED else None,
            http_status=row.http_status if status is not OutcomeStatus.CREATED else None,
            retryable=row.retryable and status is OutcomeStatus.FAILED,
            attempts=row.attempts,
            reconciled=row.reconciled,
            candidates=row.candidates,
            from_journal=True,
        )

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> BatchReport:
        prepared = prepare_items(self.items) if self.items is not None else []
        self.total = len(prepared)
        assert self.journal_arg is not None  # BatchRun refuses a missing journal
        journal, owns_journal = await open_journal(self.journal_arg, durable=self.options.durable)
        self.journal = journal
        try:
            await self._run(prepared, journal)
        finally:
            if owns_journal:
                await journal.aclose()
        ordered = tuple(self.outcomes[key] for key in sorted(self.outcomes))
        return BatchReport(outcomes=ordered, journal_path=journal.path, stopped=self.stopped)

    async def _register(self, prepared: list[PreparedItem], journal: BatchJournal) -> None:
        """Record the input's intents; report invalid, conflicting and already final items."""
        for item in prepared:
            if item.error is not None:
                self._emit(
                    ItemOutcome(
                        position=item.position,
                        external_key=item.key,
                        status=OutcomeStatus.FAILED,
                        error=item.error,
                        error_type="InvalidParamsError",
                    )
                )
        valid = [p for p in prepared if p.error is None]
        rows = await journal.register(valid)
        inputs: dict[str, PreparedItem] = {}
        for item in valid:
            row = rows[item.key]
            if isinstance(row, str):
                self._emit(
                    ItemOutcome(
                        position=item.position,
                        external_key=item.key,
                        status=OutcomeStatus.FAILED,
                        error=row,
                        error_type="JournalConflict",
                    )
                )
            elif _is_final(row):
                self.resumed += 1
                self._emit(self._from_row(item, row))
            else:
                inputs[item.key] = item
        self._inputs = inputs
        self._scope = frozenset(inputs)

    async def _run(self, prepared: list[PreparedItem], journal: BatchJournal) -> None:
        if self.items is not None:
            await self._register(prepared, journal)
        stored = await journal.get_meta(_OFFSET_META)
        self.offset = float(stored) if stored is not None else None
        await self._load_associated(journal)
        if self._scope is not None and not self._scope:
            return  # nothing of the input is left to do
        tasks = [
            asyncio.create_task(self._worker(), name=f"dhmad-batch-worker-{n}")
            for n in range(self._worker_count())
        ]
        tasks.append(asyncio.create_task(self._reconciler(), name="dhmad-batch-reconciler"))
        tasks.append(asyncio.create_task(self._feeder(), name="dhmad-batch-feeder"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._finish_unresolved(self._groups)
        if self._inputs is not None:
            await self._report_others(journal)

    async def _report_others(self, journal: BatchJournal) -> None:
        """Input items finished by another worker (a shared journal): report them from it."""
        assert self._inputs is not None
        missing = [p for p in self._inputs.values() if (p.position, p.key) not in self.outcomes]
        if not missing:
            return
        rows = await journal.rows_for(p.key for p in missing)
        reason = self.stopped or "another worker has it"
        for item in missing:
            row = rows.get(item.key)
            if row is not None and (_is_final(row) or row.state is JournalState.FAILED):
                self._emit(self._from_row(item, row))
            elif row is not None and row.state in (JournalState.SENT, JournalState.AMBIGUOUS):
                self._emit(
                    ItemOutcome(
                        position=item.position,
                        external_key=item.key,
                        status=OutcomeStatus.NEEDS_REVIEW,
                        error=f"not reconciled: {reason}",
                        error_type="NotReconciled",
                        attempts=row.attempts,
                    )
                )
            else:
                self._emit(
                    ItemOutcome(
                        position=item.position,
                        external_key=item.key,
                        status=OutcomeStatus.FAILED,
                        error=f"not sent: {reason}",
                        error_type="NotSent",
                        retryable=True,
                        attempts=row.attempts if row is not None else 0,
                    )
                )

    # -- handing out work ----------------------------------------------------------------------

    def _claim_target(self) -> int:
        """How many groups to hold at once: enough to keep every worker busy."""
        return max(16, 4 * self._worker_count())

    async def _feeder(self) -> None:
        """Claim groups from the journal while this run has room, until none is left."""
        journal = self.journal
        assert journal is not None
        target = self._claim_target()
        try:
            while True:
                async with self._cond:
                    await self._cond.wait_for(
                        lambda: self.stopped is not None or self._held < target
                    )
                    if self.stopped is not None:
                        return
                claimed = await journal.claim(self._scope, self._seen_groups, target - self._held)
                if claimed:
                    async with self._cond:
                        for group in claimed:
                            self._take(group)
                        self._cond.notify_all()
                    continue
                # Nothing free now. Unless another live worker holds some (it may die and
                # lose them), nothing can become free for this run: it has the rest.
                if not await journal.waiting(self._scope, self._seen_groups):
                    return
                async with self._cond:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.options.claim_poll):
                            await self._cond.wait_for(lambda: self.stopped is not None)
        except LeaseLostError as exc:
            self._stop(f"lost the journal lease: {exc}")
        finally:
            async with self._cond:
                self._feeding = False
                self._cond.notify_all()

    def _take(self, claimed: ClaimedGroup) -> None:
        """A claimed group becomes work: unresolved items park first, the rest queue."""
        self._seen_groups.add(claimed.match_key)
        self._held += 1
        group = _Group(claimed.match_key, collections.deque(), unsettled=claimed.unsettled)
        self._groups.append(group)
        due = self.clock.monotonic() + self.options.settle
        for row in claimed.rows:
            item = self._inputs.get(row.key) if self._inputs is not None else None
            if item is None:
                item = _item_of(row)
                self.total += 1
            work = _Work(item, row, floor=row.floor)
            if row.state in (JournalState.SENT, JournalState.AMBIGUOUS):
                # Left unresolved (a crash, a worker that lost its lease, an unknown
                # answer): reconcile before anything of its group is sent. Its request
                # may have been sent moments ago, so let it settle first.
                work.due = due
                group.parked_count += 1
                self._parked.append((group, work))
            elif item.error is not None:  # pragma: no cover - a journal we wrote
                self._emit(
                    self._outcome(
                        work, OutcomeStatus.FAILED, error=item.error, error_type="JournalRead"
                    )
                )
            else:
                group.works.append(work)
        if not group.parked:
            if group.works:
                self._ready.append(group)
            else:  # pragma: no cover - the journal hands out groups with work
                self._held -= 1

    def _worker_count(self) -> int:
        # The reconciler needs one connection too; never queue for the pool.
        pool = self.client.max_connections
        limit = self.concurrency
        if pool is not None and pool > 1:
            limit = min(limit, pool - 1)
        return max(1, limit)

    def _finished(self) -> bool:
        return not self._ready and not self._parked and self._busy == 0 and not self._feeding

    async def _worker(self) -> None:
        while True:
            async with self._cond:
                await self._cond.wait_for(
                    lambda: self.stopped is not None or bool(self._ready) or self._finished()
                )
                if self.stopped is not None or not self._ready:
                    self._cond.notify_all()
                    return
                group = self._ready.popleft()
                self._busy += 1
            try:
                await self._process(group)
                if not group.parked and not group.works:
                    await self._give_back(group)
            except LeaseLostError as exc:
                self._stop(f"lost the journal lease: {exc}")
            finally:
                async with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    async def _process(self, group: _Group) -> None:
        while group.works and self.stopped is None:
            work = group.works[0]
            verdict = await self._send(work)
            if verdict == "ambiguous":
                group.works.popleft()
                group.parked_count += 1
                work.due = self.clock.monotonic() + self.options.settle
                async with self._cond:
                    self._parked.append((group, work))
                    self._cond.notify_all()
                return
            if verdict == "done":
                group.works.popleft()
            elif verdict == "rate_limited":
                # Nothing was created; the limiter already pauses every task, and this
                # worker waits with it before trying the same item again.
                await self.clock.sleep(self._pause)

    # -- one create ----------------------------------------------------------------------------

    def _floor(self) -> float:
        offset = self.offset if self.offset is not None else 0.0
        return self.clock.time() + offset - self.options.clock_skew

    async def _send(self, work: _Work) -> Literal["done", "ambiguous", "rate_limited"]:
        journal = self.journal
        assert journal is not None and work.item.params is not None
        key = work.item.key
        # The intent to send is durable before a byte leaves (crash → reconcile, not resend).
        floor = self._floor()
        await journal.mark_sent(key, floor)
        work.unresolved = True
        work.floor = floor if work.floor is None else min(work.floor, floor)
        work.sends += 1
        work.row = attrs.evolve(work.row, attempts=work.row.attempts + 1)
        self.requests += 1
        self.sends += 1
        try:
            # A shared journal cancels the create when this worker's lease runs out:
            # after that another worker may take the item over, so nothing may be sent.
            async with journal.sending():
                created = await self.client.escrows.create_from(work.item.params, validate=False)
        except LeaseLostError:
            raise  # the item stays "sent": whoever takes it over reconciles it
        except DhmadError as exc:
            if exc.may_have_succeeded or isinstance(exc, ResponseValidationError):
                # Whatever the error's type: it may have created the escrow (a 2xx we
                # could not parse certainly did). Find it before anything is resent.
                await journal.mark_ambiguous(key, *_describe(exc))
                work.unresolved = False
                return "ambiguous"
            if isinstance(exc, AuthenticationError):
                await self._fail(work, exc, retryable=True)
                self._stop(f"authentication failed: {exc}")
                return "done"
            if isinstance(exc, RateLimiterUnavailableError):
                # Nothing was sent, and without the shared budget nothing else may be.
                await self._fail(work, exc, retryable=True)
                self._stop(f"the shared rate limiter is unavailable: {exc}")
                return "done"
            if isinstance(exc, RateLimitError):
                work.rate_limited += 1
                if work.rate_limited <= _MAX_RATE_LIMITED and self.stopped is None:
                    await journal.mark_failed(key, *_describe(exc), retryable=True)
                    work.unresolved = False
                    self._pause = min(max(exc.retry_after or 1.0, 0.05), self.options.max_pause)
                    return "rate_limited"
                await self._fail(work, exc, retryable=True)
                return "done"
            await self._fail(work, exc, retryable=_retryable(exc))
            return "done"
        except Exception as exc:  # a bug, after the request may have gone out
            _log.exception("unexpected error creating batch item %s", key)
            await journal.mark_ambiguous(
                key, f"unexpected error: {exc!r}", type(exc).__name__, None
            )
            work.unresolved = False
            return "ambiguous"
        escrow = created.escrow
        await self._learn_offset(escrow)
        await self._learn_associated(work.item.wire or {}, escrow)
        try:
            await journal.mark_created(key, escrow.id, unstructure(escrow), reconciled=False)
        except ClaimConflict:
            message = f"the server returned escrow {escrow.id}, already claimed by another item"
            await journal.mark_needs_review(key, message, "ClaimConflict", (escrow.id,))
            self._emit(
                self._outcome(
                    work, OutcomeStatus.NEEDS_REVIEW, error=message, candidates=(escrow.id,)
                )
            )
            return "done"
        self._emit(self._outcome(work, OutcomeStatus.CREATED, escrow_id=escrow.id, escrow=escrow))
        return "done"

    async def _learn_offset(self, escrow: Escrow) -> None:
        if escrow.created_at is None:
            return
        created = escrow.created_at.timestamp()
        # createdAt precedes our receipt, so this underestimates the server clock:
        # floors computed with it are early (safe), never late.
        measured = created - self.clock.time()
        if self.offset is None or measured < self.offset:
            self.offset = measured
            assert self.journal is not None
            await self.journal.set_meta(_OFFSET_META, repr(measured))

    # -- who the associated user is -------------------------------------------------------------

    async def _load_associated(self, journal: BatchJournal) -> None:
        stored = _lower(await journal.get_meta(_ASSOCIATED_META))
        if stored is None:
            return
        if self.associated is not None and self.associated != stored:
            _log.warning(
                "associated_email %s differs from the seller the server showed for this "
                "journal's own escrows; using the server's",
                self.options.associated_email,
            )
        self.associated, self._learned = stored, True

    async def _learn_associated(self, wire: Mapping[str, Any], escrow: Escrow) -> None:
        """An escrow created without sellerEmail has the associated user as its seller."""
        if wire.get("sellerEmail") or self._learned:
            return
        seller, _ = party_emails(escrow)
        if seller is None:
            return
        if self.associated is not None and self.associated != seller:
            _log.warning(
                "associated_email %s differs from the seller the server shows (%s); using "
                "the server's",
                self.options.associated_email,
                seller,
            )
        self.associated, self._learned = seller, True
        assert self.journal is not None
        await self.journal.set_meta(_ASSOCIATED_META, seller)

    async def _ask_associated(self) -> None:
        """Read one own escrow of the journal to learn the associated user (once a run)."""
        if self._learned or self._asked or self.journal is None:
            return
        self._asked = True
        for escrow_id in await self.journal.own_escrow_ids():
            self.requests += 1
            try:
                escrow = await self.client.escrows.get(escrow_id)
            except DhmadError as exc:
                _log.info(
                    "could not read escrow %s to learn the associated user: %s", escrow_id, exc
                )
                continue
            await self._learn_associated({}, escrow)
            if self._learned:
                return

    def _visible(self, wire: Mapping[str, Any]) -> bool:
        """Whether the documented list shows this item's escrow ("role omitted = both")."""
        seller = _lower(wire.get("sellerEmail"))
        if seller is None:
            return True  # the associated user is the seller
        return self.associated is not None and self.associated in (
            seller,
            _lower(wire.get("buyerEmail")),
        )

    async def _fail(self, work: _Work, exc: DhmadError, *, retryable: bool) -> None:
        """Record a definite failure in the journal, then report it."""
        assert self.journal is not None
        message, kind, status = _describe(exc)
        await self.journal.mark_failed(work.item.key, message, kind, status, retryable=retryable)
        self._emit(
            self._outcome(
                work,
                OutcomeStatus.FAILED,
                error=message,
                error_type=kind,
                http_status=status,
                retryable=retryable,
            )
        )

    def _stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            _log.error("batch stopped: %s", reason)

    # -- reconciliation ------------------------------------------------------------------------

    async def _reconciler(self) -> None:
        while True:
            async with self._cond:
                await self._cond.wait_for(
                    lambda: self.stopped is not None or bool(self._parked) or self._finished()
                )
                if self.stopped is not None or not self._parked:
                    self._cond.notify_all()
                    return
                due = min(work.due for _, work in self._parked)
            delay = due - self.clock.monotonic()
            if delay > 0:
                await self.clock.sleep(delay)
            async with self._cond:
                now = self.clock.monotonic()
                batch = [(g, w) for g, w in self._parked if w.due <= now]
                self._parked = [(g, w) for g, w in self._parked if w.due > now]
                self._busy += 1
            try:
                await self._reconcile(batch)
            except LeaseLostError as exc:
                self._stop(f"lost the journal lease: {exc}")
                async with self._cond:
                    self._parked.extend(p for p in batch if not self._done(p[1]))
            finally:
                async with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    async def _reconcile(self, batch: list[tuple[_Group, _Work]]) -> None:
        journal = self.journal
        assert journal is not None
        claimed = await journal.claimed_ids()
        if not self._learned and any((w.item.wire or {}).get("sellerEmail") for _, w in batch):
            # Visibility of these items depends on who the associated user is: ask the
            # server once a run, also to check an associated_email the caller gave.
            await self._ask_associated()
        pending = [
            Pending(
                w.item.key,
                w.item.wire or {},
                w.floor,
                visible=self._visible(w.item.wire or {}),
                associated_email=self.associated,
            )
            for _, w in batch
        ]

        def count_page() -> None:
            self.requests += 1

        try:
            verdicts = await reconcile(
                self.client,
                pending,
                claimed,
                page_size=self.options.page_size,
                max_pages=self.options.max_scan_pages,
                on_page=count_page,
            )
        except AuthenticationError as exc:
            self._stop(f"authentication failed: {exc}")
            async with self._cond:
                self._parked.extend(batch)
            return
        except DhmadError as exc:
            _log.warning("reconciliation scan failed (%s); will try again", exc)
            for group, work in batch:
                # A 429 proves nothing about the item: wait it out without counting it.
                if not isinstance(exc, RateLimitError):
                    work.scan_failures += 1
                if work.scan_failures >= 3:
                    await self._unresolved(group, work, f"could not reconcile: {exc}")
                else:
                    work.due = self.clock.monotonic() + max(self.options.settle, 1.0) * 2
                    async with self._cond:
                        self._parked.append((group, work))
            return
        by_key = {v.key: v for v in verdicts}
        for group, work in batch:
            await self._apply(group, work, by_key[work.item.key])

    async def _apply(self, group: _Group, work: _Work, verdict: Verdict) -> None:
        journal = self.journal
        assert journal is not None
        key = work.item.key
        if verdict.kind == "found" and verdict.escrow is not None:
            escrow = verdict.escrow
            if group.unsettled:
                await self._review(
                    group,
                    work,
                    f"escrow {escrow.id} matches, but an item with the same title and amount "
                    "is unresolved in this journal, so it may be that item's escrow",
                    "GroupUnresolved",
                    (escrow.id,),
                )
                return
            try:
                await journal.mark_created(key, escrow.id, unstructure(escrow), reconciled=True)
            except ClaimConflict:  # pragma: no cover - claimed ids are excluded from the scan
                await self._review(
                    group, work, f"escrow {escrow.id} is claimed by another item", "ClaimConflict"
                )
                return
            await self._learn_associated(work.item.wire or {}, escrow)
            self._emit(
                self._outcome(
                    work,
                    OutcomeStatus.CREATED,
                    escrow_id=escrow.id,
                    escrow=escrow,
                    reconciled=True,
                )
            )
            await self._release(group)
        elif verdict.kind == "absent":
            await self._absent(group, work, proven=True)
        elif verdict.kind == "unlisted":
            if self.options.if_not_found == "resend":
                await self._absent(group, work, proven=False)
            else:
                await self._review(
                    group,
                    work,
                    "cannot prove whether this create made an escrow: the associated user is "
                    "neither its seller nor its buyer, and the escrow list shows only the "
                    "associated user's escrows; not re-sent (look for it on the dashboard)",
                    "AbsenceUnprovable",
                )
        elif verdict.kind == "several":
            await self._review(
                group, work, verdict.message, "SeveralCandidates", verdict.candidates
            )
        else:
            await self._unresolved(group, work, verdict.message)

    async def _absent(self, group: _Group, work: _Work, *, proven: bool) -> None:
        """No escrow was found: resend, or say why not (and only "none" if proven)."""
        journal = self.journal
        assert journal is not None
        key = work.item.key
        last = work.row.error or "ambiguous"
        if self.options.if_not_found == "review":
            await self._review(
                group,
                work,
                f"no matching escrow found; not re-sent because if_not_found='review' "
                f"(last error: {last})",
                "ReviewRequested",
            )
        elif work.sends < self.options.max_sends:
            await journal.mark_absent(key)
            work.floor = None
            group.works.appendleft(work)
            await self._release(group)
        elif proven:
            message = (
                f"no escrow was created: after {work.sends} attempts in this run the escrow "
                f"list showed none (last error: {last})"
            )
            await journal.mark_failed(key, message, "NotCreated", None, retryable=True)
            self._emit(
                self._outcome(
                    work,
                    OutcomeStatus.FAILED,
                    error=message,
                    error_type="NotCreated",
                    retryable=True,
                )
            )
            await self._release(group)
        else:
            await self._review(
                group,
                work,
                f"not found in the escrow list after {work.sends} attempts, but the list "
                "shows only the associated user's escrows, so one may exist "
                f"(last error: {last})",
                "NotFoundAfterResend",
            )

    async def _review(
        self,
        group: _Group,
        work: _Work,
        message: str,
        kind: str,
        candidates: tuple[str, ...] = (),
    ) -> None:
        assert self.journal is not None
        await self.journal.mark_needs_review(work.item.key, message, kind, candidates)
        self._emit(
            self._outcome(
                work,
                OutcomeStatus.NEEDS_REVIEW,
                error=message,
                error_type=kind,
                candidates=candidates,
            )
        )
        if kind != "ReviewRequested":  # that one was proven absent: nothing unclaimed exists
            group.unsettled = True
        await self._release(group)

    async def _unresolved(self, group: _Group, work: _Work, message: str) -> None:
        # The journal keeps the item ambiguous, so the next run reconciles it again.
        self._emit(
            self._outcome(
                work, OutcomeStatus.NEEDS_REVIEW, error=message, error_type="ScanIncomplete"
            )
        )
        group.unsettled = True
        await self._release(group)

    async def _release(self, group: _Group) -> None:
        """One parked item of ``group`` is decided: send the rest once none is parked."""
        group.parked_count = max(0, group.parked_count - 1)
        if group.parked:
            return
        if group.works:
            async with self._cond:
                self._ready.appendleft(group)
                self._cond.notify_all()
        else:
            await self._give_back(group)

    async def _give_back(self, group: _Group) -> None:
        """This run is done with ``group``: the journal may hand it to another worker."""
        assert self.journal is not None
        await self.journal.release(group.match_key)
        async with self._cond:
            self._held -= 1
            self._cond.notify_all()

    def _finish_unresolved(self, groups: Iterable[_Group]) -> None:
        """After a stop: every item without an outcome gets one (nothing is lost silently)."""
        reason = self.stopped or "the batch stopped"
        for _, work in self._parked:
            if not self._done(work):
                self._emit(
                    self._outcome(
                        work,
                        OutcomeStatus.NEEDS_REVIEW,
                        error=f"not reconciled: {reason}",
                        error_type="NotReconciled",
                    )
                )
        for group in groups:
            for work in group.works:
                if self._done(work):
                    continue
                if work.unresolved:  # sent, and the answer could not be recorded
                    self._emit(
                        self._outcome(
                            work,
                            OutcomeStatus.NEEDS_REVIEW,
                            error=f"not reconciled: {reason}",
                            error_type="NotReconciled",
                        )
                    )
                else:
                    self._emit(
                        self._outcome(
                            work,
                            OutcomeStatus.FAILED,
                            error=f"not sent: {reason}",
                            error_type="NotSent",
                            retryable=True,
                        )
                    )


class BatchRun:
    """
    A batch about to run: ``await`` it for the :class:`BatchReport`, or ``async for``
    its outcomes as they finish (not in input order). Runs once.
    """

    def __init__(
        self,
        client: BatchClient,
        items: Iterable[object] | None,
        *,
        journal: BatchJournal | str | Path | None = None,
        concurrency: int = 8,
        on_progress: Callable[[BatchProgress], object] | None = None,
        options: BatchOptions | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        if journal is None:
            raise ValueError(_NO_JOURNAL)
        self._queue: asyncio.Queue[ItemOutcome | None] | None = None
        self._engine = _Engine(
            client,
            items,
            journal=journal,
            concurrency=concurrency,
            on_progress=on_progress,
            options=options or BatchOptions(),
            emit=self._push,
        )
        self._started = False
        self.report: BatchReport | None = None  #: Set when the run has finished.

    def __repr__(self) -> str:
        state = "finished" if self.report is not None else "started" if self._started else "new"
        return f"<BatchRun {state}>"

    def _push(self, outcome: ItemOutcome) -> None:
        if self._queue is not None:
            self._queue.put_nowait(outcome)

    def _claim(self) -> None:
        if self._started:
            raise RuntimeError("a BatchRun runs once; call create_many() again to resume")
        self._started = True

    async def run(self) -> BatchReport:
        """Run to the end and return the report."""
        self._claim()
        self.report = await self._engine.run()
        return self.report

    def __await__(self) -> Generator[Any, None, BatchReport]:
        return self.run().__await__()

    def __aiter__(self) -> AsyncIterator[ItemOutcome]:
        self._claim()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ItemOutcome]:
        queue: asyncio.Queue[ItemOutcome | None] = asyncio.Queue()
        self._queue = queue

        async def drive() -> None:
            try:
                self.report = await self._engine.run()
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(drive(), name="dhmad-batch")
        try:
            while True:
                outcome = await queue.get()
                if outcome is None:
                    break
                yield outcome
            await task  # re-raise what the run raised
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def create_many(
    client: BatchClient,
    items: Iterable[object],
    *,
    journal: BatchJournal | str | Path | None = None,
    concurrency: int = 8,
    on_progress: Callable[[BatchProgress], object] | None = None,
    options: BatchOptions | None = None,
) -> BatchRun:
    """
    Create many escrows; ``await`` the result for a :class:`BatchReport`.

    ``items`` are :class:`~dhmad_async.EscrowParams`, :class:`BatchItem` or
    mappings (snake_case or camelCase, optional ``external_key``). Every item is
    validated before anything is sent. ``journal`` is required: a SQLite path,
    ``":memory:"`` (no resume), a ``postgresql://`` DSN (a journal shared by
    workers on several hosts), or an open journal; running the batch again with
    the same journal resumes it, also after items were added, removed or fixed.
    With a shared journal, other workers may create some of the items; the
    report covers every input item all the same.
    """
    return BatchRun(
        client,
        items,
        journal=journal,
        concurrency=concurrency,
        on_progress=on_progress,
        options=options,
    )


def work(
    client: BatchClient,
    *,
    journal: BatchJournal | str | Path,
    concurrency: int = 8,
    on_progress: Callable[[BatchProgress], object] | None = None,
    options: BatchOptions | None = None,
) -> BatchRun:
    """
    Join a batch that :func:`enqueue` loaded: work what the journal holds until none is left.

    Several workers (processes, hosts) may work one PostgreSQL journal at once;
    each claims groups of items under its lease, and takes over the items of a
    worker that died. The report lists the items this worker finished.
    """
    return BatchRun(
        client,
        None,
        journal=journal,
        concurrency=concurrency,
        on_progress=on_progress,
        options=options,
    )


@attrs.frozen(kw_only=True)
class EnqueueResult:
    """What :func:`enqueue` recorded: counts, and the items that were refused."""

    #: Items new to the journal, now pending.
    added: int
    #: Items the journal already held (in whatever state).
    known: int
    #: Invalid or conflicting items: ``failed`` outcomes naming why; none of them was recorded.
    refused: tuple[ItemOutcome, ...]
    journal_path: str


async def enqueue(
    items: Iterable[object], *, journal: BatchJournal | str | Path, durable: bool = True
) -> EnqueueResult:
    """
    Validate ``items`` and record their intents in ``journal`` without sending anything.

    Workers then create them (:func:`work`, ``python -m dhmad_async batch work``).
    Loading the same items again adds nothing.
    """
    prepared = prepare_items(items)
    opened, owns = await open_journal(journal, durable=durable)
    try:
        before = {row.key for row in await opened.rows()}
        valid = [p for p in prepared if p.error is None]
        rows = await opened.register(valid)
    finally:
        if owns:
            await opened.aclose()
    refused = [
        ItemOutcome(
            position=p.position,
            external_key=p.key,
            status=OutcomeStatus.FAILED,
            error=p.error,
            error_type="InvalidParamsError",
        )
        for p in prepared
        if p.error is not None
    ]
    refused += [
        ItemOutcome(
            position=p.position,
            external_key=p.key,
            status=OutcomeStatus.FAILED,
            error=row,
            error_type="JournalConflict",
        )
        for p in valid
        if isinstance(row := rows[p.key], str)
    ]
    recorded = [p for p in valid if not isinstance(rows[p.key], str)]
    added = sum(1 for p in recorded if p.key not in before)
    return EnqueueResult(
        added=added,
        known=len(recorded) - added,
        refused=tuple(sorted(refused, key=lambda o: o.position)),
        journal_path=opened.path,
    )
