"""AsyncPager: items across pages, page objects, stop conditions and the loop guard."""

from __future__ import annotations

import attrs
import pytest

from dhmad_async import AsyncPager, PaginationError


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
