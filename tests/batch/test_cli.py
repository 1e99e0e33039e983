"""``python -m dhmad_async batch create`` end to end against the emulator, and input reading."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

from dhmad_async.batch import read_items
from dhmad_async.batch._items import UnreadableItem
from dhmad_async.testing import Emulator

CSV = """external_key,title,amount,buyer_email,seller_email,mode,estimated_delivery_days
A-1,Chair,25.500,b1@example.com,seller@example.com,quick,3
A-2,Table,120,b2@example.com,seller@example.com,quick,5
A-3,Lamp,-4,b3@example.com,seller@example.com,quick,2
"""


async def _cli(emu: Emulator, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DHMAD_API_KEY": emu.api_key}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        "create",
        *args,
        "--base-url",
        emu.base_url,
        "--rate-window",
        "0.6",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_cli_creates_reports_and_resumes(emu: Emulator, tmp_path: Path) -> None:
    """The CLI creates valid rows, reports the bad one, prints progress, and resends nothing."""
    source = tmp_path / "orders.csv"
    source.write_text(CSV)
    journal, report = tmp_path / "orders.sqlite", tmp_path / "out.jsonl"
    code, err = await _cli(
        emu, str(source), "--journal", str(journal), "--report", str(report), "--progress", "plain"
    )
    assert code == 1  # one item failed
    assert "batch: 3/3 done, 2 created, 1 failed" in err
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["created", "created", "failed"]
    assert "amount" in rows[2]["error"]
    assert {e["title"] for e in emu.escrows()} == {"Chair", "Table"}
    posts = emu.request_count("POST", "/api/v1/escrows")
    csv_report = tmp_path / "out.csv"
    code, _ = await _cli(emu, str(source), "--journal", str(journal), "--report", str(csv_report))
    assert code == 1
    assert emu.request_count("POST", "/api/v1/escrows") == posts
    assert csv_report.read_text().splitlines()[0].startswith("position,external_key,status")


async def test_cli_without_api_key_is_a_usage_error(tmp_path: Path) -> None:
    """Without DHMAD_API_KEY the command exits 2 before reading or sending anything."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        "create",
        str(tmp_path / "missing.csv"),
        "--journal",
        str(tmp_path / "j.sqlite"),
        env={k: v for k, v in os.environ.items() if k != "DHMAD_API_KEY"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"DHMAD_API_KEY" in err


def test_jsonl_keeps_money_exact_and_marks_bad_lines(tmp_path: Path) -> None:
    """JSON Lines amounts stay Decimal; a broken line becomes an unreadable item, not a crash."""
    source = tmp_path / "items.jsonl"
    source.write_text('{"title": "A", "amount": 10.10, "buyer_email": "a@example.com"}\n\n{oops\n')
    items = read_items(source)
    assert isinstance(items[0], dict) and items[0]["amount"] == Decimal("10.10")
    assert isinstance(items[1], UnreadableItem) and "line 3" in items[1].message


def test_csv_empty_cells_are_omitted_and_numbers_coerced(tmp_path: Path) -> None:
    """Empty CSV cells are not sent; delivery days become ints, amounts stay exact strings."""
    source = tmp_path / "items.csv"
    source.write_text(
        "title,amount,buyer_email,seller_email,estimated_delivery_days\nA,5.25,a@example.com,,4\n"
    )
    (row,) = read_items(source)
    assert row == {
        "title": "A",
        "amount": "5.25",
        "buyer_email": "a@example.com",
        "estimated_delivery_days": 4,
    }


async def _batch(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``python -m dhmad_async batch ARGS``: exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "batch",
        *args,
        env=env or {**os.environ, "DHMAD_API_KEY": "sk_sandbox_unused"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_journal_that_cannot_be_opened_is_one_line_with_its_own_code(
    tmp_path: Path,
) -> None:
    """No traceback, and not the "some items failed" code: a missing directory, a directory."""
    source = tmp_path / "orders.csv"
    source.write_text(CSV)
    for journal in (tmp_path / "missing" / "j.sqlite", tmp_path):
        code, err = await _batch(
            "create", str(source), "--journal", str(journal), "--base-url", "http://127.0.0.1:9"
        )
        assert code == 7, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith("error: cannot open or create journal")


async def test_items_that_conflict_with_the_journal_exit_with_their_own_code(
    emu: Emulator, tmp_path: Path
) -> None:
    """A key reused with other parameters: one line naming it, exit 6, and it is not sent."""
    source, journal = tmp_path / "orders.csv", tmp_path / "orders.sqlite"
    source.write_text(CSV.replace("A-3,Lamp,-4", "A-3,Lamp,40"))
    code, _ = await _cli(emu, str(source), "--journal", str(journal))
    assert code == 0
    source.write_text(CSV.replace("A-3,Lamp,-4", "A-3,Lamp,40").replace("Chair,25.500", "Chair,30"))
    posts = emu.request_count("POST", "/api/v1/escrows")
    code, err = await _cli(emu, str(source), "--journal", str(journal))
    assert code == 6, err
    assert "Traceback" not in err
    assert "1 item(s) conflict with the journal and were not sent (first: A-1:" in err
    assert emu.request_count("POST", "/api/v1/escrows") == posts


async def test_help_documents_every_exit_code() -> None:
    """`batch create --help` lists the exit codes and what each means."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dhmad_async", "batch", "create", "--help",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode()
    for code in range(8):
        assert f"\n  {code}  " in text, code
    assert "conflict with the journal" in text and "lost its journal lease" in text


async def test_an_unknown_csv_column_is_refused_before_anything_is_sent(
    emu: Emulator, tmp_path: Path
) -> None:
    """A misspelt header: one error naming the column and the known ones; nothing sent."""
    source = tmp_path / "orders.csv"
    source.write_text(CSV.replace("buyer_email", "buyer_emial"))
    code, err = await _cli(emu, str(source), "--journal", str(tmp_path / "j.sqlite"))
    assert code == 2, err
    assert "unknown column 'buyer_emial' (did you mean 'buyer_email'?)" in err
    assert "known columns: title, amount, buyer_email" in err
    assert len(err.strip().splitlines()) == 1
    assert emu.request_count() == 0
    assert not (tmp_path / "j.sqlite").exists()


def test_progress_rate_and_eta_count_only_this_runs_items() -> None:
    """On resume, items read back from the journal are shown apart and not counted as speed."""
    from io import StringIO

    from dhmad_async.batch import BatchProgress
    from dhmad_async.batch._cli import _PlainProgress

    now = [100.0]
    stream = StringIO()
    progress = _PlainProgress(stream, every=0.0, clock=lambda: now[0])
    now[0] += 0.26  # the journal's 90 items are reported at once, at the start
    progress.update(
        BatchProgress(total=100, done=90, created=90, failed=0, needs_review=0, requests=0,
                      resumed=90)
    )  # fmt: skip
    now[0] += 10.0  # then this run creates 5 in ten seconds
    progress.update(
        BatchProgress(total=100, done=95, created=95, failed=0, needs_review=0, requests=5,
                      resumed=90, sends=5)
    )  # fmt: skip
    first, second = stream.getvalue().splitlines()
    assert "90/100 done (90 from the journal)" in first and "0.0/s" in first
    assert "95/100 done (90 from the journal)" in second
    assert "5 sent this run, 0.5/s, ETA 10 s" in second


def test_report_csv_cells_cannot_be_formulas_and_the_change_is_reversible(
    tmp_path: Path,
) -> None:
    """Text starting with = + - @ gets one leading quote; numbers and JSON Lines stay exact."""
    import csv

    from dhmad_async.batch import BatchReport, ItemOutcome, OutcomeStatus

    keys = ['=HYPERLINK("http://x","y")', "+1", "-42", "@SUM(A1)", "ok-1"]
    report = BatchReport(
        outcomes=tuple(
            ItemOutcome(
                position=n,
                external_key=key,
                status=OutcomeStatus.FAILED,
                error="=cmd|' /C calc'!A0",
                http_status=400,
            )
            for n, key in enumerate(keys)
        )
    )
    report.write(tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["external_key"] for r in rows] == ["'" + k for k in keys[:4]] + ["ok-1"]
    assert {r["error"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["http_status"] for r in rows} == {"400"}
    assert [r["external_key"].removeprefix("'") for r in rows] == keys  # one quote, undone
    report.write(tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["external_key"] for r in lines] == keys
