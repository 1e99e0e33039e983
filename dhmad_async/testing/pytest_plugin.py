"""pytest fixtures for testing an integration against the DHMAD emulator.

Installed with the package (a ``pytest11`` entry point), so a test file needs no
conftest. Fixtures (all function-scoped):

- ``dhmad_emulator``: a started :class:`~dhmad_async.testing.Emulator` (``time_scale=60``
  unless told otherwise: a rate-limit minute lasts one second);
- ``dhmad_client``: a :class:`~dhmad_async.DhmadClient` for it, whose rate limiter
  runs on the emulator's time scale (the emulator's limit per *scaled* window);
- ``dhmad_webhook_receiver``: a loopback endpoint registered for every event the
  emulator accepts, that verifies each delivery with the webhook's secret and keeps
  the typed events (:class:`WebhookInbox`).

Emulator options, nearest wins: ``@pytest.mark.dhmad_emulator(time_scale=..., faults=...,
...)`` on a test, class or module; a ``dhmad_emulator_options`` fixture you override
(returning a dict) in a conftest or module; the defaults above. Every keyword goes
straight to ``Emulator(...)``.

The fixtures are async: they need pytest-asyncio, in strict mode (mark async tests
with ``@pytest.mark.asyncio``) or auto mode. Network I/O: loopback only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # the plugin still loads, and says what is missing when used
    pytest_asyncio = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from dhmad_async import DhmadClient, RateLimit
    from dhmad_async.testing import Emulator
    from dhmad_async.webhooks import WebhookEvent, WebhookFailureReason

__all__ = [
    "DEFAULT_EMULATOR_OPTIONS",
    "MARKER",
    "WebhookInbox",
    "client_rate_limit",
    "dhmad_client",
    "dhmad_emulator",
    "dhmad_emulator_options",
    "dhmad_webhook_receiver",
]

MARKER = "dhmad_emulator"
DEFAULT_EMULATOR_OPTIONS: dict[str, Any] = {"time_scale": 60.0}
_FIXTURES = frozenset({"dhmad_emulator", "dhmad_client", "dhmad_webhook_receiver"})
NEEDS_PYTEST_ASYNCIO = (
    "the dhmad_async pytest fixtures (dhmad_emulator, dhmad_client, dhmad_webhook_receiver) "
    "are async and need the pytest-asyncio plugin: pip install 'pytest-asyncio>=0.24' "
    "(it comes with 'dhmad-async[test]'), and mark async tests with @pytest.mark.asyncio "
    "or set asyncio_mode = auto"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``dhmad_emulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments for dhmad_async.testing.Emulator, used by "
        "the dhmad_emulator fixture (e.g. time_scale=600, faults=(FaultRule(...),))",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that uses the fixtures when pytest-asyncio is missing, saying so."""
    used = _FIXTURES & set(getattr(item, "fixturenames", ()))
    if used and not item.config.pluginmanager.has_plugin("asyncio"):
        pytest.fail(NEEDS_PYTEST_ASYNCIO, pytrace=False)


def emulator_options(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then ``overrides``, then markers from the farthest to the nearest."""
    options = {**DEFAULT_EMULATOR_OPTIONS, **overrides}
    for mark in reversed(list(request.node.iter_markers(MARKER))):
        if mark.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        options.update(mark.kwargs)
    return options


def client_rate_limit(emu: Emulator) -> RateLimit:
    """A client budget that matches ``emu``: its limit per window, on its time scale.

    The emulator counts a sliding window of ``window`` *emulated* seconds, which lasts
    ``window / time_scale`` real seconds; the default client budget assumes a real
    minute, which would make a time-scaled test wait for nothing. The pause jitter
    shrinks by the same factor; the margin follows the window by itself.
    """
    from dhmad_async import RateLimit

    server = emu.rate_limiter.options
    if not server.enabled:
        return RateLimit.disabled()
    scale = emu.clock.time_scale
    default = RateLimit()
    return RateLimit(
        requests=server.limit,
        per=emu.rate_limiter.window_real,
        burst=min(default.burst, server.limit),
        pause_jitter=default.pause_jitter / scale,
    )


class WebhookInbox:
    """A webhook endpoint on 127.0.0.1 that verifies deliveries and keeps the events.

    ``events`` holds each verified event once, in arrival order (duplicates are
    counted in ``duplicates``, not kept); ``rejected`` holds the reason of every
    delivery that failed verification (a forged or stale one answers 401).
    """

    def __init__(self) -> None:
        self.url = ""
        self.webhook_id = ""
        self.events: list[WebhookEvent] = []
        self.rejected: list[WebhookFailureReason] = []
        self.duplicates = 0
        self._changed = asyncio.Condition()

    def of_type(self, event_type: str) -> list[WebhookEvent]:
        """Verified events of one type, in arrival order."""
        return [e for e in self.events if e.type == event_type]

    def types(self) -> list[str]:
        """The type of every verified event, in arrival order."""
        return [e.type for e in self.events]

    async def wait_for(
        self, event_type: str | None = None, *, count: int = 1, timeout: float = 10.0
    ) -> list[WebhookEvent]:
        """Wait until ``count`` verified events (of ``event_type``, if given) have arrived."""

        def matching() -> list[WebhookEvent]:
            return self.events if event_type is None else self.of_type(event_type)

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            raise AssertionError(
                f"waited {timeout} s for {count} {event_type or 'event'}(s); "
                f"received {self.types()} (rejected: {[r.value for r in self.rejected]})"
            ) from None
        return matching()

    async def _record(
        self, event: WebhookEvent | None, reason: WebhookFailureReason | None
    ) -> None:
        async with self._changed:
            if event is not None:
                self.events.append(event)
            elif reason is not None:
                self.rejected.append(reason)
            else:
                self.duplicates += 1
            self._changed.notify_all()


def _fixture(function: Any) -> Any:
    # pytest_asyncio.fixture makes strict mode accept the async fixtures; auto mode too.
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(function)
    return pytest.fixture(function)


@pytest.fixture
def dhmad_emulator_options() -> dict[str, Any]:
    """Emulator keyword arguments; override this fixture to change them for many tests."""
    return {}


@_fixture
async def dhmad_emulator(
    request: pytest.FixtureRequest, dhmad_emulator_options: dict[str, Any]
) -> AsyncIterator[Emulator]:
    """A started emulator on 127.0.0.1, closed after the test."""
    from dhmad_async.testing import Emulator

    async with Emulator(**emulator_options(request, dhmad_emulator_options)) as emu:
        yield emu


@_fixture
async def dhmad_client(dhmad_emulator: Emulator) -> AsyncIterator[DhmadClient]:
    """A client for the emulator's primary key, its limiter on the emulator's time scale.

    An emulator built with a full clock (``clock=FakeClock()``) shares it with the client.
    """
    from dhmad_async import DhmadClient
    from dhmad_async._clock import SYSTEM_CLOCK, Clock

    source = dhmad_emulator.clock.source
    # The emulator needs only monotonic()/time(); a source that can also sleep is a Clock.
    clock: Clock = source if callable(getattr(source, "sleep", None)) else SYSTEM_CLOCK  # type: ignore[assignment]
    async with DhmadClient(
        dhmad_emulator.api_key,
        base_url=dhmad_emulator.base_url,
        rate_limit=client_rate_limit(dhmad_emulator),
        clock=clock,
    ) as client:
        yield client


@_fixture
async def dhmad_webhook_receiver(dhmad_emulator: Emulator) -> AsyncIterator[WebhookInbox]:
    """A verified webhook endpoint registered with the emulator for every accepted event."""
    from aiohttp import web

    from dhmad_async import DhmadDeveloperClient
    from dhmad_async.models import WebhookEventType
    from dhmad_async.testing._routes_root import WEBHOOK_EVENTS
    from dhmad_async.webhooks import MemoryDedupStore, WebhookVerificationError, WebhookVerifier
    from dhmad_async.webhooks import WebhookFailureReason as Reason

    receiver = WebhookInbox()
    verifiers: list[WebhookVerifier] = []
    dedup = MemoryDedupStore()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: the MAC is over exactly these
        try:
            event = await verifiers[0].averify(body, request.headers, dedup=dedup)
        except WebhookVerificationError as exc:
            duplicate = exc.reason is Reason.DUPLICATE
            await receiver._record(None, None if duplicate else exc.reason)
            return web.json_response({"received": duplicate}, status=200 if duplicate else 401)
        await receiver._record(event, None)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/webhooks/dhmad", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/dhmad"
        async with DhmadDeveloperClient(
            dhmad_emulator.developer_token, base_url=dhmad_emulator.base_url
        ) as developer:
            events = [WebhookEventType(name) for name in WEBHOOK_EVENTS]
            hook = await developer.webhooks.create(receiver.url, events=events)
        assert hook.secret is not None, "the emulator returns the secret on creation"
        receiver.webhook_id = hook.id
        # Delivery timestamps are wall-clock whatever the time scale (as a receiver's
        # clock reads them); the emulator's source clock may be a FakeClock.
        verifiers.append(WebhookVerifier(secrets=[hook.secret], clock=dhmad_emulator.clock.wall))
        yield receiver
    finally:
        await runner.cleanup()
