"""The DHMAD emulator: configuration, server lifecycle, middlewares and the Python control API.

Network I/O: an aiohttp.web server on 127.0.0.1 (free port by default) and, for webhook
deliveries, an aiohttp client. State is plain dicts (``_state``), never SDK models.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from dhmad_async.testing._common import EmuClock, MonotonicSource
from dhmad_async.testing._control import ControlApi, decide_verification, link_verification
from dhmad_async.testing._dashboard import Dashboard
from dhmad_async.testing._escrows import escrow_view
from dhmad_async.testing._faults import FaultRule, Faults
from dhmad_async.testing._fidelity import Fidelity, check_fidelity
from dhmad_async.testing._html import CsrfGuard
from dhmad_async.testing._pages import HostedPages, PageOptions
from dhmad_async.testing._ratelimit import ServerRateLimiter, ServerRateLimitOptions
from dhmad_async.testing._routes_root import RootApi, new_oauth_client
from dhmad_async.testing._routes_v1 import ApiOptions, V1Api, json_response
from dhmad_async.testing._sessions import complete_session, tick
from dhmad_async.testing._state import ApiKeyInfo, Store
from dhmad_async.testing._webhooks import WebhookOptions, WebhookOutbox

__all__ = ["Emulator"]

JsonDict = dict[str, Any]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROL_PREFIX = "/__emulator__"
# The hosted pages live on dhmad.tn, not the API: no API rate limit or faults there.
_NOT_API = (CONTROL_PREFIX, "/checkout/")
logger = logging.getLogger("dhmad_async.testing")


@web.middleware
async def _quiet_disconnects(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """A client that hangs up is routine: one DEBUG line instead of aiohttp's ERROR traceback."""
    try:
        return await handler(request)
    except ConnectionError:
        if request.transport is not None and not request.transport.is_closing():
            raise  # the connection is fine: a real error, let aiohttp report it
        logger.debug("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=499)  # never sent: there is nobody to send it to


class Emulator:
    """An in-process DHMAD sandbox on loopback: ``async with Emulator() as emu: ...``.

    ``fidelity="documented"`` (the default) answers only what the DHMAD documentation
    shows: each endpoint's documented fields, the list of the associated user's own
    escrows, 429s with a ``retryAfter`` body and no rate-limit headers.
    ``fidelity="generous"`` answers with every stored field and header, and lists every
    escrow the key created. ``time_scale`` makes emulated time run faster (60 → a
    rate-limit "minute" lasts one real second; 30-minute sessions expire after 30 real
    seconds). Several emulators can run in one process; they share nothing.

    ``signature_configured`` says whether the primary developer account starts with a
    contract signature. ``None`` takes the profile's choice: none in ``documented`` (a
    new account has none, so ``autoSign: true`` is refused with a 400 until one is
    uploaded with ``PUT /developer/signature``), one in ``generous``.
    """

    def __init__(
        self,
        *,
        fidelity: Fidelity = "documented",
        host: str = "127.0.0.1",
        port: int = 0,
        user_email: str = "merchant@example.com",
        api_key: str | None = None,
        time_scale: float = 1.0,
        clock: MonotonicSource | None = None,
        rate_limit: ServerRateLimitOptions | None = None,
        faults: tuple[FaultRule, ...] = (),
        fault_seed: int = 0,
        webhooks: WebhookOptions | None = None,
        api: ApiOptions | None = None,
        state_path: str | Path | None = None,
        pages: PageOptions | None = None,
        oauth_redirect_uris: tuple[str, ...] = (
            "https://example.com/callback",
            "http://localhost:3000/callback",
            "http://127.0.0.1/callback",
        ),
        signature_configured: bool | None = None,
    ) -> None:
        self.fidelity: Fidelity = check_fidelity(fidelity)
        self.host, self.port = host, port
        self.clock = EmuClock(time_scale, clock)
        self.store = Store(self.clock, state_path)
        self.api_options = api or ApiOptions()
        self.page_options = pages or PageOptions()
        self.rate_limiter = ServerRateLimiter(
            rate_limit or ServerRateLimitOptions(), self.clock, self.fidelity
        )
        self.faults = Faults(faults, fault_seed)
        self.outbox = WebhookOutbox(
            self.store, self.clock, (webhooks or WebhookOptions()).for_profile(self.fidelity)
        )
        self.store.event_sink = self.outbox.emit
        self.request_counts: Counter[str] = Counter()  # "METHOD /path" → count
        meta = self.store.t["meta"]
        if "primary" not in meta:  # fresh state (or a new state file)
            if signature_configured is None:
                signature_configured = self.fidelity == "generous"
            dev = self.store.create_developer(user_email, has_signature=signature_configured)
            info = self.store.create_api_key(dev, key=api_key)
            client = new_oauth_client(self.store, user_email, oauth_redirect_uris)
            meta["primary"] = {"key": info.key, "oauthClient": client["clientId"]}
            self.store.save()
        primary = meta["primary"]
        self._primary = self.store.key_info(self.store.t["api_keys"][primary["key"]])
        self._oauth_client = self.store.t["oauth_clients"][primary["oauthClient"]]
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The aiohttp application (routes + middlewares), for custom hosting."""
        app = web.Application(middlewares=[_quiet_disconnects, self._middleware])
        pages = HostedPages(self.store, CsrfGuard(), self.page_options, self.complete_session)
        app.add_routes(V1Api(self.store, self.api_options, self.fidelity).routes())
        app.add_routes(
            RootApi(self.store, fidelity=self.fidelity, consent=pages.consent_page).routes()
        )
        app.add_routes(pages.routes())
        app.add_routes(ControlApi(self).routes(CONTROL_PREFIX))
        app.add_routes(Dashboard(self).routes(CONTROL_PREFIX))
        return app

    async def start(self) -> None:
        """Bind and serve; after this ``base_url`` is valid."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        self.store.web_origin = self.origin

    async def aclose(self) -> None:
        """Stop deliveries and the server."""
        await self.outbox.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- addresses and credentials --------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._bound_port is None:
            raise RuntimeError("emulator not started")
        return f"http://{self.host}:{self._bound_port}"

    @property
    def base_url(self) -> str:
        """The v1 API base, ``http://127.0.0.1:PORT/api/v1``."""
        return self.origin + "/api/v1"

    @property
    def root_url(self) -> str:
        """The non-versioned root for ``/api/oauth`` and ``/api/developer``."""
        return self.origin + "/api"

    @property
    def control_url(self) -> str:
        """Base of the test-only control API."""
        return self.origin + CONTROL_PREFIX

    @property
    def dashboard_url(self) -> str:
        """The dashboard page: escrows, sessions, webhook deliveries, the rate-limit window."""
        return self.origin + CONTROL_PREFIX + "/"

    @property
    def api_key(self) -> str:
        """The ready ``sk_sandbox_`` key, associated with ``user_email``."""
        return self._primary.key

    @property
    def user_email(self) -> str:
        """The primary key's associated user."""
        assert self._primary.user_email is not None
        return self._primary.user_email

    @property
    def developer_token(self) -> str:
        """Bearer token for ``/api/developer/webhooks`` and ``/developer/signature``."""
        return self._primary.developer_token

    @property
    def oauth_client(self) -> tuple[str, str]:
        """``(client_id, client_secret)`` of the registered OAuth client."""
        return self._oauth_client["clientId"], self._oauth_client["clientSecret"]

    @property
    def webhook_secrets(self) -> dict[str, str]:
        """Current signing secret per webhook id (all developers)."""
        return {h["id"]: h["secret"] for h in self.store.t["webhooks"].values()}

    def create_api_key(
        self,
        *,
        user_email: str | None = None,
        environment: str = "sandbox",
        same_developer: bool = False,
        rate_limit: int = 100,
    ) -> ApiKeyInfo:
        """Issue another key: unassociated (``user_email=None``), live, or someone else's.

        By default a new developer account is created, so the key does not see the
        primary developer's escrows unless its user is a party.
        """
        if same_developer:
            dev = self.store.t["developers"][self._primary.developer_id]
        else:
            dev = self.store.create_developer(user_email)
        return self.store.create_api_key(dev, environment=environment, rate_limit=rate_limit)

    # -- middleware -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if self.store.web_origin is None:  # hosted by build_app(): learn it from the request
            self.store.web_origin = f"{request.scheme}://{request.host}"
        if request.path.startswith(_NOT_API):
            return await handler(request)
        self.request_counts[f"{request.method} {request.path}"] += 1
        ip = request.remote or "unknown"
        decision = self.rate_limiter.check(ip)
        if not decision.allowed:
            return json_response(
                {
                    "error": "Too Many Requests",
                    "message": "Rate limit exceeded. Please try again later.",
                    "retryAfter": decision.retry_after_body,
                },
                429,
                decision.headers,
            )
        plan = self.faults.plan(request.method, request.path)
        if plan.kind == "reset":
            self._abort(request)
            return web.Response(status=500)  # never written: the transport is gone
        if plan.kind == "slow":
            await asyncio.sleep(plan.delay)
        if plan.kind in ("error_502", "error_503"):
            if plan.kind == "error_502":  # a proxy's HTML page, like a real gateway sends
                return web.Response(
                    status=502,
                    text="<html><body>502 Bad Gateway</body></html>",
                    content_type="text/html",
                )
            return json_response(
                {
                    "error": "Service Unavailable",
                    "message": "The service is temporarily unavailable",
                },
                503,
            )
        if plan.kind == "error_500" and not plan.commit:
            return self._internal_error()
        response = await handler(request)
        if plan.kind in ("error_500", "lost_response"):
            committed = self._escrow_id_of(response)
            target = (
                self.faults.committed_under_lost_response
                if plan.kind == "lost_response"
                else self.faults.committed_under_500
            )
            if committed is not None:
                target.append(committed)
            if plan.kind == "lost_response":
                self._abort(request)
                return response
            return self._internal_error()
        for name, value in decision.headers.items():
            response.headers[name] = value
        return response

    @staticmethod
    def _internal_error() -> web.Response:
        return json_response(
            {"error": "Internal Server Error", "message": "An unexpected error occurred"}, 500
        )

    @staticmethod
    def _abort(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()

    @staticmethod
    def _escrow_id_of(response: web.StreamResponse) -> str | None:
        if not isinstance(response, web.Response) or response.status >= 300 or not response.text:
            return None
        try:
            data = json.loads(response.text)
        except ValueError:
            return None
        escrow = data.get("escrow") if isinstance(data, dict) else None
        return escrow.get("id") if isinstance(escrow, dict) else None

    # -- control API (Python) ----------------------------------------------------------------

    async def complete_session(
        self, session_id: str, *, outcome: str = "accept", note: str | None = None
    ) -> JsonDict:
        """Act as the session's target user on dhmad.tn; raises :class:`ApiError` if refused."""
        tick(self.store)
        return complete_session(self.store, session_id, outcome, note)

    async def decide_verification(self, verification_id: str, outcome: str = "approve") -> JsonDict:
        """Approve or reject a pending identity verification (fires the update event)."""
        return decide_verification(self.store, verification_id, outcome)

    async def link_verification(self, verification_id: str) -> JsonDict:
        """The user registers with the verified email: ``claim_status`` → ``linked``."""
        return link_verification(self.store, verification_id)

    def escrows(self) -> list[JsonDict]:
        """Every escrow regardless of key, newest first, in API shape."""
        items = sorted(self.store.t["escrows"].values(), key=lambda e: e["seq"], reverse=True)
        return [escrow_view(self.store, e) for e in items]

    def escrow(self, escrow_id: str) -> JsonDict:
        """One escrow in API shape (raises :class:`ApiError` 404)."""
        return escrow_view(self.store, self.store.get_escrow(escrow_id))

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        """API requests seen (before rate limiting), optionally filtered."""
        return sum(
            n
            for key, n in self.request_counts.items()
            if (method is None or key.split(" ", 1)[0] == method.upper())
            and (path is None or key.split(" ", 1)[1] == path)
        )

    async def advance(self, seconds: float) -> None:
        """Jump emulated time forward (sessions expire, proof reviews time out)."""
        self.clock.offset += seconds
        tick(self.store)

    async def wait_for_deliveries(self, timeout: float | None = 10.0) -> None:
        """Wait until the webhook outbox is drained (retries included)."""
        await self.outbox.wait(timeout)

    def set_faults(self, *rules: FaultRule, seed: int | None = None) -> None:
        """Replace the fault rules at runtime."""
        self.faults.set_rules(*rules, seed=seed)

    def stats(self) -> JsonDict:
        """Counters: requests, 429s, faults, committed-under-fault escrows, deliveries."""
        return {
            "requests": sum(self.request_counts.values()),
            "admitted": len(self.rate_limiter.admitted),
            "rateLimited": self.rate_limiter.rejected,
            "maxInWindow": self.rate_limiter.max_in_any_window(),
            # The limit is per client IP: the most admitted from each IP in any one window.
            "maxInWindowByIp": {
                ip: self.rate_limiter.max_in_any_window(ip)
                for ip in self.rate_limiter.admitted_by_ip
            },
            "faults": dict(self.faults.counts),
            "committedUnderLostResponse": list(self.faults.committed_under_lost_response),
            "committedUnder500": list(self.faults.committed_under_500),
            "events": len(self.outbox.events),
            "deliveries": len(self.outbox.deliveries),
            "pendingDeliveries": self.outbox.pending(),
        }

    def reset(self) -> None:
        """Drop escrows, sessions, verifications, webhooks and all counters (keys stay)."""
        self.store.reset()
        self.request_counts.clear()
        self.rate_limiter.reset()
        self.faults.reset()
        self.outbox.events.clear()
        self.outbox.deliveries.clear()
