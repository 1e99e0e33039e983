"""HTML for the emulator's pages: escaping templates, the page frame, CSRF tokens. No I/O.

No template engine: ``render`` fills a ``string.Template`` and escapes every value
with ``html.escape`` unless it is already :class:`Safe` (built by this module).
Pages load one stylesheet from the emulator itself and no script at all; the
Content-Security-Policy header says so to the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import string
from collections.abc import Iterable
from decimal import Decimal

from aiohttp import web

__all__ = [
    "CSRF_FIELD",
    "SECURITY_HEADERS",
    "STYLESHEET_PATH",
    "CsrfGuard",
    "Safe",
    "badge",
    "css_response",
    "join",
    "money",
    "page",
    "render",
]

STYLESHEET_PATH = "/__emulator__/static/emulator.css"
CSRF_FIELD = "csrf_token"
_CSRF_COOKIE = "dhmad_emulator_browser"
_BROWSER_ID = re.compile(r"^[0-9a-f]{32}$")

# Everything from 'self' (the emulator), no scripts, no frames. form-action is left
# out on purpose: Chromium applies it to the redirect that follows a form POST, and
# the checkout forms must redirect to the shop's redirectUrl.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Safe(str):
    """Markup that is already escaped (or written by this package); ``render`` keeps it."""

    __slots__ = ()


def escape(value: object) -> Safe:
    """``value`` as HTML text: ``Safe`` stays, ``None`` is empty, anything else is escaped."""
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    return Safe(html.escape(str(value), quote=True))


def render(template: str, **values: object) -> Safe:
    """Fill ``$name`` placeholders of ``template`` with escaped ``values``."""
    return Safe(string.Template(template).substitute({k: escape(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "") -> Safe:
    """Concatenate escaped parts."""
    return Safe(sep.join(escape(p) for p in parts))


def money(amount: object, currency: object = "TND") -> str:
    """``1500.5`` → ``1,500.500 TND`` (TND has three decimals; other currencies two)."""
    try:
        value = Decimal(str(amount))
    except ArithmeticError:
        return f"{amount} {currency}"
    places = 3 if currency == "TND" else 2
    return f"{value:,.{places}f} {currency}"


def badge(text: object, kind: object = None) -> Safe:
    """A small coloured label; ``kind`` picks the colour class (defaults to ``text``)."""
    cls = re.sub(r"[^a-z0-9_-]", "", str(kind if kind is not None else text).lower())
    return render('<span class="badge badge-$cls">$text</span>', cls=cls, text=text)


def page(title: str, body: Safe, *, refresh: int | None = None, wide: bool = False) -> Safe:
    """A whole HTML document with the sandbox banner around ``body``."""
    meta = render('<meta http-equiv="refresh" content="$s">', s=refresh) if refresh else ""
    return render(
        """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · DHMAD emulator</title>
<link rel="stylesheet" href="$css">
<link rel="icon" href="data:,">
$meta
</head>
<body>
<div class="banner">Sandbox environment · DHMAD emulator on this machine · no real money</div>
<main class="$width">
$body
</main>
</body>
</html>
""",
        title=title,
        css=STYLESHEET_PATH,
        meta=meta,
        width="wide" if wide else "narrow",
        body=body,
    )


def html_response(document: Safe, status: int = 200) -> web.Response:
    """A ``text/html`` response with the security headers."""
    return web.Response(
        text=document,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


class CsrfGuard:
    """Form tokens bound to a browser cookie and to what the form is for.

    The cookie holds a random browser id (``HttpOnly``, ``SameSite=Lax``, so another
    site's POST does not carry it); the token is ``HMAC(key, browser id, purpose)``
    with a key that lives only in this process. A POST is accepted only with the
    cookie and the matching token.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def browser_id(request: web.Request) -> str:
        """The id from the request's cookie, or a new one (set it with :meth:`remember`)."""
        current = request.cookies.get(_CSRF_COOKIE, "")
        return current if _BROWSER_ID.match(current) else secrets.token_hex(16)

    @staticmethod
    def remember(response: web.StreamResponse, browser_id: str) -> None:
        """Set the browser-id cookie on ``response``."""
        response.set_cookie(_CSRF_COOKIE, browser_id, httponly=True, samesite="Lax", path="/")

    def token(self, browser_id: str, purpose: str) -> str:
        """The form token for ``purpose`` (e.g. ``"checkout:<session id>"``)."""
        message = f"{browser_id}\x00{purpose}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, request: web.Request, submitted: object, purpose: str) -> bool:
        """Whether the POST carries the browser cookie and its token for ``purpose``."""
        browser = request.cookies.get(_CSRF_COOKIE, "")
        if not _BROWSER_ID.match(browser) or not isinstance(submitted, str) or not submitted:
            return False
        return hmac.compare_digest(self.token(browser, purpose), submitted)


def css_response() -> web.Response:
    """The one stylesheet every page uses."""
    return web.Response(
        text=_CSS,
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )


_CSS = """
:root {
  --ink: #1d2430; --muted: #5b6675; --line: #d9dee5; --bg: #f4f6f8; --card: #fff;
  --brand: #0f6b5c; --brand-ink: #fff; --warn: #9a5b00; --bad: #a2262b; --ok: #1f7a3a;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif;
}
.banner {
  background: #fff4d6; color: #6b4a00; border-bottom: 1px solid #f0d58c;
  padding: 6px 16px; font-size: 13px; text-align: center;
}
main { margin: 24px auto; padding: 0 16px; }
main.narrow { max-width: 680px; }
main.wide { max-width: 1240px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.card > h2:first-child { margin-top: 0; }
p { margin: 6px 0; }
.muted { color: var(--muted); }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 20px; margin: 14px 0;
}
.brand { color: var(--brand); font-weight: 700; letter-spacing: .02em; }
dl.facts { display: grid; grid-template-columns: 150px 1fr; gap: 6px 12px; margin: 10px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.amount { font-size: 26px; font-weight: 700; }
.terms {
  white-space: pre-wrap; background: #fafbfc; border: 1px solid var(--line);
  border-radius: 6px; padding: 10px 12px; max-height: 260px; overflow: auto; font-size: 14px;
}
form.actions { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-top: 14px; }
form.stack label { display: block; margin: 10px 0 4px; font-weight: 600; }
textarea, input[type=text], input[type=file] {
  width: 100%; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px;
}
textarea { min-height: 80px; }
button {
  font: inherit; font-weight: 600; border-radius: 6px; padding: 9px 16px; cursor: pointer;
  border: 1px solid var(--brand); background: var(--brand); color: var(--brand-ink);
}
button.secondary { background: #fff; color: var(--ink); border-color: var(--line); }
button.danger { background: var(--bad); border-color: var(--bad); }
.error {
  background: #fdecec; border: 1px solid #f3b7b9; color: var(--bad);
  border-radius: 6px; padding: 10px 12px; margin: 10px 0;
}
.notice {
  background: #eef6ff; border: 1px solid #bcd6f5; border-radius: 6px; padding: 10px 12px;
}
.users label {
  display: flex; gap: 10px; align-items: center; padding: 8px 10px; margin: 6px 0;
  border: 1px solid var(--line); border-radius: 6px; background: #fff;
}
ul.scopes { margin: 6px 0 0 18px; padding: 0; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; background: #e7eaee; color: #394452; white-space: nowrap;
}
.badge-pending { background: #eef1f5; color: #475366; }
.badge-paid { background: #dcecff; color: #194f8c; }
.badge-delivered { background: #efe3ff; color: #5b2b91; }
.badge-completed, .badge-ok { background: #dcf3e3; color: var(--ok); }
.badge-cancelled, .badge-bad, .badge-expired { background: #fbe3e4; color: var(--bad); }
.badge-warn, .badge-dispute { background: #fff0d6; color: var(--warn); }
table { width: 100%; border-collapse: collapse; background: #fff; font-size: 13.5px; }
th, td {
  text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
}
th { background: #f0f2f5; font-weight: 600; color: #394452; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.parties { font-size: 12.5px; color: #394452; }
.scroll { overflow-x: auto; }
.steps { flex-wrap: wrap; }
code, .mono {
  font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12.5px;
}
details summary { cursor: pointer; color: var(--brand); white-space: nowrap; }
details pre {
  white-space: pre-wrap; overflow-wrap: anywhere; background: #fafbfc; padding: 8px;
  border: 1px solid var(--line); border-radius: 6px; max-height: 240px; overflow: auto;
}
ol.history { margin: 6px 0; padding-left: 18px; }
.steps { display: flex; gap: 3px; align-items: center; }
.step {
  font-size: 11px; padding: 1px 6px; border-radius: 4px; background: #eef1f5; color: #8a94a3;
}
.step.done { background: #cfe9d8; color: #1f5e33; }
.step.now { background: var(--brand); color: #fff; }
.step.off { background: #fbe3e4; color: var(--bad); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.stat { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.stat b { display: block; font-size: 22px; }
.stat span { color: var(--muted); font-size: 13px; }
.legend span { margin-right: 14px; font-size: 13px; }
.legend svg { display: inline-block; vertical-align: middle; }
nav.top {
  display: flex; justify-content: space-between; align-items: baseline; flex-wrap: wrap; gap: 8px;
}
nav.top a { color: var(--brand); }
svg { display: block; max-width: 100%; height: auto; }
"""
