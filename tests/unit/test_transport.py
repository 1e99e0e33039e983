"""The aiohttp transport: raw responses, exception mapping, session ownership and fork safety."""

from __future__ import annotations

import asyncio
import inspect

import aiohttp
import pytest
from aiohttp import client_exceptions as ce
from aioresponses import aioresponses
from multidict import CIMultiDict

from dhmad_async import APIConnectionError, APITimeoutError, Timeout, _transport
from dhmad_async._transport import _EXCEPTION_MAP, AiohttpTransport, _translate

URL = "https://sandbox.dhmad.tn/api/v1/me"
TIMEOUT = Timeout(total=5, connect=1, read=2)


def test_every_aiohttp_client_exception_is_mapped() -> None:
    """Each exception class aiohttp exports is a key of _EXCEPTION_MAP (new ones fail here)."""
    classes = [
        getattr(ce, name)
        for name in ce.__all__
        if inspect.isclass(getattr(ce, name)) and issubclass(getattr(ce, name), BaseException)
    ]
    assert len(classes) > 20
    missing = [cls.__name__ for cls in classes if cls not in _EXCEPTION_MAP]
    assert missing == []


def _mapped(exc: BaseException) -> APIConnectionError:
    error = _translate(exc, "POST", URL)
    assert isinstance(error, APIConnectionError)
    return error


def test_connect_timeout_is_unsent() -> None:
    """A connect timeout never sent the request (request_sent=False), so POSTs may retry."""
    err = _mapped(ce.ConnectionTimeoutError("connect"))
    assert isinstance(err, APITimeoutError)
    assert err.request_sent is False


def test_read_timeout_is_unknown() -> None:
    """A socket read timeout may come after the request was processed."""
    err = _mapped(ce.SocketTimeoutError("read"))
    assert isinstance(err, APITimeoutError)
    assert err.request_sent is None


def test_plain_timeout_and_oserror_are_mapped() -> None:
    """asyncio's TimeoutError and a raw OSError become our errors, chained to a fresh copy."""
    timeout = _mapped(TimeoutError())
    assert isinstance(timeout, APITimeoutError)
    assert timeout.request_sent is None
    reset = _mapped(ConnectionResetError("reset"))
    assert type(reset) is APIConnectionError
    assert isinstance(reset.__cause__, ConnectionResetError)
    assert reset.__cause__.args == ("reset",)


def test_disconnect_and_payload_errors() -> None:
    """A disconnect is unknown, a payload error means the server answered."""
    assert _mapped(ce.ServerDisconnectedError()).request_sent is None
    assert _mapped(ce.ClientPayloadError("bad")).request_sent is True


def test_cancelled_error_passes_through() -> None:
    """Cancellation (and anything that is not a transport failure) is never translated."""
    assert _translate(asyncio.CancelledError(), "GET", URL) is None
    assert _translate(KeyError("x"), "GET", URL) is None
    assert _translate(APIConnectionError("already ours"), "GET", URL) is None


async def test_request_returns_lowercased_merged_headers() -> None:
    """Headers are lower-cased and repeats joined with ', '; the body is read whole."""
    transport = AiohttpTransport()
    headers = CIMultiDict([("X-RateLimit-Remaining", "9"), ("Via", "a"), ("Via", "b")])
    try:
        with aioresponses() as mock:
            mock.get(URL, status=201, body=b'{"ok":true}', headers=headers)
            raw = await transport.request("GET", URL, {"Authorization": "x"}, None, timeout=TIMEOUT)
    finally:
        await transport.aclose()
    assert raw.status == 201
    assert raw.body == b'{"ok":true}'
    assert raw.headers["x-ratelimit-remaining"] == "9"
    assert raw.headers["via"] == "a, b"


@pytest.mark.parametrize(
    ("exc", "cls", "sent"),
    [
        (TimeoutError(), APITimeoutError, None),
        (ce.ConnectionTimeoutError(), APITimeoutError, False),
        (ce.ServerDisconnectedError(), APIConnectionError, None),
        (ce.ClientConnectionResetError(), APIConnectionError, None),
    ],
)
async def test_request_maps_aioresponses_exceptions(
    exc: BaseException, cls: type[APIConnectionError], sent: bool | None
) -> None:
    """Failures raised by aiohttp during a request surface as our errors."""
    transport = AiohttpTransport()
    try:
        with aioresponses() as mock:
            mock.post(URL, exception=exc)
            with pytest.raises(cls) as info:
                await transport.request("POST", URL, {}, b"{}", timeout=TIMEOUT)
    finally:
        await transport.aclose()
    assert info.value.request_sent is sent
    assert info.value.method == "POST"


async def test_session_is_lazy_and_owned() -> None:
    """No session exists before the first request; aclose() closes the one we made."""
    transport = AiohttpTransport()
    assert transport._session is None
    with aioresponses() as mock:
        mock.get(URL, body=b"{}")
        await transport.request("GET", URL, {}, None, timeout=TIMEOUT)
    session = transport._session
    assert session is not None
    await transport.aclose()
    assert session.closed


async def test_injected_session_is_never_closed() -> None:
    """A caller's session stays open after aclose()."""
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        with aioresponses() as mock:
            mock.get(URL, body=b"{}")
            await transport.request("GET", URL, {}, None, timeout=TIMEOUT)
        await transport.aclose()
        assert not session.closed


async def test_fork_rebuilds_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a (faked) fork the child builds its own session instead of sharing sockets."""
    transport = AiohttpTransport()
    parent_session = transport._get_session()
    monkeypatch.setattr(_transport.os, "getpid", lambda: 999_999)
    child_session = transport._get_session()
    assert child_session is not parent_session
    assert parent_session in _transport._ABANDONED_AFTER_FORK
    assert not parent_session.closed  # the parent still uses it
    await transport.aclose()
    assert child_session.closed
    _transport._ABANDONED_AFTER_FORK.remove(parent_session)
    await parent_session.close()


def test_max_connections_must_be_positive() -> None:
    """A zero-sized pool is refused."""
    with pytest.raises(ValueError, match="max_connections"):
        AiohttpTransport(max_connections=0)
