"""
``AsyncPager``: iterate a page-numbered list item by item or page by page. I/O via ``fetch``.

It loops (never recurses), holds one page at a time, and stops at the last
page, an empty page, or a page number past ``pages``. A server that answers a
different page than asked, or repeats the previous page, raises instead of
looping forever (stripe-python#567, openai-python PR #3915).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

from dhmad_async._errors import DhmadError

__all__ = ["AsyncPager", "PaginationError"]

ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT")


class _PaginationInfo(Protocol):
    @property
    def page(self) -> int | None: ...

    @property
    def pages(self) -> int | None: ...


class PaginationError(DhmadError):
    """Raised when the server's pages do not advance (a repeated or unexpected page)."""


class AsyncPager(Generic[ItemT, PageT]):
    """
    ``async for item in pager`` yields every item of every page;
    ``async for page in pager.pages()`` yields the page objects (with ``pagination``).
    """

    __slots__ = ("_fetch", "_first_page", "_item_key", "_items", "_page_size", "_pagination")

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[PageT]],
        *,
        items: Callable[[PageT], Sequence[ItemT]],
        pagination: Callable[[PageT], _PaginationInfo | None],
        item_key: Callable[[ItemT], Hashable],
        first_page: int = 1,
        page_size: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._items = items
        self._pagination = pagination
        self._item_key = item_key
        self._first_page = first_page
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"<AsyncPager from page {self._first_page}, {self._page_size} per page>"

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self._iter_items()

    async def _iter_items(self) -> AsyncIterator[ItemT]:
        async for page in self.pages():
            for item in self._items(page):
                yield item

    async def pages(self) -> AsyncIterator[PageT]:
        """Yield each page in turn, fetching the next only when asked for it."""
        number = self._first_page
        previous_keys: tuple[Hashable, ...] | None = None
        while True:
            page = await self._fetch(number)
            items = self._items(page)
            info = self._pagination(page)
            if info is not None and info.page is not None and info.page != number:
                raise PaginationError(
                    f"Asked for page {number} but the server answered page {info.page}."
                )
            keys = tuple(self._item_key(item) for item in items)
            if keys and keys == previous_keys:
                raise PaginationError(
                    f"The server sent the same items for page {number} as for page {number - 1};"
                    " stopping instead of looping forever."
                )
            yield page
            if not items:
                return
            if info is not None and info.pages is not None:
                if number >= info.pages:
                    return
            elif self._page_size is not None and len(items) < self._page_size:
                return  # no pagination block: a short page is the last one
            previous_keys = keys
            number += 1
