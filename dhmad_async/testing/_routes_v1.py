"""HTTP handlers of ``/api/v1``: auth, JSON in/out, plain dicts.

Serves requests (aiohttp.web); the rules live in ``_escrows`` and ``_sessions``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import attrs
from aiohttp import web

from dhmad_async.testing import _escrows as esc_rules
from dhmad_async.testing import _sessions as sess_rules
from dhmad_async.testing._common import ApiError, bad_request, dumps, iso, loads, new_object_id
from dhmad_async.testing._fidelity import Fidelity, shape
from dhmad_async.testing._state import KeyContext, Store

__all__ = ["ApiOptions", "V1Api", "json_response", "read_json"]

JsonDict = dict[str, Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VERIFICATION_ID = re.compile(r"^[0-9a-f]{24,25}$")


@attrs.frozen
class ApiOptions:
    """Behaviour switches for the v1 API (the defaults are INF where marked in docs/emulator.md)."""

    rules: esc_rules.EscrowRules = attrs.field(factory=esc_rules.EscrowRules)
    allowed_redirect_urls: tuple[str, ...] = ("https://", "http://localhost", "http://127.0.0.1")
    # The sandbox guide says KYC is auto-approved at once; its example shows "pending".
    kyc_auto_approve: bool = True
    blocked_email_domains: tuple[str, ...] = ("blocked.example",)
    initial_balance: Decimal = Decimal("1000")
    # Shapes the docs leave open, off unless a test turns them on (docs/emulator.md):
    # every empty array written as null, and the escrow endpoints' {"data": ...} envelope.
    null_empty_arrays: bool = False
    data_envelope: bool = False


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with ``Decimal`` money written as numbers."""
    return web.Response(
        text=dumps(data), status=status, content_type="application/json", headers=headers
    )


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (``None`` if empty) or a 400 for malformed JSON."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("Invalid request parameters", {"body": "Malformed JSON"}) from None


def api_key_of(request: web.Request) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key``."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("X-API-Key") or None


Handler = Callable[[web.Request, KeyContext], Awaitable[web.Response]]


class V1Api:
    """The ``/api/v1`` routes over one :class:`Store`."""

    def __init__(self, store: Store, options: ApiOptions, fidelity: Fidelity) -> None:
        self.store = store
        self.options = options
        self.fidelity: Fidelity = fidelity

    @property
    def documented(self) -> bool:
        """True under the ``documented`` profile."""
        return self.fidelity == "documented"

    def _ok(self, view: str, data: object, status: int = 200) -> web.Response:
        """A success response shaped for ``view`` by the profile and the shape options."""
        body = shape(
            view,
            data,
            fidelity=self.fidelity,
            null_empty_arrays=self.options.null_empty_arrays,
            data_envelope=self.options.data_envelope,
        )
        return json_response(body, status)

    def routes(self, prefix: str = "/api/v1") -> list[web.RouteDef]:
        """Route table for ``aiohttp.web``."""
        w = self._wrap
        p = prefix
        return [
            web.get(f"{p}/me", w(self.me)),
            web.get(f"{p}/balance", w(self.balance)),
            web.post(f"{p}/escrows", w(self.create_escrow)),
            web.get(f"{p}/escrows", w(self.list_escrows)),
            web.get(p + "/escrows/{id}", w(self.get_escrow)),
            web.put(p + "/escrows/{id}", w(self.update_escrow)),
            web.patch(p + "/escrows/{id}", w(self.update_escrow)),  # INF: tolerate PATCH
            web.post(p + "/escrows/{id}/deliver", w(self.deliver)),
            web.post(p + "/escrows/{id}/reject-delivery", w(self.reject_delivery)),
            web.post(p + "/escrows/{id}/cancel", w(self.cancel)),
            web.get(p + "/escrows/{id}/contract", w(self.contract)),
            web.get(p + "/escrows/{id}/proof", w(self.proof)),
            web.post(p + "/escrows/{id}/sessions", w(self.create_session)),
            web.get(p + "/sessions/{id}", w(self.get_session)),
            web.post(f"{p}/identity-verifications", w(self.create_verification)),
            web.get(f"{p}/identity-verifications", w(self.list_verifications)),
            web.get(p + "/identity-verifications/{id}", w(self.get_verification)),
        ]

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            try:
                ctx = self.store.authenticate(api_key_of(request), sandbox=True)
                sess_rules.tick(self.store)
                return await handler(request, ctx)
            except ApiError as exc:
                return json_response(exc.body, exc.status, exc.headers)

        return run

    # -- account ------------------------------------------------------------------------------

    async def me(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /me``; works without association."""
        key = {k: v for k, v in ctx.key.items() if k not in ("key", "developerId")}
        dev = ctx.developer
        return self._ok(
            "me",
            {
                "apiKey": key,
                "developer": {
                    "id": dev["id"],
                    "email": dev["email"],
                    "companyName": dev["companyName"],
                },
            },
        )

    async def balance(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /balance``: derived from the user's escrows (INF)."""
        email = esc_rules.require_association(ctx)
        available, held = self.options.initial_balance, Decimal(0)
        for esc in self.store.t["escrows"].values():
            role = self.store.role_of(esc, email)
            if role == "seller" and esc["status"] == "completed":
                available += esc["amountTnd"] - esc["escrowFee"]
            elif role == "buyer" and esc["status"] in ("paid", "delivered"):
                held += esc["amountTnd"]
            elif esc["developerId"] == ctx.developer["id"] and esc["status"] == "completed":
                available += esc["developerFee"]
        return self._ok(
            "balance", {"balance": {"available": available, "pending": Decimal(0), "escrow": held}}
        )

    # -- escrows ------------------------------------------------------------------------------

    async def create_escrow(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /escrows`` → 201."""
        body = await read_json(request)
        out = esc_rules.create_escrow(self.store, self.options.rules, ctx, body)
        if self.documented and not (isinstance(body, dict) and body.get("sellerEmail")):
            # The quickstart's create example: with the associated user as seller, the create
            # response has ``sellerEmail: null`` (and the seller as a bare id).
            out["escrow"]["sellerEmail"] = None
        return self._ok("escrows.create", out, 201)

    async def list_escrows(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /escrows``: filters, newest first, ``limit`` ≤ 100 (over → 400)."""
        email = esc_rules.require_association(ctx)
        q = request.query
        details: dict[str, str] = {}
        page, limit = q.get("page", "1"), q.get("limit", "20")
        if not page.isdigit() or int(page) < 1:
            details["page"] = "page must be a positive integer"
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            details["limit"] = "limit must be between 1 and 100"
        status, role = q.get("status"), q.get("role")
        if status is not None and status not in (
            "pending",
            "paid",
            "delivered",
            "completed",
            "cancelled",
        ):
            details["status"] = "Invalid status"
        if role is not None and role not in ("seller", "buyer"):
            details["role"] = "role must be seller or buyer"
        if details:
            raise bad_request("Invalid request parameters", details)
        items = []
        for esc in self.store.t["escrows"].values():
            my_role = self.store.role_of(esc, email)
            if role is not None and my_role != role:
                continue
            if role is None and not (
                my_role is not None if self.documented else self.store.can_see(ctx, esc)
            ):
                # The list page: "role omitted = both" roles of the associated user; escrows the key
                # created between two other users are listed only by the generous profile.
                continue
            if status is not None and esc["status"] != status:
                continue
            items.append(esc)
        items.sort(key=lambda e: (e["createdAt"], e["seq"]), reverse=True)
        p, lim = int(page), int(limit)
        chunk = items[(p - 1) * lim : p * lim]
        pages = (len(items) + lim - 1) // lim
        return self._ok(
            "escrows.list",
            {
                "escrows": [esc_rules.escrow_view(self.store, e) for e in chunk],
                "pagination": {"page": p, "limit": lim, "total": len(items), "pages": pages},
            },
        )

    async def get_escrow(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /escrows/:id``."""
        esc = esc_rules.visible_escrow(self.store, ctx, request.match_info["id"])
        return self._ok("escrows.get", {"escrow": esc_rules.escrow_view(self.store, esc)})

    async def update_escrow(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``PUT /escrows/:id``."""
        body = await read_json(request)
        out = esc_rules.update_escrow(
            self.store, self.options.rules, ctx, request.match_info["id"], body
        )
        return self._ok("escrows.update", out)

    async def deliver(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /escrows/:id/deliver``."""
        out = esc_rules.deliver(self.store, ctx, request.match_info["id"])
        instant = out["escrow"]["mode"] == "instant"
        return self._ok("escrows.deliver.instant" if instant else "escrows.deliver", out)

    async def reject_delivery(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /escrows/:id/reject-delivery``."""
        body = await read_json(request)
        return self._ok(
            "escrows.reject_delivery",
            esc_rules.reject_delivery(self.store, ctx, request.match_info["id"], body),
        )

    async def cancel(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /escrows/:id/cancel``."""
        return self._ok(
            "escrows.cancel", esc_rules.cancel(self.store, ctx, request.match_info["id"])
        )

    async def contract(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /escrows/:id/contract``: parties only, standard only."""
        esc = esc_rules.visible_escrow(self.store, ctx, request.match_info["id"])
        if self.store.role_of(esc, ctx.user_email) is None:
            raise ApiError(
                403,
                {
                    "error": "Forbidden",
                    "message": "You do not have access to "
                    "this escrow. You can only view escrows where you are the "
                    "seller or buyer.",
                },
            )
        contract = self.store.t["contracts"].get(esc["id"])
        if contract is None:
            raise ApiError(404, {"error": "Contract not found for this escrow"})
        return self._ok("escrows.contract", {"contract": contract})

    async def proof(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /escrows/:id/proof``."""
        return self._ok(
            "escrows.proof", sess_rules.proof_view(self.store, ctx, request.match_info["id"])
        )

    # -- checkout sessions --------------------------------------------------------------------

    async def create_session(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /escrows/:id/sessions`` → 201."""
        body = await read_json(request)
        out = sess_rules.create_session(
            self.store, ctx, request.match_info["id"], body, self.options.allowed_redirect_urls
        )
        return self._ok("sessions.create", out, 201)

    async def get_session(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /sessions/:id``."""
        return self._ok(
            "sessions.get", sess_rules.get_session(self.store, ctx, request.match_info["id"])
        )

    # -- identity verifications, snake_case, no association needed ---------------

    async def create_verification(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``POST /identity-verifications``: 201 new, 200 existing pending."""
        body = await read_json(request)
        if not isinstance(body, dict):
            body = {}
        email = body.get("email")
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            raise bad_request("Invalid email")
        email = email.strip().lower()
        if email.rsplit("@", 1)[1] in self.options.blocked_email_domains:
            raise ApiError(403, {"error": "Forbidden", "message": "Email domain is not allowed"})
        ext = body.get("external_user_id")
        if ext is not None and not isinstance(ext, str):
            raise bad_request("Invalid external_user_id")
        redirect = body.get("redirect_url")
        if redirect is not None and not (
            isinstance(redirect, str)
            and any(redirect.startswith(p) for p in self.options.allowed_redirect_urls)
        ):
            raise bad_request("redirect_url is not in your allowed redirect URLs")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(v, str) and len(v) <= 500 for v in metadata.values())
        ):
            raise bad_request("metadata values must be strings of at most 500 characters")
        user = self.store.user(email)
        if user is not None and user["kycStatus"] == "approved":
            raise ApiError(
                409,
                {
                    "error": "Conflict",
                    "message": "User already has approved KYC",
                    "user_exists": True,
                },
            )
        dev_id = ctx.developer["id"]
        for rec in self.store.t["verifications"].values():
            if (
                rec["_developerId"] == dev_id
                and rec["email"] == email
                and (rec["kyc_status"] == "pending")
            ):
                return self._ok("identity.get", self._verification_view(rec))
        now = self.store.clock.now()
        auto = self.options.kyc_auto_approve
        rec = {
            "id": new_object_id(),
            "email": email,
            "external_user_id": ext,
            "kyc_status": "approved" if auto else "pending",
            "didit_session_status": "completed" if auto else "in_progress",
            "needs_admin_review": False,
            "claim_status": "pending",
            "linked_user_id": None,
            "linked_at": None,
            "created_at": iso(now),
            "updated_at": iso(now),
            "expires_at": iso(now + 90 * 86400),
            "verification_email_sent": not auto,
            "verification_email_sent_at": None if auto else iso(now),
            "_developerId": dev_id,
            "_metadata": metadata or {},
            "_seq": self.store.next_seq(),
        }
        self.store.t["verifications"][rec["id"]] = rec
        if auto:
            self.store.emit(
                "identity.verification.updated",
                {"verification": self._verification_view(rec)},
                dev_id,
            )
        self.store.save()
        out = self._verification_view(rec)
        out["message"] = (
            "Identity verification approved (sandbox)."
            if auto
            else "A verification email has been sent to the user."
        )
        return self._ok("identity.create", out, 201)

    @staticmethod
    def _verification_view(rec: JsonDict) -> JsonDict:
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def _own_verification(self, ctx: KeyContext, vid: str) -> JsonDict:
        if not _VERIFICATION_ID.match(vid):
            raise bad_request("Invalid verification ID")
        rec = self.store.t["verifications"].get(vid)
        if rec is None or rec["_developerId"] != ctx.developer["id"]:
            raise ApiError(404, {"error": "Not Found", "message": "Verification not found"})
        return rec

    async def get_verification(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /identity-verifications/:id``."""
        rec = self._own_verification(ctx, request.match_info["id"])
        return self._ok("identity.get", self._verification_view(rec))

    async def list_verifications(self, request: web.Request, ctx: KeyContext) -> web.Response:
        """``GET /identity-verifications?email=``: newest first, at most 20."""
        email = request.query.get("email", "").strip().lower()
        if not email:
            raise bad_request("email query parameter is required")
        recs = [
            r
            for r in self.store.t["verifications"].values()
            if r["_developerId"] == ctx.developer["id"] and r["email"] == email
        ]
        recs.sort(key=lambda r: r["_seq"], reverse=True)
        return self._ok(
            "identity.list", {"verifications": [self._verification_view(r) for r in recs[:20]]}
        )
