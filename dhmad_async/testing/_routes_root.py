"""HTTP handlers under ``/api`` outside v1: OAuth and developer webhooks,
plus ``/developer/signature``. Serves requests (aiohttp.web).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs
from aiohttp import web

from dhmad_async.testing._common import ApiError, bad_request, dumps, iso, new_hex, new_object_id
from dhmad_async.testing._fidelity import Fidelity, shape
from dhmad_async.testing._routes_v1 import json_response, read_json
from dhmad_async.testing._state import Store

__all__ = [
    "WEBHOOK_EVENTS",
    "AuthorizeRequest",
    "ConsentPage",
    "RootApi",
    "check_authorize",
    "deny_url",
    "grant_url",
    "new_oauth_client",
]

JsonDict = dict[str, Any]
CODE_TTL = 600.0  # documented: codes valid 10 minutes, single use
TOKEN_TTL = 3600.0  # documented: access tokens live 1 h
WEBHOOK_EVENTS = (
    "escrow.status.updated",
    "contract.signed",
    "escrow.cancellation.requested",
    "escrow.cancellation.rejected",
    "escrow.cancellation.accepted",
    "escrow.updated",
    "escrow.deposit_proof.rejected",
    "escrow.delivery.rejected",
    "identity.verification.updated",
    "identity.verification.linked",
)
MAX_WEBHOOKS = 2  # documented: at most two per developer account


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: JsonDict, secret: str) -> str:
    """An HS256 JWT (INF: the example tokens carry an HS256 header)."""
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64url(dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(sig)}"


@attrs.frozen
class AuthorizeRequest:
    """A valid ``GET /api/oauth/authorize`` request."""

    client: JsonDict = attrs.field(repr=False)
    redirect_uri: str
    state: str
    scope: str
    code_challenge: str | None

    def form_fields(self) -> dict[str, str]:
        """The query parameters to carry through the consent form."""
        fields = {
            "client_id": str(self.client["clientId"]),
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "state": self.state,
            "scope": self.scope,
        }
        if self.code_challenge:
            fields["code_challenge"] = self.code_challenge
            fields["code_challenge_method"] = "S256"
        return fields


ConsentPage = Callable[[web.Request, AuthorizeRequest], Awaitable[web.StreamResponse]]


def check_authorize(store: Store, q: Mapping[str, str]) -> AuthorizeRequest:
    """Validate authorize parameters or raise the JSON OAuth error (errors come before redirect)."""
    client = store.t["oauth_clients"].get(q.get("client_id", ""))
    if client is None:
        raise _oauth_error(400, "invalid_client", "Unknown client_id")
    redirect = q.get("redirect_uri", "")
    if not urlsplit(redirect).path.strip("/") or redirect not in client["redirectUris"]:
        raise _oauth_error(400, "invalid_request", "Missing or unregistered redirect_uri")
    if q.get("response_type") != "code":
        raise _oauth_error(400, "unsupported_response_type", "response_type must be code")
    state = q.get("state")
    if not state:
        raise _oauth_error(400, "invalid_request", "Missing state parameter")
    challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
    if challenge and method != "S256":
        raise _oauth_error(400, "invalid_request", "code_challenge_method must be S256")
    return AuthorizeRequest(
        client=client,
        redirect_uri=redirect,
        state=state,
        scope=q.get("scope") or "openid profile email",
        code_challenge=challenge or None,
    )


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def grant_url(store: Store, req: AuthorizeRequest, email: str) -> str:
    """Issue a single-use code for ``email``; the redirect back with ``code`` and ``state``."""
    store.ensure_user(email)
    code = "code_" + new_hex(16)
    store.t["oauth_codes"][code] = {
        "clientId": req.client["clientId"],
        "redirectUri": req.redirect_uri,
        "email": email.lower(),
        "scope": req.scope,
        "challenge": req.code_challenge,
        "expires": store.clock.now() + CODE_TTL,
    }
    return _with_query(req.redirect_uri, {"code": code, "state": req.state})


def deny_url(req: AuthorizeRequest) -> str:
    """The redirect back after the user denied access."""
    return _with_query(req.redirect_uri, {"error": "access_denied", "state": req.state})


class RootApi:
    """OAuth and developer-token endpoints over one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        fidelity: Fidelity = "documented",
        development_mode: bool = True,
        consent: ConsentPage | None = None,
    ) -> None:
        self.store = store
        self.fidelity: Fidelity = fidelity
        self.development_mode = development_mode  # documented: HTTP webhook URLs allowed in dev
        self.consent = consent  # renders the sign-in and consent page (testing/_pages.py)

    def routes(self) -> list[web.RouteDef]:
        """Route table for ``aiohttp.web``."""
        w = self._wrap
        return [
            web.get("/api/oauth/authorize", w(self.authorize)),
            web.post("/api/oauth/token", w(self.token)),
            web.get("/api/oauth/userinfo", w(self.userinfo)),
            web.post("/api/developer/webhooks", w(self.create_webhook)),
            web.get("/api/developer/webhooks", w(self.list_webhooks)),
            web.get("/api/developer/webhooks/{id}", w(self.get_webhook)),
            web.put("/api/developer/webhooks/{id}", w(self.update_webhook)),
            web.patch("/api/developer/webhooks/{id}", w(self.update_webhook)),
            web.delete("/api/developer/webhooks/{id}", w(self.delete_webhook)),
            web.post("/api/developer/webhooks/{id}/regenerate-secret", w(self.regenerate)),
            web.get("/developer/signature", w(self.get_signature)),
            web.put("/developer/signature", w(self.put_signature)),
        ]

    def _wrap(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as exc:
                return json_response(exc.body, exc.status, exc.headers)

        return run

    # -- OAuth ---------------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """Validate (JSON errors as documented), then show the consent page.

        Test hooks (INF, emulator only) skip the page: ``emulator_user=<email>`` signs in
        as that user and consents; ``emulator_deny=1`` simulates a denial. Without a
        consent page (``consent=None``) the client's default user consents at once.
        """
        q = request.query
        req = check_authorize(self.store, q)
        if q.get("emulator_deny") == "1":
            raise web.HTTPFound(deny_url(req))
        if self.consent is None or q.get("emulator_user"):
            email = q.get("emulator_user") or req.client["defaultUser"]
            raise web.HTTPFound(grant_url(self.store, req, email))
        return await self.consent(request, req)

    async def token(self, request: web.Request) -> web.StreamResponse:
        """Exchange a code; JSON body as documented, form bodies also accepted (INF)."""
        if request.content_type == "application/x-www-form-urlencoded":
            body: Any = dict(await request.post())
        else:
            body = await read_json(request)
        if not isinstance(body, dict):
            raise _oauth_error(400, "invalid_request", "Missing request body")
        if body.get("grant_type") != "authorization_code":
            raise _oauth_error(
                400, "unsupported_grant_type", "Only 'authorization_code' grant type is supported"
            )
        client = self.store.t["oauth_clients"].get(str(body.get("client_id", "")))
        if client is None or not hmac.compare_digest(
            str(body.get("client_secret", "")), client["clientSecret"]
        ):
            raise _oauth_error(401, "invalid_client", "Invalid client credentials")
        code = self.store.t["oauth_codes"].pop(str(body.get("code", "")), None)
        if code is None or code["expires"] <= self.store.clock.now():
            raise _oauth_error(400, "invalid_grant", "Invalid or expired authorization code")
        if code["clientId"] != client["clientId"] or code["redirectUri"] != body.get(
            "redirect_uri"
        ):
            raise _oauth_error(400, "invalid_grant", "redirect_uri or client_id mismatch")
        if code["challenge"]:
            verifier = str(body.get("code_verifier", ""))
            digest = _b64url(hashlib.sha256(verifier.encode()).digest())
            if not verifier or not hmac.compare_digest(digest, code["challenge"]):
                raise _oauth_error(400, "invalid_grant", "Invalid code_verifier")
        now = self.store.clock.now()
        access = "at_" + new_hex(24)
        self.store.t["oauth_tokens"][access] = {
            "email": code["email"],
            "scope": code["scope"],
            "expires": now + TOKEN_TTL,
        }
        out: JsonDict = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_TTL),
            "scope": code["scope"],
        }
        if "openid" in code["scope"].split():
            claims = {
                "iss": "https://sandbox.dhmad.tn",
                "aud": client["clientId"],
                "iat": int(now),
                "exp": int(now + TOKEN_TTL),
                **self._claims(code["email"], code["scope"]),
            }
            out["id_token"] = _jwt(claims, client["clientSecret"])
        return json_response(out)

    def _claims(self, email: str, scope: str) -> JsonDict:
        user = self.store.ensure_user(email)
        scopes = scope.split()
        kyc = user["kycStatus"]
        out: JsonDict = {"sub": user["_id"], "kyc_verified": kyc == "approved", "kyc_status": kyc}
        if "profile" in scopes:
            out.update(
                name=f"{user['firstName']} {user['lastName']}",
                given_name=user["firstName"],
                family_name=user["lastName"],
                preferred_username=user["email"],
            )
        if "email" in scopes:
            out.update(email=user["email"], email_verified=True)
        if "phone" in scopes:
            out.update(phone_number=user["phone"], phone_number_verified=True)
        return out

    async def userinfo(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/oauth/userinfo``."""
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            raise _oauth_error(401, "invalid_token", "Missing or invalid access token")
        tok = self.store.t["oauth_tokens"].get(auth[7:].strip())
        if tok is None or tok["expires"] <= self.store.clock.now():
            raise _oauth_error(401, "invalid_token", "Invalid or expired access token")
        return json_response(self._claims(tok["email"], tok["scope"]))

    # -- developer webhooks -----------------------------------------------------------

    def _developer(self, request: web.Request) -> JsonDict:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        return self.store.developer_by_token(token)

    def _own_hook(self, request: web.Request) -> JsonDict:
        dev = self._developer(request)
        hook = self.store.t["webhooks"].get(request.match_info["id"])
        if hook is None or hook["developerId"] != dev["id"]:
            raise ApiError(404, {"error": "Not Found", "message": "Webhook not found"})
        return hook

    @staticmethod
    def _hook_view(hook: JsonDict, *, with_secret: bool = False) -> JsonDict:
        keys = ["id", "url", "events", "isActive", "createdAt", "updatedAt"]
        out = {k: hook[k] for k in keys}
        if with_secret:
            out["secret"] = hook["secret"]  # only on create/regenerate
        return out

    def _check_fields(self, body: JsonDict, details: dict[str, str]) -> None:
        if "url" in body:
            url = body["url"]
            parts = urlsplit(url) if isinstance(url, str) else None
            ok_scheme = parts is not None and (
                parts.scheme == "https" or (self.development_mode and parts.scheme == "http")
            )
            if parts is None or not ok_scheme or not parts.netloc:
                details["url"] = "url must be a valid HTTPS URL"
        if "events" in body:
            events = body["events"]
            if (
                not isinstance(events, list)
                or not events
                or any(e not in WEBHOOK_EVENTS for e in events)
            ):
                details["events"] = "events must be a non-empty list of supported events"
        if "isActive" in body and not isinstance(body["isActive"], bool):
            details["isActive"] = "isActive must be a boolean"

    async def create_webhook(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/developer/webhooks`` → 201, at most two per developer."""
        dev = self._developer(request)
        body = await read_json(request)
        if not isinstance(body, dict) or "url" not in body:
            raise bad_request("Invalid request parameters", {"url": "url is required"})
        details: dict[str, str] = {}
        self._check_fields(body, details)
        if details:
            raise bad_request("Invalid request parameters", details)
        if sum(h["developerId"] == dev["id"] for h in self.store.t["webhooks"].values()) >= (
            MAX_WEBHOOKS
        ):
            raise ApiError(
                400,
                {
                    "error": "Webhook Limit Reached",
                    "message": f"You can register at most {MAX_WEBHOOKS} webhooks.",
                },
            )
        now = self.store.now_iso()
        hook = {
            "id": new_object_id(),
            "developerId": dev["id"],
            "url": body["url"],
            "secret": new_hex(32),
            "events": list(body.get("events") or ["escrow.status.updated"]),
            "isActive": True,
            "createdAt": now,
            "updatedAt": now,
        }
        self.store.t["webhooks"][hook["id"]] = hook
        self.store.save()
        body = {
            "message": "Webhook created successfully",
            "webhook": self._hook_view(hook, with_secret=True),
        }
        return json_response(shape("webhooks.create", body, fidelity=self.fidelity), 201)

    async def list_webhooks(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/developer/webhooks`` → ``{"webhooks": [...]}`` (INF shape)."""
        dev = self._developer(request)
        hooks = [
            self._hook_view(h)
            for h in self.store.t["webhooks"].values()
            if h["developerId"] == dev["id"]
        ]
        return json_response({"webhooks": hooks})

    async def get_webhook(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/developer/webhooks/:id`` → ``{"webhook": ...}`` (INF shape)."""
        return json_response({"webhook": self._hook_view(self._own_hook(request))})

    async def update_webhook(self, request: web.Request) -> web.StreamResponse:
        """PUT or PATCH (which is not documented): optional ``url``, ``events``, ``isActive``."""
        hook = self._own_hook(request)
        body = await read_json(request)
        if not isinstance(body, dict) or not {"url", "events", "isActive"} & set(body):
            raise bad_request("No valid fields to update")
        details: dict[str, str] = {}
        self._check_fields(body, details)
        if details:
            raise bad_request("Invalid request parameters", details)
        for key in ("url", "events", "isActive"):
            if key in body:
                hook[key] = body[key]
        hook["updatedAt"] = self.store.now_iso()
        self.store.save()
        return json_response(
            {"message": "Webhook updated successfully", "webhook": self._hook_view(hook)}
        )

    async def delete_webhook(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /api/developer/webhooks/:id`` (permanent)."""
        hook = self._own_hook(request)
        del self.store.t["webhooks"][hook["id"]]
        self.store.save()
        return json_response({"message": "Webhook deleted successfully"})

    async def regenerate(self, request: web.Request) -> web.StreamResponse:
        """``POST …/:id/regenerate-secret``: the old secret stops working immediately."""
        hook = self._own_hook(request)
        hook["secret"] = new_hex(32)
        hook["updatedAt"] = self.store.now_iso()
        self.store.save()
        return json_response(
            {
                "message": "Webhook secret regenerated successfully",
                "webhook": self._hook_view(hook, with_secret=True),
            }
        )

    # -- signature --------------------------------------------------------------------

    async def get_signature(self, request: web.Request) -> web.StreamResponse:
        """``GET /developer/signature``."""
        return json_response({"hasSignature": self._developer(request)["hasSignature"]})

    async def put_signature(self, request: web.Request) -> web.StreamResponse:
        """``PUT /developer/signature`` with a data-URI image."""
        dev = self._developer(request)
        body = await read_json(request)
        image = body.get("signatureImage") if isinstance(body, dict) else None
        if not isinstance(image, str) or not image.startswith(
            (
                "data:image/png;",
                "data:image/jpeg;",
                "data:image/jpg;",
                "data:image/gif;",
                "data:image/webp;",
            )
        ):
            raise ApiError(
                400,
                {
                    "error": "Invalid Signature Format",
                    "message": "signatureImage must be an image data URI",
                },
            )
        dev["hasSignature"] = True
        self.store.save()
        return json_response({"message": "Signature updated successfully", "hasSignature": True})


def new_oauth_client(store: Store, default_user: str, redirect_uris: tuple[str, ...]) -> JsonDict:
    """Register an OAuth client (dashboard-only in the real service)."""
    client: JsonDict = {
        "clientId": "dhmad_client_" + new_hex(8),
        "clientSecret": new_hex(24),
        "redirectUris": list(redirect_uris),
        "defaultUser": default_user,
        "createdAt": iso(time.time()),
    }
    store.t["oauth_clients"][client["clientId"]] = client
    return client
