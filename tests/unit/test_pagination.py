"""AsyncPager: items across pages, page objects, stop conditions and the loop guard."""

from __future__ import annotations

import attrs
import pytest

from dhmad_async import AsyncPager, PaginationDriftWarning, PaginationError


@attrs.frozen
class Info:
    page: int | None
    pages: int | None


@attrs.frozen
class Page:
    items: list[str]
    info: Info | None


class Server:
    """Serves scripted pages by number and records which were asked for."""

    def __init__(self, pages: dict[int, Page]) -> None:
        self.pages = pages
        self.asked: list[int] = []

    async def fetch(self, number: int) -> Page:
        self.asked.append(number)
        return self.pages[number]


def _pager(server: Server, *, first: int = 1, size: int | None = 2) -> AsyncPager[str, Page]:
    return AsyncPager(
        server.fetch,
        items=lambda p: p.items,
        pagination=lambda p: p.info,
        item_key=lambda item: item,
        first_page=first,
        page_size=size,
    )


def _numbered(*pages: list[str]) -> dict[int, Page]:
    return {n: Page(items, Info(n, len(pages))) for n, items in enumerate(pages, start=1)}


async def test_items_across_pages_stop_at_last() -> None:
    """Every item of every page, in order; nothing fetched past ``pages``."""
    server = Server(_numbered(["a", "b"], ["c", "d"], ["e"]))
    assert [item async for item in _pager(server)] == ["a", "b", "c", "d", "e"]
    assert server.asked == [1, 2, 3]


async def test_pages_yields_page_objects_lazily() -> None:
    """pages() yields page objects and fetches the next only when asked."""
    server = Server(_numbered(["a", "b"], ["c"]))
    pages = _pager(server).pages()
    first = await anext(pages)
    assert first.items == ["a", "b"]
    assert server.asked == [1]
    assert [p.items async for p in pages] == [["c"]]


async def test_stops_at_empty_page() -> None:
    """An empty page ends iteration even when ``pages`` claims more."""
    server = Server({1: Page(["a", "b"], Info(1, 5)), 2: Page([], Info(2, 5))})
    assert [item async for item in _pager(server)] == ["a", "b"]
    assert server.asked == [1, 2]


async def test_stops_when_starting_past_pages() -> None:
    """A first page number beyond ``pages`` yields that page and stops."""
    server = Server({7: Page([], Info(7, 3))})
    assert [item async for item in _pager(server, first=7)] == []
    assert server.asked == [7]


async def test_short_page_without_pagination_is_last() -> None:
    """Without a pagination block, a page shorter than page_size ends iteration."""
    server = Server({1: Page(["a", "b"], None), 2: Page(["c"], None)})
    assert [item async for item in _pager(server)] == ["a", "b", "c"]
    assert server.asked == [1, 2]


async def test_repeated_page_raises() -> None:
    """A server that sends the same items for the next page raises instead of looping."""
    server = Server({1: Page(["a", "b"], Info(None, 9)), 2: Page(["a", "b"], Info(None, 9))})
    with pytest.raises(PaginationError, match="same items"):
        _ = [item async for item in _pager(server)]


async def test_wrong_page_number_raises() -> None:
    """A server answering another page number than asked raises."""
    server = Server({1: Page(["a", "b"], Info(1, 3)), 2: Page(["c", "d"], Info(1, 3))})
    with pytest.raises(PaginationError, match="Asked for page 2"):
        _ = [item async for item in _pager(server)]


# -- await, de-duplication and drift (page-number lists under concurrent writes) -------------


@attrs.frozen
class Counted:
    page: int
    pages: int
    total: int


@attrs.frozen
class Listing:
    items: list[str]
    info: Counted


class LiveList:
    """A newest-first list served by page number, changed by ``writes`` before given fetches."""

    def __init__(self, items: list[str], limit: int, writes: dict[int, list[str]]) -> None:
        self.items = list(items)
        self.limit = limit
        # fetch number (1-based) → ids created just before it ("-id" removes one).
        self.writes = writes
        self.fetches = 0

    async def fetch(self, number: int) -> Listing:
        self.fetches += 1
        for change in self.writes.get(self.fetches, []):
            if change.startswith("-"):
                self.items.remove(change[1:])
            else:
                self.items.insert(0, change)
        start = (number - 1) * self.limit
        total = len(self.items)
        pages = max(1, -(-total // self.limit))
        return Listing(self.items[start : start + self.limit], Counted(number, pages, total))

    def pager(self, **options: object) -> AsyncPager[str, Listing]:
        return AsyncPager(
            self.fetch,
            items=lambda p: p.items,
            pagination=lambda p: p.info,
            item_key=lambda item: item,
            page_size=self.limit,
            **options,  # type: ignore[arg-type]
        )


async def test_await_gives_the_first_page_only() -> None:
    """``await pager`` fetches and answers page 1; ``async for`` still yields items."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {})
    first = await live.pager()
    assert first.items == ["e", "d"] and first.info.total == 5
    assert live.fetches == 1
    assert [item async for item in live.pager()] == ["e", "d", "c", "b", "a"]


async def test_an_item_pushed_onto_the_next_page_is_yielded_once_and_reported() -> None:
    """A create between pages pushes an item down a page: it comes once, with a warning."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {2: ["f"]})
    pager = live.pager()
    with pytest.warns(PaginationDriftWarning) as caught:
        seen = [item async for item in pager]
    assert seen == ["e", "d", "c", "b", "a"]  # "d" came back on page 2, yielded once
    assert pager.duplicates == 1
    assert pager.total_changes == 1
    assert {type(w.message) for w in caught} == {PaginationDriftWarning}
    assert len(caught) == 2  # one per kind, not one per occurrence


async def test_a_removed_item_shifts_the_rest_up_and_the_total_change_is_reported() -> None:
    """A removal skips an item silently in the pages; the pager says the total changed."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {2: ["-e"]})
    pager = live.pager()
    with pytest.warns(PaginationDriftWarning, match="total changed from 5 to 4"):
        seen = [item async for item in pager]
    assert "c" not in seen  # shifted onto page 1 after it was read: skipped
    assert pager.total_changes == 1 and pager.duplicates == 0


async def test_until_stable_reads_again_until_a_clean_pass_and_yields_each_id_once() -> None:
    """Reconciliation-grade: a second pass finds the skipped item; the new one too."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {2: ["-e", "f"], 3: ["g"]})
    pager = live.pager(until_stable=True, max_passes=3)
    seen = [item async for item in pager]  # no warning: drift is handled
    assert sorted(seen) == ["a", "b", "c", "d", "e", "f", "g"]
    assert len(seen) == len(set(seen))
    assert pager.passes == 2
    assert live.fetches == 3 + 3  # each pass costs its pages (3, then 3 of 6 items)


async def test_until_stable_costs_nothing_extra_on_a_quiet_list() -> None:
    """Without writes, one pass: exactly as many requests as pages."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {})
    pager = live.pager(until_stable=True)
    assert [item async for item in pager] == ["e", "d", "c", "b", "a"]
    assert (pager.passes, live.fetches) == (1, 3)


async def test_until_stable_gives_up_after_max_passes() -> None:
    """A list that never settles raises PaginationError after the last pass."""
    writes = {n: [f"new{n}"] for n in range(2, 40)}
    live = LiveList(["e", "d", "c", "b", "a"], 2, writes)
    pager = live.pager(until_stable=True, max_passes=2)
    with pytest.raises(PaginationError, match="still changing after 2 passes"):
        _ = [item async for item in pager]
    assert pager.passes == 2


async def test_drift_warnings_can_be_turned_off_and_pages_come_as_served() -> None:
    """drift_warnings=False: no warning, counters still kept; pages() shows the repeat."""
    live = LiveList(["e", "d", "c", "b", "a"], 2, {2: ["f"]})
    pager = live.pager(drift_warnings=False)
    pages = [page.items async for page in pager.pages()]
    assert pages == [["e", "d"], ["d", "c"], ["b", "a"]]
    assert pager.duplicates == 1


def test_until_stable_needs_page_one() -> None:
    """Each stable pass starts at page 1, so another first page is refused."""
    live = LiveList([], 2, {})
    with pytest.raises(ValueError, match="first_page must be 1"):
        AsyncPager(
            live.fetch,
            items=lambda p: p.items,
            pagination=lambda p: p.info,
            item_key=lambda item: item,
            first_page=2,
            until_stable=True,
        )
