"""The emulator's dashboard at ``/__emulator__/``: what the emulator holds, drawn. Serves HTML.

Read-only: it reads the store, the webhook outbox and the rate limiter and changes
nothing (looking at a session is what ``GET /sessions/:id`` does, so an overdue
one shows as expired). Charts are inline SVG: no script, nothing fetched.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dhmad_async.testing._common import iso
from dhmad_async.testing._html import Safe, badge, html_response, join, money, page, render
from dhmad_async.testing._sessions import session_status

if TYPE_CHECKING:
    from dhmad_async.testing._emulator import Emulator

__all__ = ["Dashboard"]

JsonDict = dict[str, Any]
MAX_ROWS = 200
_STATUS_ORDER = ("pending", "paid", "delivered", "completed", "cancelled")
_STATUS_FILL = {
    "pending": "#9aa5b4",
    "paid": "#3b82c4",
    "delivered": "#8b5cc7",
    "completed": "#2f9e55",
    "cancelled": "#c9474d",
}
_STEPS = {
    "standard": ("created", "signed", "paid", "delivered", "completed"),
    "quick": ("created", "paid", "delivered", "completed"),
    "instant": ("created", "paid", "completed"),
}
_HISTORY_WINDOWS = 30


def _clock(timestamp: object) -> Safe:
    """``2026-01-02T10:11:12.345Z`` as ``10:11:12`` with the full time on hover."""
    text = str(timestamp)
    return render('<time title="$full">$short</time>', full=text, short=text[11:19] or text)


def _short(value: object, n: int = 8) -> str:
    text = str(value)
    return text if len(text) <= n + 1 else text[:n] + "…"


class Dashboard:
    """``GET /__emulator__/`` for one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Route table for ``aiohttp.web``."""
        return [web.get(prefix + "/", self.show), web.get(prefix, self.redirect)]

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        """``/__emulator__`` → ``/__emulator__/``."""
        raise web.HTTPFound(request.path + "/")

    async def show(self, request: web.Request) -> web.Response:
        """The whole dashboard; ``?refresh=N`` reloads it every N seconds (no script)."""
        refresh: int | None = None
        raw = request.query.get("refresh", "")
        if raw.isdigit() and 1 <= int(raw) <= 3600:
            refresh = int(raw)
        emu = self.emu
        escrows = emu.escrows()
        body = join(
            [
                self._header(refresh),
                self._stats(escrows),
                self._rate_limit(),
                self._escrows(escrows),
                self._sessions(),
                self._deliveries(),
            ]
        )
        return html_response(page("Dashboard", body, refresh=refresh, wide=True))

    # -- sections ------------------------------------------------------------------------

    def _header(self, refresh: int | None) -> Safe:
        emu = self.emu
        toggle = (
            render('<a href="$p">stop auto-refresh</a>', p="./")
            if refresh
            else render('<a href="$p">auto-refresh every 5 s</a>', p="./?refresh=5")
        )
        return render(
            '<nav class="top"><div><p class="brand">DHMAD emulator</p><h1>Dashboard</h1>'
            '<p class="muted">API <code>$api</code> · emulated time $now · time scale ×$scale'
            "</p></div><div>$toggle</div></nav>",
            api=emu.base_url,
            now=iso(emu.clock.now()),
            scale=f"{emu.clock.time_scale:g}",
            toggle=toggle,
        )

    def _stats(self, escrows: list[JsonDict]) -> Safe:
        emu = self.emu
        stats = emu.stats()
        faults = sum(n for k, n in stats["faults"].items() if k != "error_500_committed")
        cells = [
            (len(escrows), "escrows"),
            (len(emu.store.t["sessions"]), "checkout sessions"),
            (stats["events"], "webhook events"),
            (stats["deliveries"], "delivery attempts"),
            (stats["requests"], "API requests"),
            (stats["rateLimited"], "answered 429"),
            (faults, "faults injected"),
        ]
        grid = join(
            render('<div class="stat"><b>$n</b><span>$label</span></div>', n=n, label=t)
            for n, t in cells
        )
        return render('<div class="grid" id="stats">$grid</div>', grid=grid)

    def _rate_limit(self) -> Safe:
        limiter = self.emu.rate_limiter
        opts = limiter.options
        window = limiter.window_real
        now = self.emu.clock.monotonic()
        start = now - window
        admitted = [t for t in limiter.admitted if t > start]
        rejected = [t for t in limiter.rejected_at if t > start]
        used = len(admitted)
        share = min(1.0, used / opts.limit) if opts.limit else 0.0
        fill = "#2f9e55" if share < 0.7 else "#d08a00" if share < 0.9 else "#c9474d"
        width = 1000
        ticks = join(
            render(
                '<line x1="$x" y1="40" x2="$x" y2="58" stroke="$c" stroke-width="1.5"/>',
                x=f"{width * (t - start) / window:.1f}",
                c=colour,
            )
            for times, colour in ((admitted, "#3b82c4"), (rejected, "#c9474d"))
            for t in times
        )
        label = f"{used} of {opts.limit} requests in the current window"
        state = "" if opts.enabled else " (limiting is off)"
        bar = render(
            '<svg id="rate-window" viewBox="0 0 1000 76" width="100%" role="img" '
            'aria-label="$label" data-in-window="$used" data-limit="$limit">'
            "<title>$label</title>"
            '<rect x="0" y="4" width="1000" height="26" rx="5" fill="#e7eaee"/>'
            '<rect x="0" y="4" width="$w" height="26" rx="5" fill="$fill"/>'
            '<text x="10" y="22" font-size="14" fill="#1d2430">$used / $limit</text>'
            '<line x1="0" y1="49" x2="1000" y2="49" stroke="#c4cad3"/>$ticks'
            '<text x="0" y="74" font-size="12" fill="#5b6675">−$span s</text>'
            '<text x="1000" y="74" font-size="12" fill="#5b6675" text-anchor="end">now</text>'
            "</svg>",
            label=label,
            used=used,
            limit=opts.limit,
            w=f"{width * share:.1f}",
            fill=fill,
            ticks=ticks,
            span=f"{opts.window:g}",
        )
        return render(
            '<h2>Rate limit</h2><div class="card">'
            "<p>$label$state: a sliding window of $window emulated seconds ($real real "
            "seconds) per client IP; this draws every client. Ticks are requests "
            '(<span class="badge badge-paid">admitted</span> '
            '<span class="badge badge-bad">answered 429</span>).</p>'
            "$bar<h3>Requests per window, last $n windows</h3>$history"
            '<p class="muted">Busiest window so far: $peak requests (limit $limit).</p></div>',
            label=label,
            state=state,
            window=f"{opts.window:g}",
            real=f"{window:.3g}",
            bar=bar,
            n=_HISTORY_WINDOWS,
            history=self._window_history(now, window, opts.limit),
            peak=limiter.max_in_any_window(),
            limit=opts.limit,
        )

    def _window_history(self, now: float, window: float, limit: int) -> Safe:
        limiter = self.emu.rate_limiter
        counts = [0] * _HISTORY_WINDOWS
        rejected = [0] * _HISTORY_WINDOWS
        for times, target in ((limiter.admitted, counts), (limiter.rejected_at, rejected)):
            for t in times:
                back = int((now - t) // window)
                if 0 <= back < _HISTORY_WINDOWS:
                    target[_HISTORY_WINDOWS - 1 - back] += 1
        top = max([limit, *counts]) or 1
        slot = 1000 / _HISTORY_WINDOWS
        bars = join(
            render(
                '<rect x="$x" y="$y" width="$w" height="$h" fill="$c"><title>$t</title></rect>',
                x=f"{i * slot + 2:.1f}",
                y=f"{90 - 80 * n / top:.1f}",
                w=f"{slot - 4:.1f}",
                h=f"{80 * n / top:.1f}",
                c="#c9474d" if rejected[i] else "#3b82c4",
                t=f"{n} admitted, {rejected[i]} answered 429",
            )
            for i, n in enumerate(counts)
        )
        limit_y = f"{90 - 80 * limit / top:.1f}"
        return render(
            '<svg viewBox="0 0 1000 96" width="100%" role="img" '
            'aria-label="Requests per window over the last windows">'
            '<line x1="0" y1="90" x2="1000" y2="90" stroke="#c4cad3"/>$bars'
            '<line x1="0" y1="$ly" x2="1000" y2="$ly" stroke="#c9474d" stroke-dasharray="6 4"/>'
            '<text x="996" y="$ty" font-size="12" fill="#a2262b" text-anchor="end">'
            "limit $limit</text></svg>",
            bars=bars,
            ly=limit_y,
            ty=f"{float(limit_y) + 14:.1f}",
            limit=limit,
        )

    def _escrows(self, escrows: list[JsonDict]) -> Safe:
        counts = Counter(str(e["status"]) for e in escrows)
        history: dict[str, list[JsonDict]] = defaultdict(list)
        for event in self.emu.outbox.events:
            esc = event["data"].get("escrow") if isinstance(event["data"], dict) else None
            if isinstance(esc, dict) and "id" in esc:
                history[str(esc["id"])].append(event)
        rows = join(self._escrow_row(e, history[str(e["id"])]) for e in escrows[:MAX_ROWS])
        more = (
            render(
                '<p class="muted">Showing the newest $n of $total.</p>',
                n=MAX_ROWS,
                total=len(escrows),
            )
            if len(escrows) > MAX_ROWS
            else ""
        )
        return render(
            '<h2>Escrows</h2><div class="card">$chart'
            '<div class="scroll"><table id="escrows"><thead><tr><th>Escrow</th><th>Mode</th>'
            '<th>Status</th><th>Progress</th><th class="num">Amount</th><th>Buyer → seller</th>'
            "<th>History</th></tr></thead><tbody>$rows</tbody></table></div>$more</div>",
            chart=self._status_chart(counts, len(escrows)),
            rows=rows or Safe('<tr><td colspan="7" class="muted">No escrows yet.</td></tr>'),
            more=more,
        )

    @staticmethod
    def _status_chart(counts: Counter[str], total: int) -> Safe:
        if not total:
            return Safe("")
        x = 0.0
        parts: list[Safe] = []
        legend: list[Safe] = []
        statuses = [s for s in _STATUS_ORDER if counts[s]] + sorted(
            s for s in counts if s not in _STATUS_ORDER
        )
        for status in statuses:
            w = 1000 * counts[status] / total
            colour = _STATUS_FILL.get(status, "#6b7280")
            parts.append(
                render(
                    '<rect x="$x" y="0" width="$w" height="22" fill="$c">'
                    "<title>$s: $n</title></rect>",
                    x=f"{x:.1f}",
                    w=f"{w:.1f}",
                    c=colour,
                    s=status,
                    n=counts[status],
                )
            )
            legend.append(
                render(
                    '<span><svg width="10" height="10" viewBox="0 0 10 10">'
                    '<rect width="10" height="10" fill="$c"/></svg> '
                    "$s $n</span>",
                    c=colour,
                    s=status,
                    n=counts[status],
                )
            )
            x += w
        summary = ", ".join(f"{counts[s]} {s}" for s in statuses)
        return render(
            '<svg id="status-chart" viewBox="0 0 1000 22" width="100%" role="img" '
            'aria-label="Escrows by status: $summary">$parts</svg>'
            '<p class="legend">$legend</p>',
            summary=summary,
            parts=join(parts),
            legend=join(legend),
        )

    def _escrow_row(self, esc: JsonDict, events: list[JsonDict]) -> Safe:
        status = str(esc["status"])
        steps = self._steps(esc)
        items = [render("<li>$at created</li>", at=_clock(esc["createdAt"]))]
        for event in events:
            data = event["data"]
            extra = ""
            if event["type"] == "contract.signed":
                extra = f" by {data.get('contract', {}).get('signedBy', '?')}"
            elif event["type"] == "escrow.status.updated":
                extra = f" → {data['escrow'].get('status')}"
            items.append(
                render(
                    "<li>$at <code>$type</code>$extra</li>",
                    at=_clock(event["createdAt"]),
                    type=event["type"],
                    extra=extra,
                )
            )
        if esc.get("disputeTicket"):
            ticket = esc["disputeTicket"]
            items.append(
                render(
                    "<li>$at dispute $n opened: $why</li>",
                    at=_clock(ticket["createdAt"]),
                    n=ticket["ticketNumber"],
                    why=ticket.get("previewReason") or "",
                )
            )
        flag = badge("dispute", "dispute") if esc.get("disputeTicket") else ""
        return render(
            '<tr data-escrow-id="$id"><td><b>$title</b><br><code title="$id">$short</code></td>'
            '<td>$mode</td><td>$status $flag</td><td>$steps</td><td class="num">$amount</td>'
            '<td class="parties">$buyer<br>→ $seller</td>'
            '<td><details><summary>$n</summary><ol class="history">$items</ol>'
            "</details></td></tr>",
            id=esc["id"],
            short=_short(esc["id"]),
            title=esc["title"],
            mode=esc["mode"],
            status=badge(status),
            flag=flag,
            steps=steps,
            amount=money(esc["amount"], esc["currency"]),
            buyer=esc["buyerEmail"],
            seller=esc["sellerEmail"],
            n=f"{len(events)} event{'' if len(events) == 1 else 's'}",
            items=join(items),
        )

    @staticmethod
    def _steps(esc: JsonDict) -> Safe:
        sigs = esc.get("signatures") or {}
        reached = {
            "created": True,
            "signed": bool(sigs.get("isFullySigned")),
            "paid": bool(esc["paidAt"]),
            "delivered": bool(esc["deliveredAt"] or esc["completedAt"]),
            "completed": bool(esc["completedAt"]),
        }
        steps = _STEPS.get(str(esc["mode"]), _STEPS["quick"])
        last = max((i for i, s in enumerate(steps) if reached[s]), default=0)
        chips: list[Safe] = []
        for i, step in enumerate(steps):
            cls = "step"
            if reached[step]:
                cls += " now" if i == last and esc["status"] != "cancelled" else " done"
            chips.append(render('<span class="$c">$s</span>', c=cls, s=step))
        if esc["status"] == "cancelled":
            chips.append(Safe('<span class="step off">cancelled</span>'))
        return render('<span class="steps">$chips</span>', chips=join(chips))

    def _sessions(self) -> Safe:
        store = self.emu.store
        sessions = sorted(store.t["sessions"].values(), key=lambda s: s["createdAt"], reverse=True)
        rows: list[Safe] = []
        for sess in sessions[:MAX_ROWS]:
            status = session_status(store, sess)
            esc = store.t["escrows"].get(sess["escrowId"], {})
            link = (
                render('<a href="/checkout/$id">open page</a>', id=sess["sessionId"])
                if status == "pending"
                else ""
            )
            rows.append(
                render(
                    '<tr data-session-id="$id"><td><code title="$id">$short</code></td>'
                    "<td>$title</td><td><code>$action</code></td><td>$target</td>"
                    "<td>$status</td><td>$created</td><td>$expires</td><td>$link</td></tr>",
                    id=sess["sessionId"],
                    short=_short(sess["sessionId"]),
                    title=esc.get("title", "?"),
                    action=sess["action"],
                    target=sess["targetUserEmail"],
                    status=badge(status, "completed" if status == "completed" else status),
                    created=_clock(sess["createdAt"]),
                    expires=_clock(sess["expiresAt"]),
                    link=link,
                )
            )
        return render(
            '<h2>Checkout sessions</h2><div class="card scroll"><table id="sessions"><thead><tr>'
            "<th>Session</th><th>Escrow</th><th>Action</th><th>Target user</th><th>Status</th>"
            "<th>Created</th><th>Expires</th><th></th></tr></thead><tbody>$rows</tbody>"
            "</table></div>",
            rows=join(rows) or Safe('<tr><td colspan="8" class="muted">No sessions yet.</td></tr>'),
        )

    def _deliveries(self) -> Safe:
        outbox = self.emu.outbox
        records = list(reversed(outbox.deliveries))
        ok = sum(1 for d in records if d.status is not None and 200 <= d.status < 300)
        hooks = join(
            render(
                "<li><code>$url</code> · $active · $events</li>",
                url=h["url"],
                active=badge("active", "ok") if h["isActive"] else badge("inactive", "bad"),
                events=", ".join(h["events"]),
            )
            for h in self.emu.store.t["webhooks"].values()
        )
        rows: list[Safe] = []
        for d in records[:MAX_ROWS]:
            if d.status is None:
                response = badge("no response", "bad")
            else:
                response = badge(d.status, "ok" if 200 <= d.status < 300 else "bad")
            try:
                pretty = json.dumps(json.loads(d.body), indent=2, ensure_ascii=False)
            except ValueError:
                pretty = d.body.decode("utf-8", "replace")
            rows.append(
                render(
                    '<tr data-event-id="$eid"><td>$ts</td><td><code>$type</code>$dup</td>'
                    '<td><code title="$eid">$short</code></td><td><code>$url</code></td>'
                    '<td class="num">$attempt</td><td>$response</td>'
                    '<td><code class="signature" title="$sig">$sigshort</code></td>'
                    "<td><details><summary>body</summary><pre>$body</pre></details></td></tr>",
                    eid=d.event_id,
                    ts=_clock(d.timestamp),
                    type=d.event_type,
                    dup=join([" ", badge("duplicate", "warn")]) if d.duplicate else "",
                    short=_short(d.event_id),
                    url=d.url,
                    attempt=d.attempt,
                    response=response,
                    sig=d.signature,
                    sigshort=_short(d.signature, 16) if d.signature else "—",
                    body=pretty,
                )
            )
        return render(
            '<h2>Webhook deliveries</h2><div class="card">'
            "<p>$ok of $total attempts answered 2xx · $pending in flight · "
            "$events events emitted.</p><ul>$hooks</ul>"
            '<div class="scroll"><table id="deliveries"><thead><tr><th>Sent</th><th>Event</th>'
            '<th>Event id</th><th>Endpoint</th><th class="num">Attempt</th><th>Response</th>'
            "<th>X-Webhook-Signature</th><th></th></tr></thead><tbody>$rows</tbody></table>"
            "</div></div>",
            ok=ok,
            total=len(records),
            pending=outbox.pending(),
            events=len(outbox.events),
            hooks=hooks or Safe('<li class="muted">No webhook endpoints registered.</li>'),
            rows=join(rows)
            or Safe('<tr><td colspan="8" class="muted">No deliveries yet.</td></tr>'),
        )
