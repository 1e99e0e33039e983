"""
``python -m dhmad_async batch create FILE``: run a batch from CSV / JSON Lines with progress.

I/O: reads the input file, writes the journal and the report, talks HTTP. The
progress bar uses rich (the ``[cli]`` extra) on a terminal and plain lines otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any, TextIO

from dhmad_async.batch._report import BatchProgress, BatchReport

__all__ = ["register"]

EXIT_OK = 0
EXIT_ITEMS = 1  # some item failed or needs review
EXIT_USAGE = 2
EXIT_STOPPED = 3  # the batch stopped early (e.g. authentication)
EXIT_JOURNAL_DAMAGED = 4  # empty, not a journal, damaged, or without its -wal file
EXIT_JOURNAL_BUSY = 5  # another run holds the journal


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` command and its ``create`` sub-command."""
    batch = subparsers.add_parser("batch", help="create many escrows from a file")
    actions = batch.add_subparsers(dest="batch_command", metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create one escrow per CSV row / JSON line; run again to resume",
        description=(
            "Create one escrow per input row. The API key comes from DHMAD_API_KEY. "
            "Running the same command again with the same journal resumes the batch."
        ),
    )
    create.add_argument("input", help="items: .csv or .jsonl (optional external_key column)")
    create.add_argument("--journal", required=True, help="SQLite journal file (resume state)")
    create.add_argument("--report", help="write outcomes to this .csv or .jsonl file")
    create.add_argument("--base-url", help="API base URL (default: from the key or DHMAD_BASE_URL)")
    create.add_argument("--concurrency", type=int, default=8, help="creates in flight (8)")
    create.add_argument("--rate-limit", type=int, default=100, help="requests per window (100)")
    create.add_argument("--rate-window", type=float, default=60.0, help="window seconds (60)")
    create.add_argument("--rate-margin", type=float, default=None, help="window margin seconds")
    create.add_argument(
        "--associated-email",
        help="email of the user your developer account is associated with (proves absence "
        "for items where that user is the buyer)",
    )
    create.add_argument(
        "--if-not-found",
        choices=("resend_if_proven", "resend", "review"),
        default="resend_if_proven",
        help="after an unknown answer and no escrow found: resend only when the escrow list "
        "proves it absent (default), always, or never",
    )
    create.add_argument("--redis-url", help="share the rate budget through this Redis")
    create.add_argument("--redis-key", default="dhmad", help="name of the shared budget")
    create.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "none"),
        default="auto",
        help="progress display (auto: a bar on a terminal, plain lines otherwise)",
    )
    create.set_defaults(handler=_handle)
    batch.set_defaults(handler=lambda args: _usage(batch))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


class _PlainProgress:
    """One line per step on a stream that is not a terminal (CI logs, pipes)."""

    def __init__(self, stream: TextIO, *, every: float = 2.0) -> None:
        self.stream = stream
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - self.last < self.every:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = progress.done / elapsed
        eta = (progress.total - progress.done) / rate if rate > 0 else float("nan")
        print(
            f"batch: {progress.done}/{progress.total} done, {progress.created} created, "
            f"{progress.failed} failed, {progress.needs_review} needs review, "
            f"{rate:.1f}/s, ETA {eta:.0f} s",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Nothing to tear down."""


class _RichProgress:
    """A rich progress bar with rate, ETA and counts per outcome."""

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
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self._progress.update(
            self._task,
            completed=progress.done,
            total=progress.total,
            rate=f"{progress.done / elapsed:.1f}",
            counts=(
                f"[green]{progress.created} created[/] [red]{progress.failed} failed[/] "
                f"[yellow]{progress.needs_review} review[/]"
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


async def _run(args: argparse.Namespace, items: list[object]) -> BatchReport:
    from dhmad_async import DhmadClient, RateLimit
    from dhmad_async.batch._runner import BatchOptions, create_many

    margin = args.rate_margin
    if margin is None:
        margin = min(1.0, args.rate_window / 60)  # the 1 s default is sized for 60 s
    policy = RateLimit(
        requests=args.rate_limit,
        per=args.rate_window,
        margin=margin,
        burst=min(10, args.rate_limit),
    )
    limiter: Any = policy
    if args.redis_url:
        from dhmad_async.ratelimit import RedisRateLimit

        limiter = RedisRateLimit(args.redis_url, key=args.redis_key, policy=policy)
    options: dict[str, Any] = {"rate_limit": limiter}
    if args.base_url:
        options["base_url"] = args.base_url
    progress = _make_progress(args.progress, len(items), sys.stderr)
    try:
        async with DhmadClient.from_env(**options) as client:
            run = create_many(
                client,
                items,
                journal=args.journal,
                concurrency=args.concurrency,
                on_progress=progress.update if progress is not None else None,
                options=BatchOptions(
                    associated_email=args.associated_email, if_not_found=args.if_not_found
                ),
            )
            return await run
    finally:
        if progress is not None:
            progress.close()
        if limiter is not policy:
            await limiter.aclose()


def _handle(args: argparse.Namespace) -> int:
    from dhmad_async.batch._items import read_items

    if not os.environ.get("DHMAD_API_KEY", "").strip():
        print("error: set DHMAD_API_KEY to your sk_live_… or sk_sandbox_… key", file=sys.stderr)
        return EXIT_USAGE
    try:
        items = read_items(args.input)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.input}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from dhmad_async.batch._journal import JournalBusyError, JournalError

    try:
        report = asyncio.run(_run(args, items))
    except JournalBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_JOURNAL_BUSY
    except JournalError as exc:  # never restarted silently: one line, its own exit code
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_JOURNAL_DAMAGED
    except ValueError as exc:  # bad options, e.g. a key without a known prefix
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
    return EXIT_OK if report.ok else EXIT_ITEMS
