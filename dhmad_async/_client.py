"""
``DhmadClient`` and ``DhmadDeveloperClient``: options, lifecycle and the send pipeline.

The pipeline is a stack of single-purpose steps::

    _request → retry_call → _send_attempt:
        transport.connection_slot()     (a free connection first, then ...)
        limiter.acquire()               (... the budget; both outside the attempt's timeout)
        transport.request()             (one attempt, per-attempt timeout)
        parse_server_rate_limit()       → limiter.observe()   (429 pauses every task)
        decipher_response()             → data, or a typed DhmadError
    → parse(data)                       (the resource's model, still inside _request)

Whether a non-idempotent request may have taken effect is decided in one
place, :meth:`_BaseClient._request`: every failure after an attempt that may
have reached the server (anything but a certain "not sent" or a 4xx refusal)
is a :class:`~dhmad_async.DhmadError` with ``may_have_succeeded = True``,
whatever raised it: the server, the limiter, the parser or a bug.

I/O happens only through the transport, the limiter and the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import platform
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar, overload

import aiohttp

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
from dhmad_async._errors import APIConnectionError, ClientClosedError, DhmadError, RateLimitError
from dhmad_async._retry import give_up, retry_call
from dhmad_async._transport import AiohttpTransport, Transport
from dhmad_async._version import __version__
from dhmad_async.ratelimit._headers import (
    ServerRateLimit,
    parse_retry_after,
    parse_server_rate_limit,
)
from dhmad_async.ratelimit._local import RateLimiter, create_limiter

__all__ = ["DhmadClient", "DhmadDeveloperClient"]

_log = logging.getLogger("dhmad_async")
_T = TypeVar("_T")
# What the server said when it said nothing about rate limits: still fed to the
# limiter, because the answer to a probe lifts a pause even without headers.
_NO_HINTS: Final = ServerRateLimit()

AuthHeader = Literal["bearer", "x-api-key"]
Base = Literal["v1", "root"]

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


class _ClientState(enum.Enum):
    UNOPENED = 1  # created; the HTTP session does not exist yet
    OPENED = 2  # used or entered; the session may exist
    CLOSED = 3  # aclose() ran; any further use raises ClientClosedError


def _default_user_agent() -> str:
    return (
        f"dhmad-async/{__version__} python/{platform.python_version()}"
        f" aiohttp/{aiohttp.__version__}"
    )


class _Exposure:
    """
    Whether any attempt of one call may have taken effect on the server.

    An attempt is harmless only when it certainly never left this process
    (``request_sent=False``) or the server refused it with a 4xx status; any
    other attempt that reached the transport may have been applied.
    """

    __slots__ = ("may_have_taken_effect",)

    def __init__(self) -> None:
        self.may_have_taken_effect = False


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
        self._state = _ClientState.UNOPENED
        # Tasks parked before sending (on the limiter, or in a retry backoff),
        # which aclose() wakes with ClientClosedError; and those it has cancelled.
        self._parked: set[asyncio.Task[Any]] = set()
        self._cancelled_by_close: set[asyncio.Task[Any]] = set()
        self._retry_clock: Clock = _ClosableClock(self)

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is _ClientState.CLOSED:
            raise ClientClosedError("Cannot reopen a closed client; create a new one.")
        self._state = _ClientState.OPENED
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
        """
        if self._state is _ClientState.CLOSED:
            return
        self._state = _ClientState.CLOSED
        for task in list(self._parked):
            self._cancelled_by_close.add(task)
            task.cancel()
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
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has run."""
        return self._state is _ClientState.CLOSED

    def _raise_if_closed(self) -> None:
        if self._state is _ClientState.CLOSED:
            raise ClientClosedError(
                "This client has been closed; create a new DhmadClient to send requests."
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
        self._parked.add(task)
        try:
            await waiting()
        except asyncio.CancelledError:
            if task in self._cancelled_by_close:
                self._cancelled_by_close.discard(task)
                if task.uncancel() == 0:
                    raise ClientClosedError(
                        "The client was closed while this request waited to be sent;"
                        " it was not sent."
                    ) from None
            raise
        finally:
            self._parked.discard(task)
            if task in self._cancelled_by_close:  # the wait swallowed our cancellation
                self._cancelled_by_close.discard(task)
                task.uncancel()
        self._raise_if_closed()  # the wait ended just as the client closed

    # -- the pipeline --------------------------------------------------------

    def _url_for(self, base: Base) -> str:
        return self.base_url if base == "v1" else _sansio.root_url(self.base_url)

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
        base: Base = ...,
        bearer: str | None = ...,
        authenticate: bool = ...,
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
        base: Base = ...,
        bearer: str | None = ...,
        authenticate: bool = ...,
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
        base: Base = "v1",
        bearer: str | None = None,
        authenticate: bool = True,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """
        Send one logical request (with retries) and return ``parse`` of the decoded JSON body.

        ``parse`` (the resource's model) runs here, so that a body which does not
        fit is flagged like every other failure after sending. ``bearer``
        replaces the client's credential (OAuth access tokens);
        ``authenticate=False`` sends none (the OAuth token endpoint).
        """
        self._raise_if_closed()
        self._state = _ClientState.OPENED
        headers: dict[str, str] = {}
        if bearer is not None:
            headers = _sansio.auth_headers(bearer, "bearer")
        elif authenticate:
            headers = _sansio.auth_headers(self._credential, self._auth_header)
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
        exposure = _Exposure()

        async def attempt(number: int) -> Any:
            return await self._send_attempt(request, number, attempt_timeout, exposure)

        try:
            data = await retry_call(
                attempt,
                policy=self.retry,
                idempotent=request.idempotent,
                clock=self._retry_clock,  # backoff sleeps end with aclose()
                max_server_wait=self._max_server_wait,
                description=f"{request.method} {request.log_path}",
            )
            return data if parse is None else parse(data)
        except DhmadError as exc:
            # The one place where a failed non-idempotent call is flagged.
            if not request.idempotent and exposure.may_have_taken_effect:
                exc.mark_ambiguous()
            raise
        except Exception as exc:
            if request.idempotent or not exposure.may_have_taken_effect:
                raise
            # A bug after sending must not look like "nothing happened" either.
            error = DhmadError(
                f"{request.method} {request.log_path} failed after the request was sent "
                f"({type(exc).__name__})."
            )
            error.mark_ambiguous()
            raise error from exc

    def _connection_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        slot = getattr(self._transport, "connection_slot", None)
        return slot() if slot is not None else contextlib.nullcontext()

    async def _send_attempt(
        self, request: _sansio.PreparedRequest, number: int, timeout: Timeout, exposure: _Exposure
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
                    exposure.may_have_taken_effect = True
                raise
            except Exception:
                exposure.may_have_taken_effect = True
                raise
        if not 400 <= raw.status < 500:
            # Anything but a refusal may have been applied (a 5xx, a 3xx, and a 2xx surely).
            exposure.may_have_taken_effect = True
        data = _sansio.parse_body(raw.headers, raw.body)
        now = self._clock.time()
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
    """

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
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is required (an sk_live_… or sk_sandbox_… key)")
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
        from dhmad_async.resources import (
            Account,
            CheckoutSessions,
            Escrows,
            IdentityVerifications,
            OAuth,
        )

        self.account = Account(self)
        self.escrows = Escrows(self)
        self.checkout_sessions = CheckoutSessions(self)
        self.identity_verifications = IdentityVerifications(self)
        self.oauth = OAuth(self)

    @property
    def environment(self) -> str:
        """``"live"``, ``"sandbox"`` or ``"custom"``, from the key prefix."""
        if self._credential.startswith("sk_live_"):
            return "live"
        if self._credential.startswith("sk_sandbox_"):
            return "sandbox"
        return "custom"

    def __repr__(self) -> str:
        # Never the key itself: only which kind of key it is.
        return f"<DhmadClient {self.environment} base_url={self.base_url!r} {self._state.name}>"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> DhmadClient:
        """Build a client from ``DHMAD_API_KEY`` and optional ``DHMAD_BASE_URL``."""
        env = os.environ if environ is None else environ
        api_key = env.get("DHMAD_API_KEY", "").strip()
        if not api_key:
            raise ValueError("DHMAD_API_KEY is not set (an sk_live_… or sk_sandbox_… key)")
        if env.get("DHMAD_BASE_URL"):
            options.setdefault("base_url", env["DHMAD_BASE_URL"])
        return cls(api_key, **options)


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
    Developer-account endpoints, authenticated with a developer token (REFERENCE §1.4).

    Webhook management lives under ``/api/developer/webhooks``. How to obtain
    the token programmatically is not documented; copy it from the dashboard.
    ``base_url`` is the ``…/api/v1`` URL of the environment (as for
    :class:`DhmadClient`); ``environment`` picks the public one.
    """

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
        from dhmad_async.resources import WebhookEndpoints

        self.webhooks = WebhookEndpoints(self)

    def __repr__(self) -> str:
        return f"<DhmadDeveloperClient base_url={self.base_url!r} {self._state.name}>"
