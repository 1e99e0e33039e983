"""
``AsyncPager``: iterate a page-numbered list item by item or page by page. I/O via ``fetch``.

It loops (never recurses), holds one page at a time (plus the ids already
seen), and stops at the last page, an empty page, or a page number past
``pages``. A server that answers a different page than asked, or repeats the
previous page, raises instead of looping forever (stripe-python#567,
openai-python PR #3915).

Page-number pagination shifts under concurrent writes: an escrow created
while the list is read pushes the others down, so one comes back on the next
page too; one removed pulls them up, so one is skipped. The pager yields each
id once, counts what it saw (``duplicates``, ``total_changes``), warns with
:class:`PaginationDriftWarning`, and with ``until_stable=True`` reads again
from page 1 until a whole pass sees no drift.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from dhmad_async._errors import DhmadError

__all__ = ["AsyncPager", "PaginationDriftWarning", "PaginationError"]

ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT")


class _PaginationInfo(Protocol):
    @property
    def page(self) -> int | None: ...

    @property
    def pages(self) -> int | None: ...


class PaginationError(DhmadError):
    """
    Raised when the server's pages do not advance (a repeated or unexpected page),
    or when an ``until_stable`` read was still changing after its last pass.
    """


class PaginationDriftWarning(UserWarning):
    """
    A list shifted while it was read page by page: an item came back twice, or the total changed.

    The item was yielded once; items may also have been skipped. Read with
    ``until_stable=True`` when every item must be seen (reconciliation), or
    filter it with ``warnings.filterwarnings("ignore", category=PaginationDriftWarning)``.
    """


class AsyncPager(Generic[ItemT, PageT]):
    """
    ``async for item in pager`` yields every item of every page, each id once;
    ``async for page in pager.pages()`` yields the page objects as served;
    ``await pager`` answers the first page.

    After (or during) an iteration, ``duplicates`` counts items that came back
    on a later page, ``total_changes`` how often the reported total changed,
    and ``passes`` how many times the list was read from its first page.
    """

    __slots__ = (
        "_drift_warnings",
        "_fetch",
        "_first_page",
        "_item_key",
        "_items",
        "_max_passes",
        "_page_size",
        "_pagination",
        "_until_stable",
        "duplicates",
        "passes",
        "total_changes",
    )

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[PageT]],
        *,
        items: Callable[[PageT], Sequence[ItemT]],
        pagination: Callable[[PageT], _PaginationInfo | None],
        item_key: Callable[[ItemT], Hashable],
        first_page: int = 1,
        page_size: int | None = None,
        until_stable: bool = False,
        max_passes: int = 3,
        drift_warnings: bool = True,
    ) -> None:
        if max_passes < 1:
            raise ValueError(f"max_passes must be at least 1, got {max_passes!r}")
        if until_stable and first_page != 1:
            raise ValueError("until_stable reads every pass from page 1; first_page must be 1")
        self._fetch = fetch
        self._items = items
        self._pagination = pagination
        self._item_key = item_key
        self._first_page = first_page
        self._page_size = page_size
        self._until_stable = until_stable
        self._max_passes = max_passes
        self._drift_warnings = drift_warnings
        #: Items seen again on a later page of the same pass (skipped, not yielded twice).
        self.duplicates = 0
        #: How many times the reported ``total`` differed from the page before.
        self.total_changes = 0
        #: Passes over the list started by the last iteration (``until_stable`` may add some).
        self.passes = 0

    def __repr__(self) -> str:
        return f"<AsyncPager from page {self._first_page}, {self._page_size} per page>"

    def __await__(self) -> Generator[Any, None, PageT]:
        """``await pager``: the first page only (as openai-python's paginators do)."""
        return self._fetch(self._first_page).__await__()

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self._iter_items()

    async def _iter_items(self) -> AsyncIterator[ItemT]:
        async for _, fresh in self._walk():
            for item in fresh:
                yield item

    async def pages(self) -> AsyncIterator[PageT]:
        """
        Yield each page in turn, fetching the next only when asked for it.

        Pages come as served, duplicates included (the counters and warnings
        still apply); with ``until_stable=True`` the pages of every pass come.
        """
        async for page, _ in self._walk():
            yield page

    def _warn(self, message: str) -> None:
        if self._drift_warnings and not self._until_stable:
            warnings.warn(message, PaginationDriftWarning, stacklevel=4)

    async def _walk(self) -> AsyncIterator[tuple[PageT, list[ItemT]]]:
        """Every page fetched, with its items not yielded before (the one loop)."""
        self.duplicates = self.total_changes = self.passes = 0
        seen: set[Hashable] = set()
        warned_duplicate = warned_total = False
        last_pass = self._max_passes if self._until_stable else 1
        for pass_number in range(1, last_pass + 1):
            self.passes = pass_number
            drifted = False
            in_pass: set[Hashable] = set()
            total: int | None = None
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
                        f"The server sent the same items for page {number} as for page"
                        f" {number - 1}; stopping instead of looping forever."
                    )
                page_total = getattr(info, "total", None)
                if isinstance(page_total, int):
                    if total is not None and page_total != total:
                        self.total_changes += 1
                        drifted = True
                        if not warned_total:
                            warned_total = True
                            self._warn(
                                f"The list's total changed from {total} to {page_total} while"
                                f" it was read (page {number}): items may have been skipped."
                                " Read with until_stable=True to see every item."
                            )
                    total = page_total
                fresh: list[ItemT] = []
                for item, key in zip(items, keys, strict=True):
                    if key in in_pass:
                        self.duplicates += 1
                        drifted = True
                        if not warned_duplicate:
                            warned_duplicate = True
                            self._warn(
                                f"An item came back on page {number} after an earlier page:"
                                " the list shifted while it was read (items were added). It"
                                " is yielded once; others may have been skipped. Read with"
                                " until_stable=True to see every item."
                            )
                        continue
                    in_pass.add(key)
                    if key not in seen:
                        seen.add(key)
                        fresh.append(item)
                yield page, fresh
                if not items:
                    break
                if info is not None and info.pages is not None:
                    if number >= info.pages:
                        break
                elif self._page_size is not None and len(items) < self._page_size:
                    break  # no pagination block: a short page is the last one
                previous_keys = keys
                number += 1
            # A pass is clean when nothing shifted during it and it saw as many
            # items as the server counts: every item present throughout was seen.
            complete = total is None or len(in_pass) == total
            if not self._until_stable or (not drifted and complete):
                return
        raise PaginationError(
            f"The list was still changing after {self._max_passes} passes"
            f" ({self.duplicates} items seen twice, the total changed"
            f" {self.total_changes} times): it may be incomplete. Try again when"
            " writes have settled, or raise max_passes."
        )
