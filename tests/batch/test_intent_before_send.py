"""The journal commits an item's "sent" intent before its create request leaves. Deterministic.

A transport in front of the real one looks at the journal at the moment each
``POST /escrows`` is handed to it, through a connection of its own: the item's row
must already say ``sent``, committed (a separate connection sees only committed
data). Nothing here depends on timing: the check runs before the request exists
on the wire, so an intent written after the send fails it on every run.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from batch_support import fast_rate_limit, item, own_item

from dhmad_async import DhmadClient, RetryPolicy
from dhmad_async._config import Timeout
from dhmad_async._transport import AiohttpTransport, RawResponse
from dhmad_async.batch import PostgresJournal
from dhmad_async.testing import Emulator

#: (key, state, attempts) of the item being created, as another connection sees it.
Seen = tuple[str, str, int]


class JournalCheckingTransport:
    """Delegates to a real transport; before each create POST, records the journal's row."""

    def __init__(
        self, read_row: Callable[[str], Awaitable[tuple[str, int] | None]], *, refuse: int = 0
    ) -> None:
        self._inner = AiohttpTransport()
        self._read_row = read_row
        #: How many creates to answer with a 429 (nothing created) instead of sending.
        self._refuse = refuse
        self.seen: list[Seen | str] = []

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: Timeout,
    ) -> RawResponse:
        """Check the journal for a create, then send it."""
        if method == "POST" and urlsplit(url).path.endswith("/escrows"):
            assert body is not None
            key = _key_of(json.loads(body, parse_float=Decimal))
            row = await self._read_row(key)
            self.seen.append(f"{key}: no row" if row is None else (key, *row))
            if self._refuse > 0:
                self._refuse -= 1
                return RawResponse(
                    status=429,
                    headers={"content-type": "application/json", "retry-after": "0"},
                    body=b'{"error":"Too Many Requests"}',
                )
        return await self._inner.request(method, url, headers, body, timeout=timeout)

    async def aclose(self) -> None:
        """Close the real transport."""
        await self._inner.aclose()


def _key_of(wire: Mapping[str, Any]) -> str:
    # The test items' titles are "Order n" / "Own order n", their keys "order-n" / "own-n".
    title = str(wire["title"])
    number = title.rsplit(" ", 1)[1]
    return f"own-{number}" if title.startswith("Own") else f"order-{number}"


def _sqlite_reader(path: Path) -> Callable[[str], Awaitable[tuple[str, int] | None]]:
    async def read(key: str) -> tuple[str, int] | None:
        # A fresh read-only connection per look: it sees what is committed, nothing else.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT state, attempts FROM items WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
        return None if row is None else (str(row[0]), int(row[1]))

    return read


def _client(emu: Emulator, transport: JournalCheckingTransport, **options: Any) -> DhmadClient:
    options.setdefault("retry", RetryPolicy(attempts=1))
    return DhmadClient(
        emu.api_key,
        base_url=emu.base_url,
        transport=transport,
        rate_limit=fast_rate_limit(),
        timeout=5.0,
        **options,
    )


def _assert_every_create_saw_its_intent(seen: list[Seen | str], sends: int) -> None:
    assert len(seen) == sends
    for entry in seen:
        assert not isinstance(entry, str), entry
        _key, state, attempts = entry
        assert (state, attempts >= 1) == ("sent", True), entry


async def test_every_create_leaves_after_its_sqlite_intent_is_committed(
    emu: Emulator, tmp_path: Path
) -> None:
    """Each POST finds its own item committed as "sent", read through a separate connection."""
    path = tmp_path / "j.sqlite"
    transport = JournalCheckingTransport(_sqlite_reader(path))
    async with _client(emu, transport) as client:
        items = [item(n) if n % 2 else own_item(n) for n in range(12)]
        report = await client.escrows.create_many(items, journal=path, concurrency=4)
    assert report.counts["created"] == 12
    _assert_every_create_saw_its_intent(transport.seen, 12)


async def test_a_resend_after_a_429_also_commits_its_intent_first(
    emu: Emulator, tmp_path: Path
) -> None:
    """A refused create recorded as failed is sent again only after a new "sent" commit."""
    path = tmp_path / "j.sqlite"
    transport = JournalCheckingTransport(_sqlite_reader(path), refuse=1)
    async with _client(emu, transport) as client:
        report = await client.escrows.create_many([own_item(1)], journal=path)
    assert report.counts["created"] == 1
    _assert_every_create_saw_its_intent(transport.seen, 2)
    assert [entry[2] for entry in transport.seen if not isinstance(entry, str)] == [1, 2]


@pytest.mark.postgres
async def test_every_create_leaves_after_its_postgres_intent_is_committed(
    emu: Emulator, pg_dsn: str
) -> None:
    """The shared PostgreSQL journal, read through a connection of the test's own."""
    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    one_at_a_time = asyncio.Lock()  # one connection, several workers asking

    async def read(key: str) -> tuple[str, int] | None:
        async with one_at_a_time:
            row = await conn.fetchrow(
                "SELECT state, attempts FROM intent_check.items WHERE key = $1", key
            )
        return None if row is None else (str(row["state"]), int(row["attempts"]))

    transport = JournalCheckingTransport(read)
    journal = await PostgresJournal.open(pg_dsn, schema="intent_check")
    try:
        async with _client(emu, transport) as client:
            items = [item(n) if n % 2 else own_item(n) for n in range(6)]
            report = await client.escrows.create_many(items, journal=journal, concurrency=3)
    finally:
        await journal.aclose()
        await conn.close()
    assert report.counts["created"] == 6, [(o.external_key, o.status, o.error) for o in report]
    _assert_every_create_saw_its_intent(transport.seen, 6)
