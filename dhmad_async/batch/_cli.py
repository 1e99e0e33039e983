"""
``python -m dhmad_async batch create|work|status``: batches from CSV / JSON Lines, any hosts.

I/O: reads the input file, writes the journal and the report, talks HTTP. The
progress bar and the live status use rich (the ``[cli]`` extra) on a terminal,
plain lines otherwise. Every error the user can fix is one line on stderr with
its own exit code (``EXIT_CODES``), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from dhmad_async.batch._report import BatchProgress, BatchReport, ItemOutcome

__all__ = ["EXIT_CODES", "register"]

EXIT_OK = 0
EXIT_ITEMS = 1  # some item failed or needs review
EXIT_USAGE = 2  # bad options, no API key, unreadable input, unknown CSV column
EXIT_STOPPED = 3  # the batch stopped early (authentication, limiter down, lease lost)
EXIT_JOURNAL_DAMAGED = 4  # empty, not a journal, damaged, without its -wal file, newer schema
EXIT_JOURNAL_BUSY = 5  # another run holds the journal
EXIT_JOURNAL_CONFLICT = 6  # items conflict with what the journal holds: those were not sent
EXIT_JOURNAL_UNAVAILABLE = 7  # the journal cannot be opened, created or reached

#: Exit code → meaning, as ``--help`` shows them.
EXIT_CODES = {
    EXIT_OK: "every item's escrow exists (or, for --enqueue, every item was recorded)",
    EXIT_ITEMS: "some item failed or needs review (see --report)",
    EXIT_USAGE: "usage: bad options, no DHMAD_API_KEY, unreadable input, unknown CSV column",
    EXIT_STOPPED: "stopped early: authentication failed, the shared limiter is down, or this "
    "worker lost its journal lease; run again to resume",
    EXIT_JOURNAL_DAMAGED: "journal refused: empty, damaged, not a journal, missing its -wal "
    "file, or written by a newer version",
    EXIT_JOURNAL_BUSY: "journal in use by another run",
    EXIT_JOURNAL_CONFLICT: "some items conflict with the journal (same key, other parameters; "
    "or the other kind of key): those were not sent",
    EXIT_JOURNAL_UNAVAILABLE: "journal unavailable: cannot create or open the file, or cannot "
    "reach the PostgreSQL server",
}

_EPILOG = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


def _add_journal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        required=True,
        help="SQLite journal file, or postgresql://user@host/db for a journal shared by workers",
    )
    parser.add_argument(
        "--journal-schema",
        default="dhmad_batch",
        help="PostgreSQL schema holding the batch (one batch per schema; dhmad_batch)",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", help="write outcomes to this .csv or .jsonl file")
    parser.add_argument("--base-url", help="API base URL (default: from the key or DHMAD_BASE_URL)")
    parser.add_argument("--concurrency", type=int, default=8, help="creates in flight (8)")
    parser.add_argument(
        "--rate-limit", type=int, default=100, help="requests per window for this host's IP (100)"
    )
    parser.add_argument("--rate-window", type=float, default=60.0, help="window seconds (60)")
    parser.add_argument("--rate-margin", type=float, default=None, help="window margin seconds")
    parser.add_argument(
        "--source-address",
        help="send from this local IP (one of this host's addresses; each IP has its own budget)",
    )
    parser.add_argument(
        "--redis-url", help="also keep a budget shared by every process and host in this Redis"
    )
    parser.add_argument("--redis-key", default="dhmad", help="name of the shared budget")
    parser.add_argument(
        "--redis-rate-limit",
        type=int,
        default=None,
        help="requests per window of the shared budget (default: --rate-limit)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="PostgreSQL journal: seconds a dead worker's items stay claimed (30)",
    )
    parser.add_argument(
        "--associated-email",
        help="email of the user your developer account is associated with (proves absence "
        "for items where that user is the buyer)",
    )
    parser.add_argument(
        "--if-not-found",
        choices=("resend_if_proven", "resend", "review"),
        default="resend_if_proven",
        help="after an unknown answer and no escrow found: resend only when the escrow list "
        "proves it absent (default), always, or never",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait after an unknown answer before looking for its escrow (2)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "none"),
        default="auto",
        help="progress display (auto: a bar on a terminal, plain lines otherwise)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` command and its ``create``, ``work`` and ``status`` sub-commands."""
    batch = subparsers.add_parser(
        "batch",
        help="create many escrows from a file",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = batch.add_subparsers(dest="batch_command", metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create one escrow per CSV row / JSON line; run again to resume",
        description=(
            "Create one escrow per input row. The API key comes from DHMAD_API_KEY. "
            "Running the same command again with the same journal resumes the batch. "
            "With --enqueue (a PostgreSQL journal) the items are only recorded, and "
            "`batch work` on any number of hosts creates them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("input", help="items: .csv or .jsonl (optional external_key column)")
    _add_journal(create)
    create.add_argument(
        "--enqueue", action="store_true", help="record the items in the journal, send nothing"
    )
    _add_run_options(create)
    create.set_defaults(handler=_handle_create)
    work = actions.add_parser(
        "work",
        help="join a batch in a journal and work it until nothing is left",
        description=(
            "Work the items of a journal (loaded with `batch create --enqueue`) together "
            "with every other worker of it; a worker that dies is taken over once its "
            "lease runs out. The API key comes from DHMAD_API_KEY."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_journal(work)
    _add_run_options(work)
    work.set_defaults(handler=_handle_work)
    status = actions.add_parser(
        "status",
        help="items per state, throughput and workers of a journal (from any host)",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_journal(status)
    status.add_argument(
        "--watch", action="store_true", help="keep refreshing until no work is left (Ctrl-C)"
    )
    status.add_argument("--interval", type=float, default=2.0, help="refresh seconds (2)")
    status.add_argument("--window", type=float, default=60.0, help="throughput window s (60)")
    status.set_defaults(handler=_handle_status)
    batch.set_defaults(handler=lambda args: _usage(batch))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


# -- progress -------------------------------------------------------------------------------------


def _rate_and_eta(progress: BatchProgress, elapsed: float) -> tuple[float, float]:
    """This run's rate and the time left: items read back from the journal count for neither."""
    rate = progress.done_this_run / max(elapsed, 1e-9)
    left = progress.total - progress.done
    eta = left / rate if rate > 0 else (0.0 if left == 0 else float("nan"))
    return rate, eta


class _PlainProgress:
    """One line per step on a stream that is not a terminal (CI logs, pipes)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.every = every
        self.clock = clock
        self.started = clock()
        self.last = -float("inf")

    def update(self, progress: BatchProgress) -> None:
        now = self.clock()
        if progress.done < progress.total and now - self.last < self.every:
            return
        self.last = now
        rate, eta = _rate_and_eta(progress, now - self.started)
        resumed = f" ({progress.resumed} from the journal)" if progress.resumed else ""
        print(
            f"batch: {progress.done}/{progress.total} done{resumed}, {progress.created} created, "
            f"{progress.failed} failed, {progress.needs_review} needs review, "
            f"{progress.sends} sent this run, {rate:.1f}/s, ETA {eta:.0f} s",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Nothing to tear down."""


class _RichProgress:
    """A rich progress bar of this run's items, with rate, ETA and counts per outcome."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # The bar counts only what this run does: rich's own speed and ETA then
        # never include items that a resumed run reads back from the journal.
        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._started = time.monotonic()
        self._task = self._progress.add_task("batch", total=total, rate="0.0", counts="")
        self._progress.start()

    def update(self, progress: BatchProgress) -> None:
        rate, _ = _rate_and_eta(progress, time.monotonic() - self._started)
        resumed = f" [dim]{progress.resumed} from the journal[/]" if progress.resumed else ""
        self._progress.update(
            self._task,
            completed=progress.done_this_run,
            total=progress.total - progress.resumed,
            rate=f"{rate:.1f}",
            counts=(
                f"[green]{progress.created} created[/] [red]{progress.failed} failed[/] "
                f"[yellow]{progress.needs_review} review[/]{resumed}"
            ),
        )

    def close(self) -> None:
        self._progress.stop()


def _make_progress(mode: str, total: int, stream: TextIO) -> Any:
    if mode == "none":
        return None
    if mode == "bar" or (mode == "auto" and stream.isatty()):
        try:
            return _RichProgress(total, stream)
        except ImportError:
            pass  # the [cli] extra is not installed: plain lines still work
    return _PlainProgress(stream)


# -- building the client and the journal ----------------------------------------------------------


def _check_source(address: str | None) -> str | None:
    """The source address, if this host can send from it; a usage error otherwise."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise _UsageError(f"--source-address {address!r} is not an IP address") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError as exc:
            raise _UsageError(
                f"cannot send from {address}: {exc.strerror or exc} (not an address of this host)"
            ) from None
    return str(ip)


class _UsageError(Exception):
    """A problem with the command line: one line, exit code 2."""


def _limiter(args: argparse.Namespace) -> Any:
    from dhmad_async import RateLimit

    margin = args.rate_margin
    if margin is None:
        margin = min(1.0, args.rate_window / 60)  # the 1 s default is sized for 60 s
    policy = RateLimit(
        requests=args.rate_limit,
        per=args.rate_window,
        margin=margin,
        burst=min(10, args.rate_limit),
    )
    if not args.redis_url:
        return policy
    from dhmad_async.ratelimit import CombinedLimiter, RedisRateLimit

    shared_requests = args.redis_rate_limit or args.rate_limit
    shared = RateLimit(
        requests=shared_requests,
        per=args.rate_window,
        margin=margin,
        burst=min(10, shared_requests),
    )
    # Both limits hold: this host's IP budget, and the budget every host shares.
    return CombinedLimiter(
        policy, RedisRateLimit(args.redis_url, key=args.redis_key, policy=shared)
    )


async def _open_journal(
    args: argparse.Namespace, *, label: str | None = None, create: bool = True
) -> Any:
    from dhmad_async.batch._runner import _is_dsn

    if _is_dsn(args.journal):
        from dhmad_async.batch._postgres import PostgresJournal

        return await PostgresJournal.open(
            args.journal,
            schema=args.journal_schema,
            lease=getattr(args, "lease", 30.0),
            label=label,
            create=create,
        )
    from dhmad_async.batch._journal import Journal

    return await Journal.open(args.journal)


async def _run(args: argparse.Namespace, items: list[object] | None) -> BatchReport:
    from dhmad_async import DhmadClient, RateLimit
    from dhmad_async._transport import AiohttpTransport
    from dhmad_async.batch._runner import BatchOptions, create_many, work

    source = _check_source(args.source_address)
    limiter = _limiter(args)
    options: dict[str, Any] = {"rate_limit": limiter}
    if args.base_url:
        options["base_url"] = args.base_url
    if source is not None:
        options["transport"] = AiohttpTransport(local_address=source)
    progress: Any = None
    journal: Any = None
    try:
        async with DhmadClient.from_env(**options) as client:
            journal = await _open_journal(args, label=source)
            progress = _make_progress(args.progress, len(items or ()), sys.stderr)
            batch_options = BatchOptions(
                associated_email=args.associated_email,
                if_not_found=args.if_not_found,
                settle=args.settle,
            )
            on_progress = progress.update if progress is not None else None
            if items is None:
                run = work(
                    client,
                    journal=journal,
                    concurrency=args.concurrency,
                    on_progress=on_progress,
                    options=batch_options,
                )
            else:
                run = create_many(
                    client,
                    items,
                    journal=journal,
                    concurrency=args.concurrency,
                    on_progress=on_progress,
                    options=batch_options,
                )
            return await run
    finally:
        if progress is not None:
            progress.close()
        if journal is not None:
            await journal.aclose()
        if not isinstance(limiter, RateLimit):
            await limiter.aclose()


def _journal_errors(call: Callable[[], int]) -> int:
    """Run ``call``; every journal or usage problem becomes one line and its exit code."""
    from dhmad_async.batch._journal import (
        JournalBusyError,
        JournalError,
        JournalUnavailableError,
    )

    try:
        return call()
    except _UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except JournalBusyError as exc:
        _error(str(exc))
        return EXIT_JOURNAL_BUSY
    except JournalUnavailableError as exc:
        _error(str(exc))
        return EXIT_JOURNAL_UNAVAILABLE
    except JournalError as exc:  # never restarted silently: one line, its own exit code
        _error(str(exc))
        return EXIT_JOURNAL_DAMAGED
    except ImportError as exc:  # an extra that is not installed (asyncpg, redis-py)
        _error(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # bad options, e.g. a key without a known prefix
        _error(str(exc))
        return EXIT_USAGE


def _need_key() -> bool:
    if not os.environ.get("DHMAD_API_KEY", "").strip():
        _error("set DHMAD_API_KEY to your sk_live_… or sk_sandbox_… key")
        return False
    return True


def _conflicts(outcomes: list[ItemOutcome]) -> list[ItemOutcome]:
    return [o for o in outcomes if o.error_type == "JournalConflict"]


def _say_conflicts(conflicts: list[ItemOutcome]) -> None:
    first = conflicts[0]
    _error(
        f"{len(conflicts)} item(s) conflict with the journal and were not sent "
        f"(first: {first.external_key}: {first.error})"
    )


def _finish(args: argparse.Namespace, report: BatchReport) -> int:
    if args.report:
        report.write(args.report)
    counts = report.counts
    print(
        f"{len(report)} items: {counts['created']} created, {counts['failed']} failed, "
        f"{counts['needs_review']} need review. Journal: {report.journal_path}",
        file=sys.stderr,
    )
    if report.stopped:
        print(f"stopped: {report.stopped}", file=sys.stderr)
        return EXIT_STOPPED
    conflicts = _conflicts(list(report))
    if conflicts:
        _say_conflicts(conflicts)
        return EXIT_JOURNAL_CONFLICT
    return EXIT_OK if report.ok else EXIT_ITEMS


def _read(path: str) -> list[object]:
    from dhmad_async.batch._items import read_items

    try:
        return read_items(path)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot read {path}: {exc}") from None


def _handle_create(args: argparse.Namespace) -> int:
    if args.enqueue:
        return _journal_errors(lambda: _enqueue(args))
    if not _need_key():
        return EXIT_USAGE

    def go() -> int:
        items = _read(args.input)
        return _finish(args, asyncio.run(_run(args, items)))

    return _journal_errors(go)


def _enqueue(args: argparse.Namespace) -> int:
    from dhmad_async.batch._runner import enqueue

    items = _read(args.input)

    async def go() -> Any:
        journal = await _open_journal(args)
        try:
            return await enqueue(items, journal=journal)
        finally:
            await journal.aclose()

    result = asyncio.run(go())
    invalid = [o for o in result.refused if o.error_type != "JournalConflict"]
    for outcome in invalid[:10]:
        print(f"item {outcome.position}: {outcome.error}", file=sys.stderr)
    print(
        f"enqueued {result.added} new items ({result.known} already in the journal, "
        f"{len(result.refused)} refused). Journal: {result.journal_path}",
        file=sys.stderr,
    )
    conflicts = _conflicts(list(result.refused))
    if conflicts:
        _say_conflicts(conflicts)
        return EXIT_JOURNAL_CONFLICT
    return EXIT_ITEMS if invalid else EXIT_OK


def _handle_work(args: argparse.Namespace) -> int:
    if not _need_key():
        return EXIT_USAGE
    return _journal_errors(lambda: _finish(args, asyncio.run(_run(args, None))))


# -- status ---------------------------------------------------------------------------------------


def _status_lines(status: Any) -> list[str]:
    counts = status.counts
    lines = [
        f"journal {status.name}: {status.total} items",
        "  " + ", ".join(f"{state} {n}" for state, n in counts.items()),
        f"  throughput: {status.recent_rate:.2f} created/s over the last {status.window:g} s, "
        f"{status.overall_rate:.2f}/s overall",
    ]
    if status.workers:
        alive = sum(1 for w in status.workers if w["alive"])
        lines.append(f"  workers: {alive} alive, {len(status.workers) - alive} gone")
        for w in status.workers:
            state = "alive" if w["alive"] else "stopped" if w["stopped"] else "lease expired"
            label = f" ({w['label']})" if w["label"] else ""
            lines.append(
                f"    {w['id']}{label}: {state}, heartbeat {w['heartbeat_age']:.1f} s ago, "
                f"{w['groups']} groups held"
            )
    return lines


def _left(status: Any) -> bool:
    """Whether anyone may still act: items waiting or in flight, or a live worker."""
    counts = status.counts
    busy = counts["pending"] + counts["sent"] + counts["ambiguous"]
    return busy > 0 or any(w["alive"] for w in status.workers)


async def _read_status(args: argparse.Namespace, journal: Any) -> Any:
    if journal is not None:
        return await journal.status(args.window)
    from dhmad_async.batch._journal import read_status

    return await asyncio.to_thread(read_status, args.journal, args.window)


async def _status(args: argparse.Namespace) -> int:
    from dhmad_async.batch._runner import _is_dsn

    # Reading the status never creates a journal where there is none.
    journal = await _open_journal(args, create=False) if _is_dsn(args.journal) else None
    try:
        status = await _read_status(args, journal)
        if not args.watch:
            print("\n".join(_status_lines(status)))
            return EXIT_OK
        live: Any = None
        with contextlib.suppress(ImportError):
            if sys.stdout.isatty():
                from rich.live import Live

                live = Live("", refresh_per_second=4)
        with live if live is not None else contextlib.nullcontext():
            while True:
                text = "\n".join(_status_lines(status))
                if live is not None:
                    live.update(text)
                else:
                    print(text, flush=True)
                if not _left(status):
                    return EXIT_OK
                await asyncio.sleep(args.interval)
                status = await _read_status(args, journal)
    finally:
        if journal is not None:
            await journal.aclose()


def _handle_status(args: argparse.Namespace) -> int:
    return _journal_errors(lambda: asyncio.run(_status(args)))
