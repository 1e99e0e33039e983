"""
``APIResponse``: one answered call as received, for ``…with_raw_response.<method>()``. Pure.

The client builds it after the retry loop and the status check (a 4xx/5xx
still raises its :class:`~dhmad_async.APIStatusError`, which carries the
status, headers and body itself). The model is built only when
:meth:`APIResponse.parse` is called, so the bytes of a body that does not fit
the model can still be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

from dhmad_async._sansio import decode_json

__all__ = ["REQUEST_ID_HEADERS", "APIResponse", "request_id_of"]

T = TypeVar("T")

#: Response headers read as the request id, in order. DHMAD documents none (INF): these
#: are the two names in common use; a server that sends neither gives ``None``.
REQUEST_ID_HEADERS: Final = ("x-request-id", "request-id")

_UNPARSED: Final = object()


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The request id among lower-cased response ``headers``, or None."""
    return headers.get("x-request-id") or headers.get("request-id")


class APIResponse(Generic[T]):
    """
    The HTTP answer to one call (its last attempt), and the model on demand.

    ::

        response = await client.escrows.with_raw_response.get(escrow_id)
        response.status, response.headers["content-type"], response.request_id
        escrow = response.parse()          # the Escrow that .get() returns

    Attributes:
        status: The HTTP status (always 2xx: error statuses raise as usual).
        headers: The response headers, names lower-cased.
        content: The body exactly as received.
        request_id: ``X-Request-Id`` or ``Request-Id`` when the server sent one.
        retries_taken: How many attempts failed and were retried before this one.
        elapsed: Seconds from sending the last attempt to reading its answer
            (waits for the rate limiter and earlier attempts excluded).
        method, url: What was sent (the URL with its query string).
    """

    __slots__ = (
        "_finish",
        "_parsed",
        "content",
        "elapsed",
        "headers",
        "method",
        "request_id",
        "retries_taken",
        "status",
        "url",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        retries_taken: int,
        elapsed: float,
        method: str,
        url: str,
        finish: Callable[[], T],
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self.request_id = request_id_of(headers)
        self.retries_taken = retries_taken
        self.elapsed = elapsed
        self.method = method
        self.url = url
        self._finish = finish
        self._parsed: Any = _UNPARSED

    def parse(self) -> T:
        """
        The value the plain method returns (a model, a list, or None), built once.

        A body that does not fit raises :class:`~dhmad_async.ResponseValidationError`
        (flagged ``may_have_succeeded`` for a POST, which did take effect), with
        the bytes in ``raw_body``; :attr:`content` stays readable either way.
        """
        if self._parsed is _UNPARSED:
            self._parsed = self._finish()
        parsed: T = self._parsed
        return parsed

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, every non-integer number a ``Decimal``."""
        return decode_json(self.content)

    def __repr__(self) -> str:
        # The path only: a query string may hold e-mail addresses.
        path = self.url.split("?", 1)[0]
        return f"<APIResponse [{self.status}] {self.method} {path}>"
