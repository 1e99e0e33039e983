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
