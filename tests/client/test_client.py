"""DhmadClient options, lifecycle and the send pipeline (retries, errors, ambiguity)."""

from __future__ import annotations

import inspect
from decimal import Decimal

import aiohttp
import pytest
from aioresponses import aioresponses
from client_fakes import (
    LIVE_KEY,
    SANDBOX_KEY,
    SANDBOX_V1,
    InstantClock,
    RecordingTransport,
    make_client,
    response,
    sample,
    sample_bytes,
)

from dhmad_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    DhmadClient,
    InternalServerError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    Timeout,
)
from dhmad_async._client import _BaseClient
from dhmad_async._transport import AiohttpTransport


def test_base_url_from_key_prefix() -> None:
    """sk_live_ goes to production, sk_sandbox_ to the sandbox (§1.1)."""
    assert DhmadClient(LIVE_KEY).base_url == "https://dhmad.tn/api/v1"
    assert DhmadClient(SANDBOX_KEY).base_url == "https://sandbox.dhmad.tn/api/v1"
    assert DhmadClient(LIVE_KEY, base_url="http://127.0.0.1:9/api/v1/").base_url == (
        "http://127.0.0.1:9/api/v1"
    )


def test_unknown_prefix_and_blank_key_are_refused() -> None:
    """An sk_test_ key has no environment; a blank key is refused outright."""
    with pytest.raises(ValueError, match="base_url"):
        DhmadClient("sk_test_" + "0" * 64)
    with pytest.raises(ValueError, match="api_key"):
        DhmadClient("  ")
    assert DhmadClient("custom", base_url="http://127.0.0.1:1/api/v1").environment == "custom"


def test_options_are_normalised_and_checked() -> None:
    """A number timeout becomes a Timeout; a bad auth_header or session+transport is refused."""
    client = DhmadClient(SANDBOX_KEY, timeout=5)
    assert client.timeout == Timeout(total=5.0, connect=5.0, read=5.0)
    with pytest.raises(ValueError, match="auth_header"):
        DhmadClient(SANDBOX_KEY, auth_header="basic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        DhmadClient(SANDBOX_KEY, session=object(), transport=RecordingTransport())  # type: ignore[arg-type]


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads DHMAD_API_KEY and DHMAD_BASE_URL; a missing key is a clear error."""
    with pytest.raises(ValueError, match="DHMAD_API_KEY"):
        DhmadClient.from_env()
    monkeypatch.setenv("DHMAD_API_KEY", LIVE_KEY)
    assert DhmadClient.from_env().base_url == "https://dhmad.tn/api/v1"
    monkeypatch.setenv("DHMAD_BASE_URL", "http://127.0.0.1:8/api/v1")
    client = DhmadClient.from_env(auth_header="x-api-key")
    assert client.base_url == "http://127.0.0.1:8/api/v1"
    env = {"DHMAD_API_KEY": SANDBOX_KEY}
    assert DhmadClient.from_env(env).environment == "sandbox"


def test_repr_hides_the_key() -> None:
    """repr() names the environment, never the key."""
    client = DhmadClient(LIVE_KEY)
    assert LIVE_KEY not in repr(client)
    assert "live" in repr(client)
    assert LIVE_KEY not in repr(client.escrows)
    assert LIVE_KEY not in repr(client._transport)


def test_no_del_finaliser() -> None:
    """Neither the client nor the transport defines __del__ (close explicitly)."""
    for cls in (DhmadClient, _BaseClient, AiohttpTransport):
        assert "__del__" not in {name for klass in inspect.getmro(cls) for name in vars(klass)}


def test_session_is_not_created_at_construction() -> None:
    """Building a client outside a loop creates no aiohttp session."""
    client = DhmadClient(SANDBOX_KEY)
    assert isinstance(client._transport, AiohttpTransport)
    assert client._transport._session is None


async def test_async_with_closes_and_blocks_reuse() -> None:
    """async with closes the transport; later use raises ClientClosedError."""
    transport = RecordingTransport(response(200, sample("me")))
    async with make_client(transport) as client:
        await client.account.me()
    assert client.is_closed
    assert transport.closed == 1
    with pytest.raises(ClientClosedError, match="closed"):
        await client.account.me()
    with pytest.raises(ClientClosedError):
        await client.__aenter__()
    assert len(transport.sent) == 1


async def test_aclose_and_close_are_idempotent() -> None:
    """close() is an alias of aclose(); closing twice closes the transport once."""
    transport = RecordingTransport()
    client = make_client(transport)
    await client.close()
    await client.aclose()
    assert transport.closed == 1


async def test_injected_session_survives_client_close() -> None:
    """The client never closes a session it was given."""
    async with aiohttp.ClientSession() as session:
        client = DhmadClient(SANDBOX_KEY, session=session, rate_limit=RateLimit.disabled())
        with aioresponses() as mock:
            mock.get(f"{SANDBOX_V1}/balance", body=sample_bytes("balance"))
            balance = await client.account.balance()
        await client.aclose()
        assert not session.closed
    assert balance.available == Decimal("1500.50")


async def test_own_session_is_closed_with_real_transport() -> None:
    """The lazily created session is closed by aclose()."""
    client = DhmadClient(SANDBOX_KEY, rate_limit=RateLimit.disabled())
    with aioresponses() as mock:
        mock.get(f"{SANDBOX_V1}/me", body=sample_bytes("me"))
        await client.account.me()
    assert isinstance(client._transport, AiohttpTransport)
    session = client._transport._session
    assert session is not None
    await client.aclose()
    assert session.closed


async def test_auth_header_styles_and_user_agent() -> None:
    """Bearer is the default; x-api-key sends X-API-Key instead."""
    transport = RecordingTransport(response(200, sample("me")))
    await make_client(transport).account.me()
    assert transport.last.headers["Authorization"] == f"Bearer {SANDBOX_KEY}"
    await make_client(transport, auth_header="x-api-key").account.me()
    assert transport.last.headers["X-API-Key"] == SANDBOX_KEY
    assert "Authorization" not in transport.last.headers


async def test_user_agent_reaches_the_wire() -> None:
    """A custom user_agent becomes the session's default User-Agent header."""
    async with DhmadClient(
        SANDBOX_KEY, user_agent="shop/1.0", rate_limit=RateLimit.disabled()
    ) as client:
        with aioresponses() as mock:
            mock.get(f"{SANDBOX_V1}/me", body=sample_bytes("me"))
            await client.account.me()
        session = client._transport._session  # type: ignore[attr-defined]
        assert session.headers["User-Agent"] == "shop/1.0"


async def test_per_call_timeout_overrides_client_default() -> None:
    """timeout= on a call replaces the client's per-attempt timeout."""
    transport = RecordingTransport(response(200, sample("me")))
    client = make_client(transport, timeout=30)
    await client.account.me()
    assert transport.last.timeout.total == 30.0
    await client.account.me(timeout=Timeout(total=2, connect=1, read=1))
    assert transport.last.timeout == Timeout(total=2, connect=1, read=1)


async def test_get_retries_503_then_succeeds_with_retry_header() -> None:
    """A GET retries a 503 after the backoff; the retry carries X-DHMAD-Retry-Count."""
    transport = RecordingTransport().queue(
        response(503, {"error": "Service Unavailable"}), response(200, sample("me"))
    )
    clock = InstantClock()
    me = await make_client(transport, clock=clock).account.me()
    assert me.api_key is not None
    assert len(transport.sent) == 2
    assert "X-DHMAD-Retry-Count" not in transport.sent[0].headers
    assert transport.sent[1].headers["X-DHMAD-Retry-Count"] == "1"
    assert clock.sleeps == [0.5]


async def test_get_timeout_exhausts_and_raises_last_error() -> None:
    """Repeated timeouts on a GET end in APITimeoutError after `attempts` tries."""
    transport = RecordingTransport(APITimeoutError(request_sent=None))
    client = make_client(transport, retry=RetryPolicy(attempts=3, wait_jitter=0))
    with pytest.raises(APITimeoutError) as info:
        await client.account.me()
    assert len(transport.sent) == 3
    assert info.value.may_have_succeeded is False


@pytest.mark.parametrize(
    "failure",
    [
        response(500, {"error": "Internal Server Error"}),
        APITimeoutError(request_sent=None),
        APIConnectionError("reset", request_sent=None),
    ],
)
async def test_post_after_send_is_not_retried_and_flagged(failure: object) -> None:
    """A POST 500/timeout/reset is tried once and says it may have succeeded."""
    transport = RecordingTransport().queue(failure)  # type: ignore[arg-type]
    client = make_client(transport)
    with pytest.raises((InternalServerError, APIConnectionError)) as info:
        await client.escrows.cancel("507f1f77bcf86cd799439011")
    assert len(transport.sent) == 1
    assert info.value.may_have_succeeded is True
    assert "may have been processed" in str(info.value)


async def test_post_unsent_failure_is_retried() -> None:
    """A POST whose connection failed before sending is retried and succeeds."""
    transport = RecordingTransport().queue(
        APIConnectionError("refused", request_sent=False), response(200, sample("escrow_cancel"))
    )
    result = await make_client(transport).escrows.cancel("507f1f77bcf86cd799439011")
    assert result.escrow.status == "cancelled"
    assert len(transport.sent) == 2
    assert transport.sent[0].body == transport.sent[1].body


async def test_post_429_is_retried_after_retry_after() -> None:
    """A POST rejected with 429 is resent after Retry-After plus positive jitter."""
    transport = RecordingTransport().queue(
        response(429, {"error": "Too Many Requests"}, {"Retry-After": "3"}),
        response(200, sample("escrow_cancel")),
    )
    clock = InstantClock()
    client = make_client(transport, clock=clock, retry=RetryPolicy(wait_jitter=0.5))
    await client.escrows.cancel("507f1f77bcf86cd799439011")
    assert len(transport.sent) == 2
    assert len(clock.sleeps) == 1
    assert 3.0 <= clock.sleeps[0] <= 3.5


async def test_get_503_waits_for_its_retry_after() -> None:
    """A 503 with Retry-After (maintenance) is retried after that wait, never sooner."""
    transport = RecordingTransport().queue(
        response(503, {"error": "Service Unavailable"}, {"Retry-After": "7"}),
        response(200, sample("me")),
    )
    clock = InstantClock()
    client = make_client(transport, clock=clock, retry=RetryPolicy(wait_jitter=0.5))
    await client.account.me()
    assert len(transport.sent) == 2
    assert len(clock.sleeps) == 1
    assert 7.0 <= clock.sleeps[0] <= 7.5


async def test_get_503_with_retry_after_beyond_cap_is_not_retried() -> None:
    """A 503 asking for an hour raises at once with retry_after instead of sleeping."""
    transport = RecordingTransport(response(503, {"error": "Down"}, {"Retry-After": "3600"}))
    clock = InstantClock()
    with pytest.raises(InternalServerError) as info:
        await make_client(transport, clock=clock).account.me()
    assert info.value.retry_after == 3600
    assert len(transport.sent) == 1
    assert clock.sleeps == []


async def test_429_body_retry_after_above_cap_raises() -> None:
    """retryAfter 3600 (§1.8) exceeds max_server_wait: RateLimitError, no wait, one try."""
    body = {"error": "Too Many Requests", "message": "Rate limit exceeded.", "retryAfter": 3600}
    transport = RecordingTransport(response(429, body))
    clock = InstantClock()
    client = make_client(transport, clock=clock)
    with pytest.raises(RateLimitError) as info:
        await client.account.me()
    assert info.value.retry_after == 3600
    assert info.value.may_have_succeeded is False
    assert len(transport.sent) == 1
    assert clock.sleeps == []


async def test_429_above_cap_with_local_limiter_raises_rate_limit_error() -> None:
    """With the default limiter the same 429 still raises RateLimitError at once."""
    transport = RecordingTransport(response(429, {"error": "x", "retryAfter": 3600}))
    client = make_client(transport, rate_limit=RateLimit())
    with pytest.raises(RateLimitError) as info:
        await client.account.me()
    assert info.value.retry_after is not None
    assert info.value.retry_after >= 3600
    await client.aclose()


async def test_status_error_carries_everything() -> None:
    """An error response surfaces with status, code, message, raw body and headers."""
    body = {"error": "Unauthorized", "message": "Invalid or expired API key"}
    transport = RecordingTransport(response(401, body, {"X-Request-Id": "req-1"}))
    with pytest.raises(AuthenticationError) as info:
        await make_client(transport).account.me()
    err = info.value
    assert (err.status, err.code, err.message) == (
        401,
        "Unauthorized",
        "Invalid or expired API key",
    )
    assert b"Invalid or expired" in err.body
    assert err.headers["x-request-id"] == "req-1"
    assert err.url == "/me"
    assert len(transport.sent) == 1


def test_key_whitespace_is_stripped_before_inference() -> None:
    """A key pasted with surrounding whitespace still selects its environment."""
    client = DhmadClient(f"  {LIVE_KEY}\n")
    assert client.base_url == "https://dhmad.tn/api/v1"
    assert client.environment == "live"


async def test_max_connections_reports_the_pool_size() -> None:
    """The client exposes its pool size, so batch concurrency can stay below it."""
    client = DhmadClient("sk_sandbox_" + "0" * 64, max_connections=7)
    assert 7 == client.max_connections
    await client.aclose()
