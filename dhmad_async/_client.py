"""
``DhmadClient`` and ``DhmadDeveloperClient``: options, lifecycle and the send pipeline.

The pipeline is a stack of single-purpose steps::

    _request(per-call timeout=, extra_headers=)   headers: credential, client's, call's
      → retry_call (the client's or with_options() RetryPolicy)
      → _send_attempt:
        transport.connection_slot()     (a free connection first, then ...)
        limiter.acquire()               (... the budget; both outside the attempt's timeout;
                                         a with_options(rate_limit=) copy waits for its own
                                         stricter budget first, then the shared one)
        transport.request()             (one attempt, per-attempt timeout)
        parse_server_rate_limit()       → limiter.observe()   (429 pauses every task)
        decipher_response()             → data, or a typed DhmadError
    → _finish: parse(data)              (the resource's model, still in the pipeline; the
                                         request id stored on it) -- or, for a
                                         with_raw_response call, an APIResponse whose
                                         parse() runs this step later

Whether a non-idempotent request may have taken effect is decided in one
place, :meth:`_BaseClient._failure`: every failure after an attempt that may
have reached the server (anything but a certain "not sent" or a 4xx refusal)
is a :class:`~dhmad_async.DhmadError` with ``may_have_succeeded = True``,
whatever raised it: the server, the limiter, the parser or a bug.

``with_options()`` copies and the raw-response views are *derived* clients:
they share the root client's transport, limiter, loop binding and parked
calls, and each has its own lifecycle (see :class:`_Life`).

I/O happens only through the transport, the limiter and the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import importlib
import logging
import os
import platform
import re
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Self, TypeVar, overload

import aiohttp
import attrs

from dhmad_async import _sansio
from dhmad_async._clock import SYSTEM_CLOCK, Clock
from dhmad_async._config import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TIMEOUT,
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    USE_CLIENT_DEFAULT,
    RateLimit,
    RetryPolicy,
    Timeout,
    TimeoutArg,
    UseClientDefault,
)
from dhmad_async._errors import (
    APIConnectionError,
    ClientClosedError,
    DhmadError,
    InvalidParamsError,
    RateLimitError,
    ResponseValidationError,
)
from dhmad_async._response import APIResponse, request_id_of
from dhmad_async._retry import give_up, retry_call
from dhmad_async._transport import AiohttpTransport, RawResponse, Transport
from dhmad_async._version import __version__
from dhmad_async.ratelimit._headers import (
    RATE_LIMIT_HEADERS,
    ServerRateLimit,
    parse_retry_after,
    parse_server_rate_limit,
)
from dhmad_async.ratelimit._local import RateLimiter, create_limiter

if TYPE_CHECKING:  # pragma: no cover
    from dhmad_async.models import SignatureStatus
    from dhmad_async.resources import (
        Account,
        CheckoutSessions,
        Escrows,
        IdentityVerifications,
        OAuth,
        Signature,
        WebhookEndpoints,
    )

__all__ = ["DhmadClient", "DhmadDeveloperClient"]

_log = logging.getLogger("dhmad_async")
_T = TypeVar("_T")
_R = TypeVar("_R")
# What the server said when it said nothing about rate limits: still fed to the
# limiter, because the answer to a probe lifts a pause even without headers.
_NO_HINTS: Final = ServerRateLimit()

AuthHeader = Literal["bearer", "x-api-key"]
#: Where a path lives: under ``/api/v1`` (most endpoints), ``/api`` (OAuth and
#: webhook management) or the host itself (``/developer/signature``).
Base = Literal["v1", "root", "host"]

# Only these response headers are ever logged (an allow-list, never a deny-list:
# superset-sh/superset#3956 leaked a key through a header nobody thought of).
_LOGGED_HEADERS = frozenset(
    {
        "content-type",
        "x-request-id",
        "request-id",
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "ratelimit",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    }
)

#: Headers the SDK sets itself, which ``extra_headers`` may not replace: the
#: credential, the body framing, and the retry marker the server may rely on.
RESERVED_HEADERS: Final = frozenset(
    {
        "authorization",
        "x-api-key",
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "x-dhmad-retry-count",
    }
)
# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _ClientState(enum.Enum):
    UNOPENED = 1  # created; the HTTP session does not exist yet
    OPENED = 2  # used or entered; the session may exist
    CLOSED = 3  # aclose() ran; any further use raises ClientClosedError


class _Life:
    """
    The lifecycle of one client: created, used, closed.

    A client and its raw-response view share one; a ``with_options()`` copy
    gets its own. A client is closed when its own life or any life it was
    derived from is closed, so closing the original ends every copy.
    """

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = _ClientState.UNOPENED


class _Family:
    """
    What a client and every client derived from it share.

    ``loop``: the event loop the shared session and limiter belong to (bound on
    first use, re-bound only in a forked child). ``parked``: calls waiting to
    send (on the limiter or a retry backoff), each with the lives of the client
    it waits through, so that closing a client ends exactly the waits it
    covers; ``cancelled_by_close``: those whose wait ``aclose()`` cancelled.
    """

    __slots__ = ("cancelled_by_close", "loop", "parked", "pid")

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pid = os.getpid()
        self.parked: dict[asyncio.Task[Any], tuple[_Life, ...]] = {}
        self.cancelled_by_close: set[asyncio.Task[Any]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop, what: str) -> None:
        """Bind to ``loop`` on first use; refuse any other loop afterwards (in this process)."""
        pid = os.getpid()
        if self.loop is None or pid != self.pid:
            # A forked child starts its own loop; the transport rebuilds its session there.
            self.loop, self.pid = loop, pid
            return
        raise RuntimeError(
            f"This {what} was first used in another event loop, and its HTTP session and"
            f" rate limiter belong to that loop. Create one {what} per event loop: build it"
            " inside the coroutine you pass to asyncio.run() (or in your framework's"
            " startup hook), not at import time."
        )


def _default_user_agent() -> str:
    return (
        f"dhmad-async/{__version__} python/{platform.python_version()}"
        f" aiohttp/{aiohttp.__version__}"
    )


def check_extra_headers(headers: object, field: str = "extra_headers") -> dict[str, str]:
    """
    ``headers`` as a plain dict, or :class:`InvalidParamsError` naming what is wrong.

    Names must be HTTP tokens and not one the SDK sets itself
    (:data:`RESERVED_HEADERS`); values must be strings without line breaks.
    """
    if not isinstance(headers, Mapping):
        raise InvalidParamsError("request", {field: "must be a mapping of header names to values"})
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidParamsError("request", {field: f"{name!r} is not a valid header name"})
        if name.lower() in RESERVED_HEADERS:
            raise InvalidParamsError(
                "request", {field: f"may not set {name}: the SDK sets that header itself"}
            )
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise InvalidParamsError(
                "request", {field: f"the value of {name} must be a string without line breaks"}
            )
        checked[name] = value
    return checked


class _Call:
    """
    What one logical call learned while it ran: exposure and the last attempt.

    ``may_have_taken_effect``: whether any attempt may have taken effect on
    the server. An attempt is harmless only when it certainly never left this
    process (``request_sent=False``) or the server refused it with a 4xx
    status; any other attempt that reached the transport may have been applied.
    ``response``, ``attempts``, ``started``: the last attempt's raw answer,
    its number and when it was sent (for raw responses and request ids).
    """

    __slots__ = ("attempts", "may_have_taken_effect", "response", "started")

    def __init__(self) -> None:
        self.may_have_taken_effect = False
        self.response: RawResponse | None = None
        self.attempts = 0
        self.started = 0.0


class _StricterLimiter:
    """
    A ``with_options(rate_limit=)`` budget in front of the shared limiter.

    ``acquire`` waits for the local budget first, then the shared one, so the
    shared limiter still counts every request, at the moment it can be sent:
    a per-call limit can only slow requests down, never bypass the budget
    other tasks and processes share. Server hints go to the shared limiter;
    closing closes only the local budget.
    """

    __slots__ = ("_local", "_shared")

    def __init__(self, local: RateLimiter, shared: RateLimiter) -> None:
        self._local = local
        self._shared = shared

    async def acquire(self) -> None:
        await self._local.acquire()
        await self._shared.acquire()

    async def observe(self, info: ServerRateLimit) -> None:
        await self._shared.observe(info)

    async def aclose(self) -> None:
        await self._local.aclose()

    def __repr__(self) -> str:
        return f"<StricterLimiter {self._local!r} then {self._shared!r}>"


class _ResourceGroup(Generic[_R]):
    """
    ``client.escrows`` and the like: built, and its module imported, on first access.

    Creating a client then costs no import of the resources and models (about a
    third of what the package loads); the first use of a group pays it once per
    process. The group is cached on the client it was read from.
    """

    __slots__ = ("_attr", "_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name
        self._attr = name

    def __set_name__(self, owner: type[Any], attr: str) -> None:
        self._attr = attr

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, client: _BaseClient, owner: type[Any]) -> _R: ...

    def __get__(self, client: _BaseClient | None, owner: type[Any]) -> _R | Self:
        if client is None:
            return self
        group: _R = getattr(importlib.import_module(self._module), self._name)(client)
        client.__dict__[self._attr] = group  # later reads find it before this descriptor
        return group


class _BaseClient:
    """Strictly private: the pipeline shared by the API-key and developer-token clients."""

    def __init__(
        self,
        *,
        credential: str,
        base_url: str,
        auth_header: AuthHeader,
        timeout: Timeout | float | None,
        retry: RetryPolicy,
        rate_limit: RateLimit | RateLimiter,
        session: aiohttp.ClientSession | None,
        transport: Transport | None,
        user_agent: str | None,
        max_connections: int,
        clock: Clock,
        own_rate_limit: bool = False,
    ) -> None:
        if auth_header not in ("bearer", "x-api-key"):
            raise ValueError(f"auth_header must be 'bearer' or 'x-api-key', got {auth_header!r}")
        if session is not None and transport is not None:
            raise ValueError("pass either session= or transport=, not both")
        self._credential = credential
        self._auth_header: AuthHeader = auth_header
        self.base_url = base_url.rstrip("/")
        self.timeout = Timeout.from_value(timeout)
        self.retry = retry
        self._clock = clock
        # A custom limiter (e.g. RedisRateLimit) carries its RateLimit as `.policy`.
        policy = (
            rate_limit
            if isinstance(rate_limit, RateLimit)
            else getattr(rate_limit, "policy", DEFAULT_RATE_LIMIT)
        )
        self._max_server_wait: float = policy.max_server_wait
        self._retry_after_unit = policy.retry_after_unit
        self._counted_window = policy.counted_window
        self._limiter = create_limiter(rate_limit, clock=clock)
        # A limiter passed in may be shared by other clients: it is the caller's
        # to close, unless they hand it over with own_rate_limit=True.
        self._owns_limiter = isinstance(rate_limit, RateLimit) or own_rate_limit
        self._transport: Transport = transport or AiohttpTransport(
            session, max_connections=max_connections, user_agent=user_agent or _default_user_agent()
        )
        self._owns_transport = True
        #: The developer token for signature checks (``DhmadClient(developer_token=)``).
        self._developer_token: str | None = None
        #: Headers sent with every request of this client (``with_options(extra_headers=)``).
        self._extra_headers: Mapping[str, str] = {}
        #: True for the view behind ``with_raw_response``: calls answer an APIResponse.
        self._raw = False
        self._raw_view_cache: Self | None = None
        self._life = _Life()
        self._lives: tuple[_Life, ...] = (self._life,)
        self._family = _Family()
        self._retry_clock: Clock = _ClosableClock(self)

    def _bind_resources(self) -> None:
        """Forget resource groups copied from another client: they are rebuilt for this one."""
        cls = type(self)
        for name in [n for n in self.__dict__ if isinstance(getattr(cls, n, None), _ResourceGroup)]:
            del self.__dict__[name]

    async def _signature_status(self, *, timeout: TimeoutArg) -> SignatureStatus:
        """
        ``GET /developer/signature`` with the developer token, through this pipeline.

        Always the plain answer (never an APIResponse): it is a check a method
        makes before its own request.
        """
        from dhmad_async.resources.signature import SIGNATURE_PATH, parse_signature

        if self._developer_token is None:
            raise InvalidParamsError(
                "escrow",
                {
                    "check_signature": "True needs DhmadClient(developer_token=...), or pass"
                    " a DhmadDeveloperClient instead; nothing was sent"
                },
            )
        return await self._request(
            "GET",
            SIGNATURE_PATH,
            base="host",
            bearer=self._developer_token,
            timeout=timeout,
            raw=False,
            parse=parse_signature,
        )

    # -- derived clients -----------------------------------------------------

    def _derive(self, *, raw: bool) -> Self:
        """A client sharing everything with this one; the caller adjusts what differs."""
        derived = object.__new__(type(self))
        derived.__dict__.update(self.__dict__)
        derived._owns_transport = False
        derived._owns_limiter = False
        derived._raw_view_cache = None
        derived._raw = raw
        if not raw:  # a copy has its own lifecycle; a raw view lives and dies with its client
            derived._life = _Life()
            derived._lives = (derived._life, *self._lives)
        derived._retry_clock = _ClosableClock(derived)
        derived._bind_resources()
        return derived

    def _raw_view(self) -> Self:
        """This client, answering :class:`APIResponse` objects (``with_raw_response``)."""
        view = self._raw_view_cache
        if view is None:
            view = self._raw_view_cache = self._derive(raw=True)
        return view

    def with_options(
        self,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> Self:
        """
        A light copy of this client with some options changed; nothing is opened or copied.

        ::

            patient = client.with_options(timeout=120, max_retries=0)
            await patient.escrows.get(escrow_id)

        The copy shares this client's HTTP session (connection pool) and rate
        limiter. ``timeout`` replaces the per-attempt timeout; ``retry`` the
        retry policy, and ``max_retries`` its number of retries (``0``: one
        attempt); ``extra_headers`` are added to every request (after this
        client's own; the credential and ``Content-Type`` cannot be replaced).
        ``rate_limit`` adds a *stricter* local budget in front of the shared
        limiter, which still counts every request: it can slow this copy down,
        never let it bypass the budget other tasks share.

        Closing the copy (``aclose()`` or ``async with``) fails only its own
        waiting calls and closes only its own ``rate_limit`` budget; the
        session and shared limiter stay open. Closing the original closes them,
        and every copy with them.
        """
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise InvalidParamsError("client options", {"max_retries": "must be 0 or more"})
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise InvalidParamsError(
                "client options",
                {"rate_limit": "must be a RateLimit (a stricter local budget on the shared one)"},
            )
        headers = check_extra_headers(extra_headers) if extra_headers is not None else None
        self._raise_if_closed()
        copy = self._derive(raw=False)
        if not isinstance(timeout, UseClientDefault):
            copy.timeout = Timeout.from_value(timeout)
        if retry is not None:
            copy.retry = retry
        if max_retries is not None:
            copy.retry = attrs.evolve(copy.retry, attempts=max_retries + 1)
        if headers:
            copy._extra_headers = {**self._extra_headers, **headers}
        if rate_limit is not None:
            local = create_limiter(rate_limit, clock=self._clock)
            copy._limiter = _StricterLimiter(local, self._limiter)
            copy._owns_limiter = True  # the local budget only; see _StricterLimiter.aclose
        return copy

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._raise_if_closed("Cannot reopen a closed client; create a new one.")
        self._life.state = _ClientState.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """
        Close the client; idempotent. Nothing is sent after this starts.

        Calls still waiting to send (for the rate limiter, a retry backoff or a
        pooled connection) fail with :class:`ClientClosedError`; requests
        already on the wire finish or fail as the connection closes. The HTTP
        session is closed if this client created it (an injected one stays
        open), and the rate limiter only if the client built it from a
        :class:`RateLimit` or was given it with ``own_rate_limit=True``.

        On a ``with_options()`` copy this ends the copy only: its waiting calls
        fail, its own ``rate_limit`` budget closes, and the shared session and
        limiter stay open for the original. Closing the original ends every copy.
        """
        life = self._life
        if life.state is _ClientState.CLOSED:
            return
        life.state = _ClientState.CLOSED
        family = self._family
        for task, lives in list(family.parked.items()):
            if life in lives:
                family.cancelled_by_close.add(task)
                task.cancel()
        if self._owns_transport:
            await self._transport.aclose()
        if self._owns_limiter:
            await self._limiter.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`, for shutdown code that looks for ``close``."""
        await self.aclose()

    @property
    def max_connections(self) -> int | None:
        """The connection pool size, when the transport has one (bounds useful concurrency)."""
        size = getattr(self._transport, "max_connections", None)
        return size if isinstance(size, int) else None

    @property
    def clock(self) -> Clock:
        """Where this client's time and sleeps come from (injected for tests)."""
        return self._clock

    @property
    def extra_headers(self) -> Mapping[str, str]:
        """Headers added to every request of this client (see :meth:`with_options`)."""
        return dict(self._extra_headers)

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has run on this client or the client it was copied from."""
        return any(life.state is _ClientState.CLOSED for life in self._lives)

    @property
    def _state_name(self) -> str:
        return "CLOSED" if self.is_closed else self._life.state.name

    def _raise_if_closed(self, message: str | None = None) -> None:
        for life in self._lives:
            if life.state is _ClientState.CLOSED:
                raise ClientClosedError(
                    message
                    or "This client has been closed; create a new DhmadClient to send requests."
                )

    async def _parked_wait(self, waiting: Callable[[], Awaitable[None]]) -> None:
        """
        Await ``waiting()`` (a limiter slot, a backoff) so that aclose() can end it.

        A wait ended by aclose() raises :class:`ClientClosedError`: nothing was
        sent for this attempt. A cancellation from anyone else stays a
        cancellation (the task's ``uncancel()`` count tells them apart).
        """
        self._raise_if_closed()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under asyncio
            await waiting()
            return
        family = self._family
        family.parked[task] = self._lives
        try:
            await waiting()
        except asyncio.CancelledError:
            if task in family.cancelled_by_close:
                family.cancelled_by_close.discard(task)
                if task.uncancel() == 0:
                    raise ClientClosedError(
                        "The client was closed while this request waited to be sent;"
                        " it was not sent."
                    ) from None
            raise
        finally:
            family.parked.pop(task, None)
            if task in family.cancelled_by_close:  # the wait swallowed our cancellation
                family.cancelled_by_close.discard(task)
                task.uncancel()
        self._raise_if_closed()  # the wait ended just as the client closed

    # -- the pipeline --------------------------------------------------------

    def _url_for(self, base: Base) -> str:
        if base == "v1":
            return self.base_url
        root = _sansio.root_url(self.base_url)
        if base == "root":
            return root
        # "host": REFERENCE §1.1 documents /developer/signature without the /api prefix.
        return root[: -len("/api")] if root.endswith("/api") else root

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = ...,
        json: object = ...,
        idempotent: bool | None = ...,
        timeout: TimeoutArg = ...,
        extra_headers: Mapping[str, str] | None = ...,
        base: Base = ...,
        bearer: str | None = ...,
        authenticate: bool = ...,
        raw: bool | None = ...,
        parse: Callable[[Any], _T],
    ) -> _T: ...

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = ...,
        json: object = ...,
        idempotent: bool | None = ...,
        timeout: TimeoutArg = ...,
        extra_headers: Mapping[str, str] | None = ...,
        base: Base = ...,
        bearer: str | None = ...,
        authenticate: bool = ...,
        raw: bool | None = ...,
        parse: None = ...,
    ) -> Any: ...

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json: object = None,
        idempotent: bool | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        base: Base = "v1",
        bearer: str | None = None,
        authenticate: bool = True,
        raw: bool | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """
        Send one logical request (with retries) and return ``parse`` of the decoded JSON body.

        ``parse`` (the resource's model) runs here, so that a body which does not
        fit is flagged like every other failure after sending. ``bearer``
        replaces the client's credential (OAuth access tokens, the developer
        token); ``authenticate=False`` sends none (the OAuth token endpoint).
        ``extra_headers`` are added for this call (after the client's own).

        On the raw-response view (or with ``raw=True``) the answer is an
        :class:`APIResponse` instead, whose ``parse()`` runs ``parse`` later;
        ``raw=False`` forces the plain answer (for checks a method makes first).
        The static return type stays ``parse``'s: the ``with_raw_response``
        wrappers give callers the true one.
        """
        self._raise_if_closed()
        family = self._family
        loop = asyncio.get_running_loop()
        if loop is not family.loop:
            family.bind(loop, type(self).__name__)
        self._life.state = _ClientState.OPENED
        headers: dict[str, str] = {}
        if bearer is not None:
            headers = _sansio.auth_headers(bearer, "bearer")
        elif authenticate:
            headers = _sansio.auth_headers(self._credential, self._auth_header)
        if self._extra_headers or extra_headers:
            headers = {
                **self._extra_headers,
                **(check_extra_headers(extra_headers) if extra_headers else {}),
                **headers,  # reserved names were refused; the credential goes last anyway
            }
        request = _sansio.build_request(
            method,
            self._url_for(base),
            path,
            headers=headers,
            params=params,
            json_body=json,
            idempotent=idempotent,
        )
        attempt_timeout = (
            self.timeout if isinstance(timeout, UseClientDefault) else Timeout.from_value(timeout)
        )
        call = _Call()

        async def attempt(number: int) -> Any:
            return await self._send_attempt(request, number, attempt_timeout, call)

        try:
            data = await retry_call(
                attempt,
                policy=self.retry,
                idempotent=request.idempotent,
                clock=self._retry_clock,  # backoff sleeps end with aclose()
                max_server_wait=self._max_server_wait,
                description=f"{request.method} {request.log_path}",
            )
        except Exception as exc:
            error = self._failure(exc, request, call)
            if error is exc:
                raise
            raise error from exc
        if raw if raw is not None else self._raw:
            answer = call.response
            assert answer is not None  # a successful retry_call ran an attempt
            return APIResponse(
                status=answer.status,
                headers=answer.headers,
                content=answer.body,
                retries_taken=call.attempts - 1,
                elapsed=self._clock.monotonic() - call.started,
                method=request.method,
                url=request.url,
                finish=functools.partial(self._finish, parse, data, request, call),
            )
        return self._finish(parse, data, request, call)

    def _finish(
        self,
        parse: Callable[[Any], Any] | None,
        data: Any,
        request: _sansio.PreparedRequest,
        call: _Call,
    ) -> Any:
        """Run ``parse`` on the decoded body, flagging its failure; store the request id."""
        if parse is None:
            return data
        try:
            result = parse(data)
        except Exception as exc:
            error = self._failure(exc, request, call)
            if error is exc:
                raise
            raise error from exc
        answer = call.response
        request_id = request_id_of(answer.headers) if answer is not None else None
        if request_id is not None and hasattr(type(result), "_request_id"):
            # Models are frozen: set it the way attrs itself does.
            object.__setattr__(result, "_request_id", request_id)
        return result

    def _failure(self, exc: Exception, request: _sansio.PreparedRequest, call: _Call) -> Exception:
        """
        The error to raise for ``exc``: the one place a failed non-idempotent call is flagged.

        A :class:`DhmadError` after an attempt that may have taken effect is
        marked ``may_have_succeeded``; any other exception there (a bug, say)
        becomes a flagged DhmadError, so it cannot look like "nothing happened".
        A :class:`ResponseValidationError` also gets the raw bytes it was read
        from (``raw_body``), unless the model keeps its body off errors (secrets).
        """
        if isinstance(exc, DhmadError):
            if not request.idempotent and call.may_have_taken_effect:
                exc.mark_ambiguous()
            if (
                isinstance(exc, ResponseValidationError)
                and exc.body is not None
                and exc.raw_body is None
                and call.response is not None
            ):
                exc.raw_body = call.response.body
            return exc
        if request.idempotent or not call.may_have_taken_effect:
            return exc
        error = DhmadError(
            f"{request.method} {request.log_path} failed after the request was sent "
            f"({type(exc).__name__})."
        )
        error.mark_ambiguous()
        return error

    def _connection_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        slot = getattr(self._transport, "connection_slot", None)
        return slot() if slot is not None else contextlib.nullcontext()

    async def _send_attempt(
        self, request: _sansio.PreparedRequest, number: int, timeout: Timeout, call: _Call
    ) -> Any:
        headers = request.headers
        if number > 1:
            # Lets the server side (and the emulator) tell a retry from a new request.
            headers = {**headers, "X-DHMAD-Retry-Count": str(number - 1)}
        # A connection first, then the budget: a request admitted by the limiter
        # goes out now, instead of queueing for the pool and leaving later, in a
        # burst, with an admission time that no longer says when it was sent.
        async with self._connection_slot():
            try:
                await self._parked_wait(self._limiter.acquire)
            except RateLimitError as exc:
                # Our own limiter refused (wait longer than allowed): retrying cannot help.
                raise give_up(exc) from None
            started = self._clock.monotonic()
            try:
                raw = await self._transport.request(
                    request.method, request.url, headers, request.body, timeout=timeout
                )
            except APIConnectionError as exc:
                if exc.request_sent is not False:
                    call.may_have_taken_effect = True
                raise
            except Exception:
                call.may_have_taken_effect = True
                raise
        call.response = raw
        call.attempts = number
        call.started = started
        if not 400 <= raw.status < 500:
            # Anything but a refusal may have been applied (a 5xx, a 3xx, and a 2xx surely).
            call.may_have_taken_effect = True
        data = _sansio.parse_body(raw.headers, raw.body)
        now = self._clock.time()
        info: ServerRateLimit | None = None  # what parse_server_rate_limit says of no hints
        if raw.status == 429 or not RATE_LIMIT_HEADERS.isdisjoint(raw.headers):
            info = parse_server_rate_limit(
                raw.status,
                raw.headers,
                data,
                now,
                retry_after_unit=self._retry_after_unit,
                window=self._counted_window,
            )
        await self._observe(info, request)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s %s -> %d in %.1f ms (attempt %d) %s",
                request.method,
                request.log_path,
                raw.status,
                (self._clock.monotonic() - started) * 1000,
                number,
                {k: v for k, v in raw.headers.items() if k in _LOGGED_HEADERS},
            )
        retry_after = info.retry_after if info is not None else None
        if retry_after is None and raw.status >= 500:
            # A 503's Retry-After is for the retry loop, not the shared budget.
            retry_after = parse_retry_after(raw.headers, now)
        return _sansio.decipher_response(
            raw.status,
            raw.headers,
            raw.body,
            data,
            method=request.method,
            url=request.log_path,
            retry_after=retry_after,
            request_headers=request.headers,  # its credential is redacted from error text
        )

    async def _observe(
        self, info: ServerRateLimit | None, request: _sansio.PreparedRequest
    ) -> None:
        """
        Give the limiter the server's hints; a limiter failure never costs the response.

        The response is in hand (a created escrow, say): raising here would turn a
        known outcome into an ambiguous one. The limiter's next ``acquire``
        decides what its failure means (``RedisRateLimit`` fails closed there,
        before anything is sent, or falls back to a local limiter).
        """
        try:
            await self._limiter.observe(_NO_HINTS if info is None else info)
        except Exception as exc:
            _log.warning(
                "rate limiter could not record the answer to %s %s: %s",
                request.method,
                request.log_path,
                exc.message if isinstance(exc, DhmadError) else type(exc).__name__,
            )


class _ClosableClock:
    """The client's clock for retry backoffs: a sleep in progress ends when the client closes."""

    __slots__ = ("_client",)

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def monotonic(self) -> float:
        return self._client.clock.monotonic()

    def time(self) -> float:
        return self._client.clock.time()

    async def sleep(self, seconds: float) -> None:
        await self._client._parked_wait(lambda: self._client.clock.sleep(seconds))


class DhmadClient(_BaseClient):
    """
    The asyncio client for the DHMAD escrow API (API-key endpoints, OAuth helpers).

    ::

        async with DhmadClient(api_key="sk_sandbox_...") as client:
            me = await client.account.me()

    The base URL follows the key prefix (``sk_live_`` → production,
    ``sk_sandbox_`` → sandbox) unless ``base_url`` is given. Options are
    keyword-only value objects; a number for ``timeout`` means total seconds
    per attempt. ``rate_limit`` takes a :class:`RateLimit` or a shared limiter
    such as :class:`dhmad_async.ratelimit.RedisRateLimit`. A limiter passed in
    is not closed by :meth:`aclose` (other clients may share it) unless
    ``own_rate_limit=True`` hands it to this client.

    ``developer_token`` (optional) is the developer-account token: with it,
    ``escrows.create(auto_sign=True, check_signature=True)`` checks that a
    signature is configured before creating (the check goes through this
    client's session and rate limit). A client is bound to the event loop it
    is first used in; create one per loop.
    """

    account: _ResourceGroup[Account] = _ResourceGroup("dhmad_async.resources", "Account")
    escrows: _ResourceGroup[Escrows] = _ResourceGroup("dhmad_async.resources", "Escrows")
    checkout_sessions: _ResourceGroup[CheckoutSessions] = _ResourceGroup(
        "dhmad_async.resources", "CheckoutSessions"
    )
    identity_verifications: _ResourceGroup[IdentityVerifications] = _ResourceGroup(
        "dhmad_async.resources", "IdentityVerifications"
    )
    oauth: _ResourceGroup[OAuth] = _ResourceGroup("dhmad_async.resources", "OAuth")

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        rate_limit: RateLimit | RateLimiter = DEFAULT_RATE_LIMIT,
        auth_header: AuthHeader = "bearer",
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        user_agent: str | None = None,
        max_connections: int = 100,
        clock: Clock = SYSTEM_CLOCK,
        own_rate_limit: bool = False,
        developer_token: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is required (an sk_live_… or sk_sandbox_… key)")
        if developer_token is not None and (
            not isinstance(developer_token, str) or not developer_token.strip()
        ):
            raise ValueError("developer_token must be a non-empty string when given")
        # Keys pasted from the dashboard or .env files often carry whitespace; infer
        # the environment from the same stripped key that is sent.
        api_key = api_key.strip()
        if base_url is None:
            base_url = _infer_base_url(api_key)
        super().__init__(
            credential=api_key,
            base_url=base_url,
            auth_header=auth_header,
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            session=session,
            transport=transport,
            user_agent=user_agent,
            max_connections=max_connections,
            clock=clock,
            own_rate_limit=own_rate_limit,
        )
        if developer_token is not None:
            self._developer_token = developer_token.strip()

    @property
    def environment(self) -> str:
        """``"live"``, ``"sandbox"`` or ``"custom"``, from the key prefix."""
        if self._credential.startswith("sk_live_"):
            return "live"
        if self._credential.startswith("sk_sandbox_"):
            return "sandbox"
        return "custom"

    @property
    def has_developer_token(self) -> bool:
        """True when a ``developer_token`` was given (the token itself is never shown)."""
        return self._developer_token is not None

    def __repr__(self) -> str:
        # Never the key itself: only which kind of key it is.
        return f"<DhmadClient {self.environment} base_url={self.base_url!r} {self._state_name}>"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        rate_limit: RateLimit | RateLimiter = DEFAULT_RATE_LIMIT,
        auth_header: AuthHeader = "bearer",
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        user_agent: str | None = None,
        max_connections: int = 100,
        clock: Clock = SYSTEM_CLOCK,
        own_rate_limit: bool = False,
    ) -> DhmadClient:
        """
        Build a client from ``DHMAD_API_KEY`` and the optional ``DHMAD_BASE_URL``.

        ``DHMAD_DEVELOPER_TOKEN``, when set, becomes ``developer_token``. A
        ``base_url`` given here wins over ``DHMAD_BASE_URL``; the other options
        are those of :class:`DhmadClient`.
        """
        env = os.environ if environ is None else environ
        api_key = env.get("DHMAD_API_KEY", "").strip()
        if not api_key:
            raise ValueError("DHMAD_API_KEY is not set (an sk_live_… or sk_sandbox_… key)")
        return cls(
            api_key,
            base_url=base_url or env.get("DHMAD_BASE_URL") or None,
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            auth_header=auth_header,
            session=session,
            transport=transport,
            user_agent=user_agent,
            max_connections=max_connections,
            clock=clock,
            own_rate_limit=own_rate_limit,
            developer_token=env.get("DHMAD_DEVELOPER_TOKEN", "").strip() or None,
        )


def _infer_base_url(api_key: str) -> str:
    if api_key.startswith("sk_live_"):
        return PRODUCTION_BASE_URL
    if api_key.startswith("sk_sandbox_"):
        return SANDBOX_BASE_URL
    # REFERENCE §1.2: only these two prefixes exist (no sk_test_).
    raise ValueError(
        "Cannot tell the environment from this API key: DHMAD keys start with"
        " 'sk_live_' or 'sk_sandbox_'. Pass base_url= to use another server."
    )


class DhmadDeveloperClient(_BaseClient):
    """
    Developer-account endpoints, authenticated with a developer token.

    Webhook management lives under ``/api/developer/webhooks``; signature
    management at ``/developer/signature``, on the host itself, without the
    ``/api`` prefix, as documented. How to obtain the token programmatically
    is not documented; copy it from the dashboard. ``base_url`` is the
    ``…/api/v1`` URL of the environment (as for :class:`DhmadClient`);
    ``environment`` picks the public one.
    """

    webhooks: _ResourceGroup[WebhookEndpoints] = _ResourceGroup(
        "dhmad_async.resources", "WebhookEndpoints"
    )
    signature: _ResourceGroup[Signature] = _ResourceGroup("dhmad_async.resources", "Signature")

    def __init__(
        self,
        developer_token: str,
        *,
        environment: Literal["production", "sandbox"] = "production",
        base_url: str | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        rate_limit: RateLimit | RateLimiter = DEFAULT_RATE_LIMIT,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        user_agent: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        own_rate_limit: bool = False,
    ) -> None:
        if not isinstance(developer_token, str) or not developer_token.strip():
            raise ValueError("developer_token is required")
        if base_url is None:
            base_url = SANDBOX_BASE_URL if environment == "sandbox" else PRODUCTION_BASE_URL
        super().__init__(
            credential=developer_token.strip(),
            base_url=base_url,
            auth_header="bearer",
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            session=session,
            transport=transport,
            user_agent=user_agent,
            max_connections=10,
            clock=clock,
            own_rate_limit=own_rate_limit,
        )

    def __repr__(self) -> str:
        return f"<DhmadDeveloperClient base_url={self.base_url!r} {self._state_name}>"
