"""Hand-written fakes for client tests: a recording Transport and an instant clock. No I/O."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from dhmad_async import DhmadClient, RateLimit, RetryPolicy
from dhmad_async._config import Timeout
from dhmad_async._sansio import encode_json
from dhmad_async._transport import RawResponse

SAMPLES = Path(__file__).parent.parent / "samples"
SANDBOX_KEY = "sk_sandbox_" + "0123456789abcdef" * 4
LIVE_KEY = "sk_live_" + "fedcba9876543210" * 4
SANDBOX_ROOT = "https://sandbox.dhmad.tn/api"
SANDBOX_V1 = SANDBOX_ROOT + "/v1"


def sample(name: str) -> Any:
    """The decoded REFERENCE example ``tests/samples/<name>.json`` (numbers as Decimal)."""
    return json.loads((SAMPLES / f"{name}.json").read_text(), parse_float=Decimal)


def sample_bytes(name: str) -> bytes:
    """The raw bytes of ``tests/samples/<name>.json``."""
    return (SAMPLES / f"{name}.json").read_bytes()


@attrs.frozen
class Sent:
    """One request the fake transport received."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: Timeout

    @property
    def path(self) -> str:
        """The URL path."""
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        """The query string as a flat dict (the last value wins)."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url).query).items()}

    def json(self) -> Any:
        """The decoded JSON body (numbers as Decimal)."""
        assert self.body is not None
        return json.loads(self.body, parse_float=Decimal)


def response(
    status: int = 200, body: object = None, headers: Mapping[str, str] | None = None
) -> RawResponse:
    """A RawResponse; ``body`` may be bytes, a str, or a JSON-able object."""
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    elif body is None:
        raw = b""
    else:
        raw = encode_json(body)  # exact Decimals, as the server writes numbers
    hdrs = {"content-type": "application/json"} if raw.startswith((b"{", b"[")) else {}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    return RawResponse(status=status, headers=hdrs, body=raw)


Reply = RawResponse | BaseException | Callable[[Sent], RawResponse]


class RecordingTransport:
    """
    A :class:`~dhmad_async._transport.Transport` that records every request.

    Replies are queued with :meth:`queue` (a response, an exception to raise,
    or a function of the request); when the queue is empty, ``default`` answers.
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.sent: list[Sent] = []
        self.replies: deque[Reply] = deque()
        self.default = default if default is not None else response(200, {})
        self.closed = 0

    def queue(self, *replies: Reply) -> RecordingTransport:
        """Append replies, answered in order."""
        self.replies.extend(replies)
        return self

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: Timeout,
    ) -> RawResponse:
        """Record the attempt and answer with the next reply."""
        sent = Sent(method=method, url=url, headers=dict(headers), body=body, timeout=timeout)
        self.sent.append(sent)
        reply = self.replies.popleft() if self.replies else self.default
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, RawResponse):
            return reply
        return reply(sent)

    async def aclose(self) -> None:
        """Count closes."""
        self.closed += 1

    @property
    def last(self) -> Sent:
        """The most recent request."""
        return self.sent[-1]


class InstantClock:
    """A clock whose ``sleep`` records the delay, advances time, and returns at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Fake monotonic seconds."""
        return self.now

    def time(self) -> float:
        """Fake epoch seconds (moves with monotonic)."""
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and jump forward by it."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def make_client(
    transport: RecordingTransport | None = None,
    *,
    api_key: str = SANDBOX_KEY,
    retry: RetryPolicy | None = None,
    clock: InstantClock | None = None,
    **options: Any,
) -> DhmadClient:
    """A client over ``transport`` with limiting off, an instant clock and fast retries."""
    return DhmadClient(
        api_key,
        transport=transport or RecordingTransport(),
        rate_limit=options.pop("rate_limit", RateLimit.disabled()),
        retry=retry or RetryPolicy(attempts=4, wait_jitter=0.0),
        clock=clock or InstantClock(),
        **options,
    )
