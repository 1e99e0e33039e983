"""Hosted pages of the emulator: checkout sessions and the OAuth sign-in/consent screen.

Serves HTML (aiohttp.web). These are the pages DHMAD hosts on dhmad.tn, rebuilt
plainly on 127.0.0.1 so that a browser test can follow a session's ``url``
without leaving the machine. Submitting a checkout form runs the very same code
as the control API (``Emulator.complete_session``): same rules, same webhooks.

Redirects back to the shop (INF where the docs are silent, see docs/emulator.md):

- action done: ``status=completed`` (the one value the docs show);
- the user cancels: ``status=cancelled``, and the session can no longer be used;
- the session expired: ``status=expired``;
- ``session_id=<id>`` is added only with ``PageOptions(redirect_session_id=True)``.
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from aiohttp import BodyPartReader, web

from dhmad_async.testing._common import ApiError
from dhmad_async.testing._html import (
    CSRF_FIELD,
    STYLESHEET_PATH,
    CsrfGuard,
    Safe,
    badge,
    css_response,
    html_response,
    join,
    money,
    page,
    render,
)
from dhmad_async.testing._routes_root import (
    AuthorizeRequest,
    check_authorize,
    deny_url,
    grant_url,
)
from dhmad_async.testing._routes_v1 import json_response
from dhmad_async.testing._sessions import _check_rules, session_status, tick
from dhmad_async.testing._state import Store

__all__ = ["HostedPages", "PageOptions", "redirect_back"]

JsonDict = dict[str, Any]
_MAX_NOTE = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_FIELD = 10_000


@attrs.frozen
class PageOptions:
    """How the hosted pages behave where the docs are silent.

    ``redirect_session_id`` adds ``session_id=<id>`` to the redirect back to the shop
    (INF: the docs only show ``status=completed``, so the default leaves it out and an
    integration must not rely on it). ``max_upload_bytes`` bounds a proof upload.
    """

    redirect_session_id: bool = False
    max_upload_bytes: int = 10 * 1024 * 1024


class _Completer(Protocol):
    async def __call__(
        self, session_id: str, *, outcome: str = "accept", note: str | None = None
    ) -> JsonDict: ...


@attrs.frozen
class _Upload:
    filename: str
    content_type: str
    size: int
    too_large: bool


@attrs.frozen
class _Button:
    choice: str  # "accept" or "reject": the outcome passed to complete_session
    label: str
    style: str = ""  # "", "danger" or "secondary"


# Per action: heading, what the page says, and its buttons.
_ACTIONS: dict[str, tuple[str, str, tuple[_Button, ...]]] = {
    "sign_contract": (
        "Sign the contract",
        "Read the contract terms above. Signing is final; both parties sign before payment.",
        (_Button("accept", "Sign contract"),),
    ),
    "accept_pay": (
        "Accept and pay",
        "The amount is held in escrow and released to the seller only when you confirm "
        "delivery. In the sandbox the payment is simulated.",
        (_Button("accept", "Accept & pay"),),
    ),
    "complete": (
        "Confirm delivery",
        "Confirm that you received what you paid for. The funds are then released to the "
        "seller; this cannot be undone.",
        (_Button("accept", "Confirm delivery & release funds"),),
    ),
    "dispute": (
        "Open a dispute",
        "DHMAD support reviews disputes. The escrow keeps its status while the dispute is open.",
        (_Button("accept", "Open dispute", "danger"),),
    ),
    "request_cancellation": (
        "Request cancellation",
        "The seller is asked to accept or reject your request. Nothing changes until then.",
        (_Button("accept", "Request cancellation", "danger"),),
    ),
    "accept_cancellation": (
        "Answer the cancellation request",
        "Accepting cancels the escrow and refunds the buyer; rejecting keeps it going.",
        (
            _Button("accept", "Accept cancellation & refund buyer", "danger"),
            _Button("reject", "Reject cancellation", "secondary"),
        ),
    ),
    "reject_cancellation": (
        "Reject the cancellation request",
        "The escrow keeps going; the buyer is told that you rejected the request.",
        (_Button("reject", "Reject cancellation"),),
    ),
    "cancel_escrow": (
        "Cancel the escrow",
        "The escrow is cancelled at once and the buyer is refunded.",
        (_Button("accept", "Cancel escrow & refund buyer", "danger"),),
    ),
    "submit_proof": (
        "Upload purchase proof",
        "Upload a receipt, an order confirmation, a tracking proof or a product photo. "
        "The buyer then reviews it.",
        (_Button("accept", "Upload proof"),),
    ),
    "review_proof": (
        "Review the purchase proof",
        "Accept the seller's proof, or ask for corrections.",
        (
            _Button("accept", "Accept proof"),
            _Button("reject", "Request corrections", "secondary"),
        ),
    ),
}
_MODES = {
    "standard": "Standard: contract signed by both parties, then payment, delivery, completion",
    "quick": "Quick: no contract; payment, delivery, completion",
    "instant": "Instant: payment, then delivery completes it at once",
}
_SCOPES = {
    "openid": "Sign you in with your DHMAD account",
    "profile": "Your name",
    "email": "Your e-mail address",
    "phone": "Your phone number",
}


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    return f"{n / 1024:g} KB" if n >= 1024 else f"{n} bytes"


def redirect_back(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (ours replace same-named ones)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _message(title: str, text: str, status: int) -> web.Response:
    body = render('<div class="card"><h1>$title</h1><p>$text</p></div>', title=title, text=text)
    return html_response(page(title, body), status)


class HostedPages:
    """The checkout and consent pages over one :class:`Store`."""

    def __init__(
        self, store: Store, csrf: CsrfGuard, options: PageOptions, complete: _Completer
    ) -> None:
        self.store = store
        self.csrf = csrf
        self.options = options
        self.complete = complete

    def routes(self) -> list[web.RouteDef]:
        """Route table for ``aiohttp.web``."""
        return [
            web.get("/checkout/{id}", self.checkout_page),
            web.post("/checkout/{id}", self.checkout_submit),
            web.post("/api/oauth/authorize", self.consent_submit),
            web.get(STYLESHEET_PATH, self.stylesheet),
        ]

    async def stylesheet(self, request: web.Request) -> web.Response:
        """The pages' one stylesheet."""
        return css_response()

    # -- checkout ------------------------------------------------------------------------

    def _session(self, request: web.Request) -> tuple[JsonDict, JsonDict] | None:
        sess = self.store.t["sessions"].get(request.match_info["id"])
        if sess is None:
            return None
        esc = self.store.t["escrows"].get(sess["escrowId"])
        return None if esc is None else (sess, esc)

    @staticmethod
    def _purpose(sess: JsonDict) -> str:
        return "checkout:" + str(sess["sessionId"])

    def _back(self, sess: JsonDict, status: str) -> web.HTTPSeeOther:
        params = {"status": status}
        if self.options.redirect_session_id:
            params["session_id"] = str(sess["sessionId"])
        return web.HTTPSeeOther(redirect_back(str(sess["redirectUrl"]), params))

    async def checkout_page(self, request: web.Request) -> web.Response:
        """``GET /checkout/{sessionId}``: the escrow and the buttons of the session's action."""
        found = self._session(request)
        if found is None:
            return _message("Checkout session not found", "This link is not valid.", 404)
        sess, esc = found
        tick(self.store)
        return self._render_checkout(request, sess, esc)

    def _render_checkout(
        self,
        request: web.Request,
        sess: JsonDict,
        esc: JsonDict,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> web.Response:
        browser = self.csrf.browser_id(request)
        token = self.csrf.token(browser, self._purpose(sess))
        state = session_status(self.store, sess)
        shop = urlsplit(str(sess["redirectUrl"])).netloc or "the shop"
        if state == "expired":
            panel = render(
                '<div class="card"><h2>This checkout session has expired</h2>'
                "<p>Ask the shop for a new link.</p>$back</div>",
                back=self._leave_form(token, f"Return to {shop}", "leave", "secondary"),
            )
        elif state != "pending":
            response = _message(
                "This checkout session was already used",
                f"It is {state}. Each checkout link works once; ask the shop for a new one.",
                410,
            )
            self.csrf.remember(response, browser)
            return response
        else:
            problem = error
            if problem is None:
                try:
                    _check_rules(self.store, esc, sess["action"], sess["targetUserEmail"])
                except ApiError as exc:
                    problem = _user_message(exc)
            panel = self._action_panel(sess, esc, token, problem, shop)
        body = join([self._summary(sess, esc), panel])
        response = html_response(page(str(esc["title"]), body), status)
        self.csrf.remember(response, browser)
        return response

    def _leave_form(self, token: str, label: str, choice: str, style: str) -> Safe:
        return render(
            '<form method="post" class="actions">'
            '<input type="hidden" name="$field" value="$token">'
            '<button type="submit" name="choice" value="$choice" class="$style">$label</button>'
            "</form>",
            field=CSRF_FIELD,
            token=token,
            choice=choice,
            style=style,
            label=label,
        )

    def _summary(self, sess: JsonDict, esc: JsonDict) -> Safe:
        role = self.store.role_of(esc, sess["targetUserEmail"]) or "not a party"
        amount = money(esc["amount"], esc["currency"])
        tnd = (
            render(' <span class="muted">(≈ $v)</span>', v=money(esc["amountTnd"]))
            if esc["currency"] != "TND"
            else ""
        )
        facts = [
            ("Status", badge(esc["status"])),
            ("Mode", _MODES.get(str(esc["mode"]), str(esc["mode"]))),
            ("Seller", self._party(esc["sellerEmail"])),
            ("Buyer", self._party(esc["buyerEmail"])),
            ("Platform fee", money(esc["escrowFee"])),
            ("Delivery", f"estimated {esc['estimatedDeliveryDays']} day(s)"),
            ("Escrow", render("<code>$id</code>", id=esc["id"])),
            ("Link expires", sess["expiresAt"]),
        ]
        if esc.get("description"):
            facts.insert(2, ("Description", esc["description"]))
        if esc["deliveredAt"]:
            facts.append(("Delivered", esc["deliveredAt"]))
        if esc["disputeTicket"] is not None:
            ticket = esc["disputeTicket"]
            facts.append(("Dispute", join([badge("open", "dispute"), " ", ticket["ticketNumber"]])))
        rows = join(render("<dt>$k</dt><dd>$v</dd>", k=k, v=v) for k, v in facts)
        contract = Safe("")
        if esc["mode"] == "standard":
            terms = self.store.t["contracts"].get(esc["id"], {}).get("terms", "")
            sigs = esc["signatures"] or {}
            signed = join(
                [
                    badge(
                        f"seller {'signed' if sigs.get('sellerSigned') else 'not signed'}",
                        "ok" if sigs.get("sellerSigned") else "pending",
                    ),
                    " ",
                    badge(
                        f"buyer {'signed' if sigs.get('buyerSigned') else 'not signed'}",
                        "ok" if sigs.get("buyerSigned") else "pending",
                    ),
                ]
            )
            contract = render(
                '<h3>Contract terms</h3><div class="terms" id="contract-terms">$terms</div>'
                "<p>$signed</p>",
                terms=terms,
                signed=signed,
            )
        return render(
            '<div class="card"><p class="brand">DHMAD</p>'
            '<h1 id="escrow-title">$title</h1>'
            '<p class="muted">Requested by $app · signed in as <b>$who</b> ($role)</p>'
            '<p class="amount">$amount$tnd</p><dl class="facts">$rows</dl>$contract</div>',
            title=esc["title"],
            app=esc.get("createdByApplicationName") or "a DHMAD integration",
            who=sess["targetUserEmail"],
            role=role,
            amount=amount,
            tnd=tnd,
            rows=rows,
            contract=contract,
        )

    def _party(self, email: str | None) -> Safe:
        user = self.store.user(email)
        if user is None:
            return render(
                '$email <span class="muted">(invited, no account yet)</span>', email=email
            )
        return render(
            "$first $last &lt;$email&gt;",
            first=user["firstName"],
            last=user["lastName"],
            email=user["email"],
        )

    def _action_panel(
        self, sess: JsonDict, esc: JsonDict, token: str, problem: str | None, shop: str
    ) -> Safe:
        action = str(sess["action"])
        heading, text, buttons = _ACTIONS[action]
        leave = self._leave_form(token, f"Cancel and return to {shop}", "cancel", "secondary")
        if problem is not None:
            return render(
                '<div class="card"><h2>$heading</h2><div class="error" role="alert">$problem'
                "</div>$leave</div>",
                heading=heading,
                problem=problem,
                leave=leave,
            )
        if action == "accept_pay":
            buttons = (_Button("accept", f"Accept & pay {money(esc['amount'], esc['currency'])}"),)
        inputs = self._inputs(action, esc)
        multipart = action == "submit_proof"
        button_html = join(
            render(
                '<button type="submit" name="choice" value="$choice" class="$style">'
                "$label</button>",
                choice=b.choice,
                style=b.style,
                label=b.label,
            )
            for b in buttons
        )
        return render(
            '<div class="card"><h2>$heading</h2><p>$text</p>'
            '<form method="post" class="stack" id="action-form"$enctype>'
            '<input type="hidden" name="$field" value="$token">$inputs'
            '<div class="actions">$buttons</div></form>$leave</div>',
            heading=heading,
            text=text,
            enctype=Safe(' enctype="multipart/form-data"') if multipart else "",
            field=CSRF_FIELD,
            token=token,
            inputs=inputs,
            buttons=button_html,
            leave=leave,
        )

    def _inputs(self, action: str, esc: JsonDict) -> Safe:
        if action == "sign_contract":
            return Safe(
                '<label><input type="checkbox" name="agree" value="yes" required> '
                "I have read the contract terms and accept them</label>"
            )
        if action == "dispute":
            return Safe(
                '<label for="note">What went wrong?</label>'
                '<textarea id="note" name="note" maxlength="2000" required></textarea>'
            )
        if action == "request_cancellation":
            return Safe(
                '<label for="note">Reason (optional, shown to the seller)</label>'
                '<textarea id="note" name="note" maxlength="2000"></textarea>'
            )
        if action in ("accept_cancellation", "reject_cancellation"):
            request = esc["cancellationRequest"] or {}
            return render(
                '<div class="notice">The buyer asked to cancel on $at. Reason: $reason</div>',
                at=request.get("requestedAt") or "?",
                reason=request.get("reason") or "(none given)",
            )
        if action == "submit_proof":
            policy = esc["fulfillmentPolicy"] or {}
            kinds = ", ".join(policy.get("allowedProofTypes") or []) or "any"
            return render(
                '<label for="proof">Proof file (image or PDF, at most $size)</label>'
                '<input id="proof" type="file" name="proof" accept="image/*,application/pdf" '
                "required>"
                '<p class="muted">Suggested kinds: $kinds. The emulator checks the file but '
                "does not keep it.</p>"
                '<label for="note">Note for the buyer (optional)</label>'
                '<textarea id="note" name="note" maxlength="2000"></textarea>',
                size=_size(self.options.max_upload_bytes),
                kinds=kinds,
            )
        if action == "review_proof":
            proof = esc["proofInfo"] or {}
            latest = (proof.get("submissions") or [{}])[-1]
            files = join(
                render("<li><code>$t</code> $u</li>", t=a.get("mimeType"), u=a.get("viewUrl"))
                for a in latest.get("attachments") or []
            )
            return render(
                '<div class="notice"><p>Submitted $at · note: $note</p><ul>$files</ul>'
                "<p>Review deadline: $deadline</p></div>"
                '<label for="note">Corrections needed (when you request corrections)</label>'
                '<textarea id="note" name="note" maxlength="2000"></textarea>',
                at=latest.get("submittedAt") or "?",
                note=latest.get("note") or "(none)",
                files=files,
                deadline=proof.get("reviewDeadline") or "?",
            )
        return Safe("")

    async def checkout_submit(self, request: web.Request) -> web.StreamResponse:
        """``POST /checkout/{sessionId}``: apply the action (or cancel), then back to the shop."""
        found = self._session(request)
        if found is None:
            return _message("Checkout session not found", "This link is not valid.", 404)
        sess, esc = found
        fields, uploads = await self._read_form(request)
        if not self.csrf.check(request, fields.get(CSRF_FIELD), self._purpose(sess)):
            return _message(
                "Form refused",
                "This form did not come from this checkout page (missing or wrong security "
                "token). Reload the page and try again.",
                403,
            )
        tick(self.store)
        state = session_status(self.store, sess)
        if state == "expired":
            raise self._back(sess, "expired")
        if state != "pending":
            return _message(
                "This checkout session was already used",
                f"It is {state}; nothing was changed.",
                409,
            )
        choice = fields.get("choice")
        if choice == "cancel":
            sess["status"] = "cancelled"  # INF: single use, so leaving uses it up
            self.store.save()
            raise self._back(sess, "cancelled")
        action = str(sess["action"])
        if choice not in {b.choice for b in _ACTIONS[action][2]}:
            return self._render_checkout(
                request, sess, esc, error="Choose one of the buttons.", status=400
            )
        note = fields.get("note", "").strip() or None
        error = self._input_error(action, fields, uploads, note)
        if error is not None:
            return self._render_checkout(request, sess, esc, error=error, status=400)
        try:
            await self.complete(str(sess["sessionId"]), outcome=choice, note=note)
        except ApiError as exc:
            return self._render_checkout(request, sess, esc, error=_user_message(exc), status=409)
        raise self._back(sess, "completed")

    def _input_error(
        self, action: str, fields: dict[str, str], uploads: list[_Upload], note: str | None
    ) -> str | None:
        if note is not None and len(note) > _MAX_NOTE:
            return f"The text must be at most {_MAX_NOTE} characters."
        if action == "sign_contract" and fields.get("agree") != "yes":
            return "Tick the box to confirm that you accept the contract terms."
        if action == "dispute" and note is None:
            return "Say what went wrong: a dispute needs a reason."
        if action == "submit_proof":
            proof = next((u for u in uploads if u.size > 0), None)
            if proof is None:
                return "Choose a proof file to upload."
            if proof.too_large:
                return f"The proof file must be at most {_size(self.options.max_upload_bytes)}."
            if not (
                proof.content_type.startswith("image/") or proof.content_type == "application/pdf"
            ):
                return "The proof must be an image or a PDF."
        return None

    async def _read_form(self, request: web.Request) -> tuple[dict[str, str], list[_Upload]]:
        """Form fields (text) and uploaded files (measured, then dropped)."""
        fields: dict[str, str] = {}
        uploads: list[_Upload] = []
        if not request.content_type.startswith("multipart/"):
            data = await request.post()
            for key, value in data.items():
                if isinstance(value, str):
                    fields[key] = value[:_MAX_FIELD]
            return fields, uploads
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: no form of ours sends one
            if part.filename:
                size, limit = 0, self.options.max_upload_bytes
                while size <= limit:
                    chunk = await part.read_chunk(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                uploads.append(
                    _Upload(
                        part.filename,
                        part.headers.get("Content-Type", "application/octet-stream"),
                        size,
                        size > limit,
                    )
                )
                if size > limit:
                    break  # stop reading a too-large upload; the answer says why
            elif part.name:
                fields[part.name] = (await part.text())[:_MAX_FIELD]
        return fields, uploads

    # -- OAuth consent -------------------------------------------------------------------

    @staticmethod
    def _consent_purpose(req: AuthorizeRequest) -> str:
        return "authorize:" + "\x00".join(
            (str(req.client["clientId"]), req.redirect_uri, req.state)
        )

    async def consent_page(self, request: web.Request, req: AuthorizeRequest) -> web.Response:
        """The sign-in and consent screen for a valid authorize request."""
        return self._render_consent(request, req)

    def _render_consent(
        self, request: web.Request, req: AuthorizeRequest, *, error: str | None = None
    ) -> web.Response:
        browser = self.csrf.browser_id(request)
        token = self.csrf.token(browser, self._consent_purpose(req))
        default = str(req.client["defaultUser"]).lower()
        app = next(
            (
                d["applicationName"]
                for d in self.store.t["developers"].values()
                if d["userEmail"] == default
            ),
            "Emulator App",
        )
        choices = join(
            render(
                '<label><input type="radio" name="user" value="$email"$checked> '
                "<span>$who</span></label>",
                email=email,
                checked=Safe(" checked") if email == default else "",
                who=self._who(email),
            )
            for email in self._known_users()
        )
        scopes = join(
            render("<li>$text <code>$scope</code></li>", text=_SCOPES.get(s, s), scope=s)
            for s in req.scope.split()
        )
        hidden = join(
            render('<input type="hidden" name="$k" value="$v">', k=k, v=v)
            for k, v in req.form_fields().items()
        )
        body = render(
            '<div class="card"><p class="brand">DHMAD</p><h1>Sign in with DHMAD</h1>'
            "<p><b>$app</b> wants to use your DHMAD account.</p>$error"
            '<form method="post" action="/api/oauth/authorize" class="stack" id="consent-form">'
            '<input type="hidden" name="$field" value="$token">$hidden'
            '<h3>Sign in as</h3><div class="users">$choices</div>'
            '<label for="other_user">or another e-mail (the emulator registers it)</label>'
            '<input id="other_user" type="text" name="other_user" autocomplete="off">'
            '<h3>$app will get</h3><ul class="scopes">$scopes</ul>'
            '<p class="muted">You will be sent back to <code>$back</code>.</p>'
            '<div class="actions">'
            '<button type="submit" name="decision" value="approve">Approve</button>'
            '<button type="submit" name="decision" value="deny" class="secondary" formnovalidate>'
            "Deny</button></div></form></div>",
            app=app,
            error=render('<div class="error" role="alert">$e</div>', e=error) if error else "",
            field=CSRF_FIELD,
            token=token,
            hidden=hidden,
            choices=choices,
            scopes=scopes,
            back=urlsplit(req.redirect_uri)._replace(query="", fragment="").geturl(),
        )
        response = html_response(page("Sign in with DHMAD", body), 400 if error else 200)
        self.csrf.remember(response, browser)
        return response

    async def consent_submit(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/oauth/authorize``: approve (code + state) or deny (access_denied)."""
        data = await request.post()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        try:
            req = check_authorize(self.store, fields)
        except ApiError as exc:
            return json_response(exc.body, exc.status, exc.headers)
        if not self.csrf.check(request, fields.get(CSRF_FIELD), self._consent_purpose(req)):
            return _message(
                "Form refused",
                "This form did not come from the DHMAD sign-in page (missing or wrong "
                "security token).",
                403,
            )
        decision = fields.get("decision")
        if decision == "deny":
            raise web.HTTPSeeOther(deny_url(req))
        email = (fields.get("other_user", "").strip() or fields.get("user", "")).strip().lower()
        if decision != "approve" or not (
            email in self._known_users() or _EMAIL.match(fields.get("other_user", "").strip())
        ):
            return self._render_consent(
                request, req, error="Pick the user to sign in as, or type a valid e-mail."
            )
        raise web.HTTPSeeOther(grant_url(self.store, req, email))

    def _known_users(self) -> list[str]:
        """Registered users and every escrow party (invitees register when they sign in)."""
        emails = set(self.store.t["users"])
        for esc in self.store.t["escrows"].values():
            emails.update(e for e in (esc["buyerEmail"], esc["sellerEmail"]) if e)
        return sorted(emails)

    def _who(self, email: str) -> Safe:
        user = self.store.user(email)
        if user is None:
            return render('<b>$email</b> <span class="muted">no account yet</span>', email=email)
        return render(
            '<b>$first $last</b> · $email <span class="muted">KYC: $kyc</span>',
            first=user["firstName"],
            last=user["lastName"],
            email=email,
            kyc=user["kycStatus"] or "not verified",
        )


def _user_message(exc: ApiError) -> str:
    """What a person should read for a refused action (the business error's user_message)."""
    error = exc.body.get("error")
    if isinstance(error, dict):
        return str(error.get("user_message") or error.get("message") or "This is not possible.")
    return str(exc.body.get("message") or error or "This is not possible.")
