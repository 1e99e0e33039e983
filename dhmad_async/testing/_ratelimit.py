"""Server-side rate limiting as DHMAD documents it: per client IP, sliding 60 s window.

The header names are UNKNOWN, so the style is configurable; the
``documented`` profile sends none, and only the 429 body's ``retryAfter``. No I/O.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import attrs

from dhmad_async.testing._common import EmuClock
from dhmad_async.testing._fidelity import Fidelity

__all__ = [
    "HeaderStyle",
    "RateLimitDecision",
    "RetryAfterUnit",
    "ServerRateLimitOptions",
    "ServerRateLimiter",
]

HeaderStyle = Literal["x-ratelimit", "ietf", "ietf-combined", "retry-after", "none"]
ResetStyle = Literal["delta", "epoch", "epoch-ms"]
RetryAfterUnit = Literal["s", "ms"]


@attrs.frozen
class ServerRateLimitOptions:
    """How the emulator limits: ``limit`` requests per ``window`` emulated seconds per IP.

    ``headers`` and ``retry_after_header`` left at ``None`` follow the profile: the
    ``documented`` one sends no rate-limit headers and no ``Retry-After`` (their names
    are not documented), the ``generous`` one ``X-RateLimit-*`` and ``Retry-After``. A
    header style chosen explicitly comes with ``Retry-After`` unless that is turned off.
    ``retry_after_unit`` is the unit of the 429 body's ``retryAfter`` (undocumented).
    ``count_rejected=False`` (default, INF): a 429 does not take a slot, so a client that
    keeps retrying is not locked out forever. ``enabled=False`` turns limiting off.
    ``scale_retry_after=True`` gives a 429's wait (``Retry-After`` and the body's
    ``retryAfter``) in whole *emulated* seconds turned into real ones (``0.36`` at
    ``time_scale=50``), so it shrinks with the window; by default it is whole real
    seconds, at least 1, whatever the time scale.
    """

    limit: int = 100
    window: float = 60.0
    headers: HeaderStyle | None = None
    reset: ResetStyle = "delta"
    retry_after_header: bool | None = None
    retry_after_unit: RetryAfterUnit = "s"
    count_rejected: bool = False
    enabled: bool = True
    scale_retry_after: bool = False

    def for_profile(self, fidelity: Fidelity) -> ServerRateLimitOptions:
        """These options with every ``None`` replaced by the profile's choice."""
        headers = self.headers
        if headers is None:
            headers = "x-ratelimit" if fidelity == "generous" else "none"
        retry_after = self.retry_after_header
        if retry_after is None:
            retry_after = fidelity == "generous" or self.headers not in (None, "none")
        return attrs.evolve(self, headers=headers, retry_after_header=retry_after)


@attrs.frozen
class RateLimitDecision:
    """Outcome for one request: allowed or not, its headers and the 429 body's ``retryAfter``.

    ``retry_after`` is what ``Retry-After`` carries: whole seconds, or with
    ``scale_retry_after`` real seconds to the millisecond; ``retry_after_body`` is the
    body's value in the configured unit.
    """

    allowed: bool
    headers: dict[str, str]
    retry_after: float
    retry_after_body: float = 0


class ServerRateLimiter:
    """A sliding log per client IP over real (scaled) seconds."""

    def __init__(
        self, options: ServerRateLimitOptions, clock: EmuClock, fidelity: Fidelity = "documented"
    ) -> None:
        self.options = options.for_profile(fidelity)
        self.clock = clock
        self._logs: dict[str, deque[float]] = {}
        self.admitted: list[float] = []  # monotonic arrival times of every admitted request
        self.admitted_by_ip: dict[str, list[float]] = {}  # the same, per client IP
        self.rejected = 0
        # Monotonic arrival time of every 429, so tests can show a client paused after one.
        self.rejected_at: list[float] = []

    @property
    def window_real(self) -> float:
        """The window in real seconds."""
        return self.clock.real(self.options.window)

    def reset(self) -> None:
        """Forget all windows and counters."""
        self._logs.clear()
        self.admitted.clear()
        self.admitted_by_ip.clear()
        self.rejected = 0
        self.rejected_at.clear()

    def check(self, ip: str) -> RateLimitDecision:
        """Admit or reject one request from ``ip`` and say which headers to send."""
        opts = self.options
        now = self.clock.monotonic()
        window = self.window_real
        log = self._logs.setdefault(ip, deque())
        while log and log[0] <= now - window:
            log.popleft()
        allowed = not opts.enabled or len(log) < opts.limit
        if allowed or opts.count_rejected:
            log.append(now)
        if allowed:
            self.admitted.append(now)
            self.admitted_by_ip.setdefault(ip, []).append(now)
        else:
            self.rejected += 1
            self.rejected_at.append(now)
        remaining = max(0, opts.limit - len(log))
        # Seconds until the oldest entry leaves the window, i.e. until a slot frees.
        until_free = (log[0] + window - now) if log and remaining == 0 else 0.0
        until_reset = (log[0] + window - now) if log else window
        retry_after: float = max(1, math.ceil(until_free)) if not allowed else 0
        if not allowed and opts.scale_retry_after:
            # Rounded up to a whole emulated second (as the unscaled wait is to a whole
            # second), then to the real millisecond: never shorter than the real wait.
            scale = self.clock.time_scale
            whole = max(1, math.ceil(until_free * scale))
            retry_after = math.ceil(whole * 1000 / scale) / 1000
        body_value = retry_after
        if not allowed and opts.retry_after_unit == "ms":
            wait = retry_after if opts.scale_retry_after else until_free
            body_value = max(1, math.ceil(wait * 1000))
        return RateLimitDecision(
            allowed, self._headers(remaining, until_reset, retry_after), retry_after, body_value
        )

    def _headers(self, remaining: int, until_reset: float, retry_after: float) -> dict[str, str]:
        opts = self.options
        limit = str(opts.limit)
        reset_delta = max(0, math.ceil(until_reset))
        out: dict[str, str] = {}
        if opts.headers == "x-ratelimit":
            if opts.reset == "epoch":
                reset = str(math.ceil(self.clock.source.time() + until_reset))
            elif opts.reset == "epoch-ms":
                reset = str(math.ceil((self.clock.source.time() + until_reset) * 1000))
            else:
                reset = str(reset_delta)
            out = {
                "X-RateLimit-Limit": limit,
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": reset,
            }
        elif opts.headers == "ietf":
            out = {
                "RateLimit-Limit": limit,
                "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(reset_delta),
                "RateLimit-Policy": f"{opts.limit};w={math.ceil(self.window_real)}",
            }
        elif opts.headers == "ietf-combined":
            out = {"RateLimit": f"limit={limit}, remaining={remaining}, reset={reset_delta}"}
        if retry_after and opts.headers != "none" and opts.retry_after_header:
            out["Retry-After"] = str(retry_after)
        return out

    def max_in_any_window(self, ip: str | None = None) -> int:
        """Largest number of admitted requests inside any one window, of ``ip`` or all."""
        times = self.admitted if ip is None else self.admitted_by_ip.get(ip, [])
        window, best, start = self.window_real, 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window:
                start += 1
            best = max(best, end - start + 1)
        return best
