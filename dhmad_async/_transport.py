"""
The HTTP transport: one attempt in, one :class:`RawResponse` out. Does network I/O.

This is the only module that imports aiohttp's client. Every aiohttp and
asyncio failure is translated here, in :func:`_translate`, into an
:class:`~dhmad_async.APIConnectionError` that says whether the request
certainly never left this process (``request_sent=False``), which is what
decides whether a POST may be resent. The aiohttp exception itself is not
chained (its ``repr`` shows the request headers): a scrubbed stand-in is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import re
from collections.abc import Mapping
from typing import Final, Protocol

import aiohttp
import attrs
import yarl
from aiohttp import client_exceptions as _ce

from dhmad_async._config import Timeout
from dhmad_async._errors import APIConnectionError, APITimeoutError, ClientClosedError
from dhmad_async._redact import credential_values, redact

__all__ = ["AiohttpTransport", "RawResponse", "RedactedTransportError", "Transport", "wire_url"]

# A URL made only of RFC 3986 characters with well-formed %XX escapes: what
# the request builder produces (ids and queries are escaped there).
_ENCODED_URL: Final = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def wire_url(url: str) -> yarl.URL:
    """
    The URL to hand to aiohttp: exactly ``url`` when it is already percent-encoded.

    Given a plain string, aiohttp re-quotes the URL, and re-quoting decodes
    some escapes (``%3B`` back to ``;``): an id escaped into one path segment
    would not reach the server as escaped. A URL with characters that still
    need escaping (a hand-written base URL with a space, say) is quoted as before.
    """
    if _ENCODED_URL.fullmatch(url):
        return yarl.URL(url, encoded=True)
    return yarl.URL(url)


@attrs.frozen
class RawResponse:
    """Status, lower-cased headers (repeats joined with ``", "``) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """What the client needs from HTTP: send one attempt, and close."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: Timeout,
    ) -> RawResponse: ...

    async def aclose(self) -> None: ...


# aiohttp exception → (our class, request_sent). `False` means the failure
# happened before a byte of the request was written (connect, DNS, TLS, bad
# URL), so resending cannot duplicate anything. `None` means we cannot know.
# tests/unit/test_transport.py fails when aiohttp gains a class missing here.
_Mapped = tuple[type[APIConnectionError], bool | None]
_EXCEPTION_MAP: Final[Mapping[type[BaseException], _Mapped]] = {
    _ce.ConnectionTimeoutError: (APITimeoutError, False),
    _ce.SocketTimeoutError: (APITimeoutError, None),
    _ce.ServerTimeoutError: (APITimeoutError, None),
    _ce.ClientConnectorDNSError: (APIConnectionError, False),
    _ce.ClientConnectorCertificateError: (APIConnectionError, False),
    _ce.ClientConnectorSSLError: (APIConnectionError, False),
    _ce.ClientProxyConnectionError: (APIConnectionError, False),
    _ce.UnixClientConnectorError: (APIConnectionError, False),
    _ce.ClientConnectorError: (APIConnectionError, False),
    _ce.ServerFingerprintMismatch: (APIConnectionError, False),
    _ce.ClientSSLError: (APIConnectionError, False),
    _ce.InvalidUrlRedirectClientError: (APIConnectionError, None),
    _ce.NonHttpUrlRedirectClientError: (APIConnectionError, None),
    _ce.InvalidUrlClientError: (APIConnectionError, False),
    _ce.NonHttpUrlClientError: (APIConnectionError, False),
    _ce.RedirectClientError: (APIConnectionError, None),
    _ce.InvalidURL: (APIConnectionError, False),
    _ce.ServerDisconnectedError: (APIConnectionError, None),
    _ce.ClientConnectionResetError: (APIConnectionError, None),
    _ce.ClientOSError: (APIConnectionError, None),
    _ce.ServerConnectionError: (APIConnectionError, None),
    _ce.ClientConnectionError: (APIConnectionError, None),
    # A response was being read: the server has processed the request.
    _ce.ClientPayloadError: (APIConnectionError, True),
    _ce.ContentTypeError: (APIConnectionError, True),
    _ce.TooManyRedirects: (APIConnectionError, True),
    _ce.ClientHttpProxyError: (APIConnectionError, False),
    _ce.WSServerHandshakeError: (APIConnectionError, True),
    _ce.WSMessageTypeError: (APIConnectionError, True),
    _ce.ClientResponseError: (APIConnectionError, True),
    # The body was never fully written; with Content-Length framing the server
    # cannot act on a partial body, so nothing took effect.
    _ce.UploadAbortedError: (APIConnectionError, False),
    _ce.ClientError: (APIConnectionError, None),
}


class RedactedTransportError(Exception):
    """
    Stands in for an aiohttp exception as the ``__cause__`` of a connection error.

    aiohttp's exceptions carry the request (``ClientResponseError.request_info``
    holds the ``Authorization`` header; a connection key holds proxy
    credentials) and their ``repr`` prints it. This keeps what helps debugging,
    the original type and its redacted text, and nothing else.
    """

    def __init__(self, original_type: str, text: str) -> None:
        super().__init__(f"{original_type}: {text}" if text else original_type)
        #: The qualified name of the exception this stands in for.
        self.original_type = original_type


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    text = redact(str(exc).strip(), secrets)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _safe_cause(exc: BaseException, secrets: tuple[str, ...]) -> BaseException:
    """
    A chain-free stand-in for ``exc``: a fresh built-in error, or a RedactedTransportError.

    A built-in OSError or TimeoutError is rebuilt from its redacted arguments,
    so ``isinstance(err.__cause__, ConnectionResetError)`` still works; its own
    chain, which may lead back to aiohttp objects, is not carried over.
    """
    kind = type(exc)
    if kind.__module__ == "builtins" and all(isinstance(arg, str | int | None) for arg in exc.args):
        args = [redact(arg, secrets) if isinstance(arg, str) else arg for arg in exc.args]
        with contextlib.suppress(Exception):
            return kind(*args)
    return RedactedTransportError(
        f"{kind.__module__}.{kind.__qualname__}", redact(str(exc).strip(), secrets)
    )


def _translate(
    exc: BaseException, method: str, url: str, secrets: tuple[str, ...] = ()
) -> APIConnectionError | None:
    """
    Our connection error for an aiohttp/asyncio failure, or None to let ``exc`` through.

    The result's ``__cause__`` is a scrubbed stand-in (:func:`_safe_cause`) and
    its message is redacted, so no credential the request carried can surface
    through the error, its ``repr`` or its chain. Raise it *outside* the
    ``except`` block that caught ``exc``, or Python links ``exc`` back in as
    ``__context__``.
    """
    if isinstance(exc, APIConnectionError | asyncio.CancelledError):
        return None
    # aiohttp's timeout classes are also TimeoutErrors: map them first, or a
    # connect timeout (certainly unsent) would lose its request_sent=False.
    if isinstance(exc, aiohttp.ClientError):
        for klass in type(exc).__mro__:
            if klass in _EXCEPTION_MAP:
                error_class, sent = _EXCEPTION_MAP[klass]
                break
        else:  # pragma: no cover - ClientError itself is in the map
            error_class, sent = APIConnectionError, None
        error = error_class(
            f"{method} failed: {_describe(exc, secrets)}", method=method, url=url, request_sent=sent
        )
    elif isinstance(exc, TimeoutError):  # asyncio.timeout() around the whole attempt
        error = APITimeoutError(
            f"{method} timed out ({_describe(exc, secrets)}).",
            method=method,
            url=url,
            request_sent=None,
        )
    elif isinstance(exc, OSError):
        error = APIConnectionError(
            f"{method} failed: {_describe(exc, secrets)}", method=method, url=url, request_sent=None
        )
    else:
        return None
    error.__cause__ = _safe_cause(exc, secrets)
    return error


# The transport whose connection slot the current task holds (see connection_slot()).
_SLOT_HELD_FOR: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "dhmad_async_slot_held_for", default=None
)


class _ConnectionSlot:
    """
    ``async with transport.connection_slot():`` -- one of the pool's slots for this task.

    A plain class rather than ``@asynccontextmanager``: it is entered twice per
    request (by the client, then by the transport inside it), and a generator-based
    context manager costs a generator and its frames each time.
    """

    __slots__ = ("_held", "_semaphore", "_token", "_transport")

    def __init__(self, transport: AiohttpTransport) -> None:
        self._transport = transport
        self._held = False
        self._token: contextvars.Token[object | None] | None = None
        self._semaphore: asyncio.Semaphore | None = None

    async def __aenter__(self) -> None:
        transport = self._transport
        transport._check_fork()
        if _SLOT_HELD_FOR.get() is transport:  # already held by this task: do not deadlock
            return
        semaphore = transport._semaphore
        if semaphore is None:
            semaphore = transport._semaphore = asyncio.Semaphore(transport._connections)
        await semaphore.acquire()
        self._held = True
        try:
            # The wait for a pooled connection may outlast aclose().
            transport._raise_if_closed()
        except BaseException:
            self._release(semaphore)
            raise
        self._semaphore = semaphore
        self._token = _SLOT_HELD_FOR.set(transport)

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._held:
            return
        if self._token is not None:
            _SLOT_HELD_FOR.reset(self._token)
            self._token = None
        assert self._semaphore is not None  # set whenever _held is
        self._release(self._semaphore)

    def _release(self, semaphore: asyncio.Semaphore) -> None:
        self._held = False
        semaphore.release()


# Sessions inherited across fork() are parked here for the life of the child:
# closing them would shut down the parent's TLS streams on shared sockets, and
# letting them be collected would warn about unclosed sessions.
_ABANDONED_AFTER_FORK: list[aiohttp.ClientSession] = []


class AiohttpTransport:
    """
    A :class:`Transport` over an ``aiohttp.ClientSession``.

    The session is created lazily inside the running loop, or injected (and
    then never closed by us). Concurrency is bounded by a semaphore sized to
    the connection pool and acquired *before* the attempt's timeout starts, so
    waiting for a free connection never counts as a timeout (aiohttp#10313).
    The client takes that slot with :meth:`connection_slot` *before* the rate
    limiter admits the request, so a request is counted when it can go out.
    A transport used in a forked child builds a fresh session.

    ``local_address`` binds every connection to that source IP (``("ip", 0)`` as
    aiohttp's ``local_addr``), e.g. one of several addresses of a host, each with its
    own server-side rate budget. It applies to the session this transport creates.
    """

    __slots__ = (
        "_closed",
        "_connections",
        "_last_timeout",
        "_local_address",
        "_owns_session",
        "_pid",
        "_semaphore",
        "_session",
        "_user_agent",
    )

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_connections: int = 100,
        user_agent: str | None = None,
        local_address: str | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if local_address is not None and session is not None:
            raise ValueError("local_address applies to the transport's own session, not session=")
        self._local_address = local_address
        self._session = session
        self._owns_session = session is None
        self._connections = max_connections
        if session is not None and session.connector is not None and session.connector.limit:
            self._connections = session.connector.limit
        self._semaphore: asyncio.Semaphore | None = None
        self._user_agent = user_agent
        self._pid = os.getpid()
        self._closed = False
        self._last_timeout: tuple[Timeout, aiohttp.ClientTimeout] | None = None

    @property
    def max_connections(self) -> int:
        """How many requests may be in flight at once (the pool size)."""
        return self._connections

    def __repr__(self) -> str:
        owner = "own" if self._owns_session else "injected"
        source = f", from {self._local_address}" if self._local_address else ""
        return f"<AiohttpTransport {owner} session, {self._connections} connections{source}>"

    def _check_fork(self) -> None:
        pid = os.getpid()
        if pid == self._pid:
            return
        self._pid = pid
        self._semaphore = None
        if self._session is not None and self._owns_session:
            _ABANDONED_AFTER_FORK.append(self._session)
            self._session = None

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ClientClosedError("This transport was closed; it sends nothing more.")

    def _get_session(self) -> aiohttp.ClientSession:
        # A closed transport never builds a session again: a call that was
        # waiting when the client closed must not open a new one and send.
        self._raise_if_closed()
        self._check_fork()
        if self._session is None:
            headers = {"User-Agent": self._user_agent} if self._user_agent else None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._connections,
                    local_addr=(self._local_address, 0) if self._local_address else None,
                ),
                headers=headers,
                # We never follow cookies from an API; keep state out of requests.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def connection_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """
        Hold one of the ``max_connections`` slots; :meth:`request` inside it uses this one.

        Without it, :meth:`request` takes a slot itself.
        """
        return _ConnectionSlot(self)

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts for ``timeout``, built once for the Timeout a client reuses."""
        cached = self._last_timeout
        if cached is not None and cached[0] is timeout:
            return cached[1]
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._last_timeout = (timeout, client_timeout)
        return client_timeout

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: Timeout,
    ) -> RawResponse:
        """Send one attempt; the whole body is read and the connection released."""
        session = self._get_session()
        client_timeout = self._client_timeout(timeout)
        async with _ConnectionSlot(self):
            try:
                async with (
                    asyncio.timeout(timeout.total),
                    session.request(
                        method,
                        wire_url(url),
                        headers=dict(headers),
                        data=body,
                        timeout=client_timeout,
                        allow_redirects=False,
                    ) as response,
                ):
                    payload = await response.read()
                    merged: dict[str, str] = {}
                    for key, value in response.headers.items():
                        name = key.lower()
                        merged[name] = f"{merged[name]}, {value}" if name in merged else value
                    return RawResponse(status=response.status, headers=merged, body=payload)
            except BaseException as exc:
                error = _translate(exc, method, url, credential_values(headers))
                if error is None:
                    raise
            # Raised here, after the except block, so the aiohttp exception
            # (whose request_info holds the headers) is not its __context__.
            raise error

    async def aclose(self) -> None:
        """Refuse further requests; close the session if we created it (not an injected one)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and os.getpid() == self._pid:
            await session.close()
