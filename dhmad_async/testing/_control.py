"""Test-only control API under ``/__emulator__``: drive dhmad.tn-side actions, inspect, reset.

Serves requests (aiohttp.web). Not rate limited and never faulted. The same operations
exist as ``Emulator`` methods.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dhmad_async.testing._common import ApiError, bad_request, iso
from dhmad_async.testing._faults import FaultRule
from dhmad_async.testing._routes_v1 import json_response, read_json
from dhmad_async.testing._state import Store

if TYPE_CHECKING:
    from dhmad_async.testing._emulator import Emulator

__all__ = ["ControlApi", "decide_verification", "link_verification"]

JsonDict = dict[str, Any]


def _verification(store: Store, verification_id: str) -> JsonDict:
    rec = store.t["verifications"].get(verification_id)
    if rec is None:
        raise ApiError(404, {"error": "Not Found", "message": "Verification not found"})
    return rec


def _public(rec: JsonDict) -> JsonDict:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def decide_verification(store: Store, verification_id: str, outcome: str) -> JsonDict:
    """Approve/reject a pending verification and emit ``identity.verification.updated``."""
    if outcome not in ("approve", "reject"):
        raise bad_request("outcome must be approve or reject")
    rec = _verification(store, verification_id)
    if rec["kyc_status"] != "pending":
        raise bad_request(f"Verification is already {rec['kyc_status']}")
    rec["kyc_status"] = "approved" if outcome == "approve" else "rejected"
    rec["didit_session_status"] = "completed"
    rec["updated_at"] = store.now_iso()
    store.emit("identity.verification.updated", {"verification": _public(rec)}, rec["_developerId"])
    store.save()
    return _public(rec)


def link_verification(store: Store, verification_id: str) -> JsonDict:
    """The user registers and verifies the email: link and emit ``identity.verification.linked``."""
    rec = _verification(store, verification_id)
    if rec["claim_status"] == "linked":
        raise bad_request("Verification is already linked")
    user = store.ensure_user(rec["email"])
    if rec["kyc_status"] == "approved":
        user["kycStatus"] = "approved"
    rec["claim_status"] = "linked"
    rec["linked_user_id"] = user["_id"]
    rec["linked_at"] = rec["updated_at"] = iso(store.clock.now())
    store.emit("identity.verification.linked", {"verification": _public(rec)}, rec["_developerId"])
    store.save()
    return _public(rec)


class ControlApi:
    """``/__emulator__`` routes bound to one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Route table for ``aiohttp.web``."""
        w = self._wrap
        return [
            web.post(prefix + "/sessions/{id}/complete", w(self.complete)),
            web.post(prefix + "/verifications/{id}/decide", w(self.decide)),
            web.post(prefix + "/verifications/{id}/link", w(self.link)),
            web.get(prefix + "/escrows", w(self.escrows)),
            web.get(prefix + "/stats", w(self.stats)),
            web.get(prefix + "/events", w(self.events)),
            web.get(prefix + "/deliveries", w(self.deliveries)),
            web.post(prefix + "/reset", w(self.reset)),
            web.post(prefix + "/advance", w(self.advance)),
            web.post(prefix + "/api-keys", w(self.api_key)),
            web.post(prefix + "/faults", w(self.faults)),
            web.post(prefix + "/wait-deliveries", w(self.wait)),
        ]

    def _wrap(
        self, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except ApiError as exc:
                # A refused dhmad.tn action: the business error, but 409 so tests can tell
                # it from the API's own 400s.
                status = (
                    409
                    if exc.status == 400 and isinstance(exc.body.get("error"), dict)
                    else (exc.status)
                )
                return json_response(exc.body, status)

        return run

    async def _body(self, request: web.Request) -> JsonDict:
        body = await read_json(request)
        return body if isinstance(body, dict) else {}

    async def complete(self, request: web.Request) -> web.Response:
        """Body ``{"outcome": "accept"|"reject", "note": ...}``."""
        body = await self._body(request)
        session = await self.emu.complete_session(
            request.match_info["id"],
            outcome=str(body.get("outcome", "accept")),
            note=body.get("note"),
        )
        return json_response({"session": session})

    async def decide(self, request: web.Request) -> web.Response:
        """Body ``{"outcome": "approve"|"reject"}``."""
        body = await self._body(request)
        rec = await self.emu.decide_verification(
            request.match_info["id"], str(body.get("outcome", "approve"))
        )
        return json_response(rec)

    async def link(self, request: web.Request) -> web.Response:
        """Link a verification to a newly registered user."""
        return json_response(await self.emu.link_verification(request.match_info["id"]))

    async def escrows(self, request: web.Request) -> web.Response:
        """Every escrow regardless of key."""
        return json_response({"escrows": self.emu.escrows()})

    async def stats(self, request: web.Request) -> web.Response:
        """Counters (requests, 429s, faults, deliveries) and per-route request counts."""
        return json_response({**self.emu.stats(), "byRoute": dict(self.emu.request_counts)})

    async def events(self, request: web.Request) -> web.Response:
        """Every event emitted, in order."""
        return json_response({"events": self.emu.outbox.events})

    async def deliveries(self, request: web.Request) -> web.Response:
        """Every delivery attempt."""
        return json_response(
            {
                "deliveries": [
                    {
                        "eventId": d.event_id,
                        "eventType": d.event_type,
                        "webhookId": d.webhook_id,
                        "url": d.url,
                        "attempt": d.attempt,
                        "status": d.status,
                        "timestamp": d.timestamp,
                        "duplicate": d.duplicate,
                        "body": base64.b64encode(d.body).decode(),
                    }
                    for d in self.emu.outbox.deliveries
                ]
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        """Drop resources and counters."""
        self.emu.reset()
        return json_response({"reset": True})

    async def advance(self, request: web.Request) -> web.Response:
        """Body ``{"seconds": N}``: jump emulated time."""
        body = await self._body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise bad_request("seconds must be a non-negative number")
        await self.emu.advance(float(seconds))
        return json_response({"now": iso(self.emu.clock.now())})

    async def api_key(self, request: web.Request) -> web.Response:
        """Body ``{"user_email": str|null, "environment": "sandbox"|"live"}`` → the new key."""
        body = await self._body(request)
        info = self.emu.create_api_key(
            user_email=body.get("user_email"), environment=str(body.get("environment", "sandbox"))
        )
        return json_response(
            {
                "key": info.key,
                "developerId": info.developer_id,
                "developerToken": info.developer_token,
                "userEmail": info.user_email,
                "environment": info.environment,
            }
        )

    async def faults(self, request: web.Request) -> web.Response:
        """Body ``{"rules": [FaultRule fields...], "seed": N}`` replaces the fault rules."""
        body = await self._body(request)
        try:
            rules = tuple(FaultRule(**r) for r in body.get("rules", []))
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise bad_request(f"invalid rule: {exc}") from None
        seed = body.get("seed")
        self.emu.set_faults(*rules, seed=int(seed) if seed is not None else None)
        return json_response({"rules": len(rules)})

    async def wait(self, request: web.Request) -> web.Response:
        """Block until the webhook outbox is drained."""
        await self.emu.wait_for_deliveries()
        return json_response({"pending": self.emu.outbox.pending()})
