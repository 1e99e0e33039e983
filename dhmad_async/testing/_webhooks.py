"""Webhook delivery from the emulator: background POSTs with signatures, retries and chaos.

Does network I/O (aiohttp client) to the URLs registered via /api/developer/webhooks.
Payload and header shapes are INF: ``{"id","type","createdAt","data"}`` with
``X-Webhook-Signature/-Event/-Id/-Timestamp``; ``X-Webhook-Id`` is the event id (the same
across retries and duplicates, so receivers can deduplicate on it).

``X-Webhook-Timestamp`` is wall-clock time whatever ``time_scale`` is: it is read by the
receiver's clock, which is not scaled. The body (``createdAt``, the escrow's
``updatedAt``) is emulated time, like every API response.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

from dhmad_async.testing._common import EmuClock, dumps, iso, new_object_id
from dhmad_async.testing._fidelity import Fidelity
from dhmad_async.testing._state import Store

__all__ = ["DeliveryRecord", "WebhookOptions", "WebhookOutbox"]

JsonDict = dict[str, Any]
Signer = Callable[[bytes, str, str], str]  # (raw body, secret, timestamp header) -> signature
PROOF_EVENTS = frozenset(
    {
        "escrow.proof.required",
        "escrow.proof.submitted",
        "escrow.proof.needs_review",
        "escrow.proof.accepted",
        "escrow.proof.accepted_by_timeout",
    }
)


@attrs.frozen
class WebhookOptions:
    """Delivery policy. The real retry policy is UNKNOWN; these defaults are INF.

    ``backoff`` is in emulated seconds (scaled by ``time_scale``); ``reorder_jitter`` is a
    random real delay in ``[0, reorder_jitter]`` before the first attempt, which makes
    deliveries arrive out of order; ``timestamp_skew`` (real seconds) shifts
    ``X-Webhook-Timestamp``, as a sender whose clock is off would; ``duplicate_rate``
    sends a second copy of a delivered event.

    ``retries_keep_timestamp``: retries and duplicate copies resend the first attempt's
    ``X-Webhook-Timestamp`` (re-signed with the current secret) instead of stamping each
    attempt anew. Whether DHMAD does this is not documented; it is the stricter reading,
    since every attempt after the receiver's tolerance window then fails its timestamp
    check. ``X-Webhook-Id`` is the event id on every attempt either way. ``None`` (the
    default) takes the profile's choice: on in ``documented``, off in ``generous``.
    """

    max_attempts: int = 5
    backoff: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0)
    timeout: float = 10.0  # real seconds per attempt
    duplicate_rate: float = 0.0
    reorder_jitter: float = 0.0
    timestamp_skew: float = 0.0
    seed: int = 0
    # Proof events are not in the subscribable list; INF: deliver them to every
    # active webhook of the developer. Set False to require an explicit subscription.
    proof_events_to_all: bool = True
    signer: Signer | None = None
    retries_keep_timestamp: bool | None = None

    def for_profile(self, fidelity: Fidelity) -> WebhookOptions:
        """These options with every ``None`` replaced by the profile's choice."""
        keep = self.retries_keep_timestamp
        if keep is None:
            keep = fidelity == "documented"
        return attrs.evolve(self, retries_keep_timestamp=keep)


@attrs.frozen
class DeliveryRecord:
    """One delivery attempt as the emulator saw it."""

    event_id: str
    event_type: str
    webhook_id: str
    url: str
    attempt: int
    status: int | None  # None: connection error / timeout
    timestamp: str
    duplicate: bool
    body: bytes = attrs.field(repr=False)
    signature: str = ""  # the X-Webhook-Signature header sent (shown on the dashboard)


def _default_signer(body: bytes, secret: str, timestamp: str) -> str:
    try:
        from dhmad_async.webhooks import sign  # the verifier's own scheme (architecture seam)
    except ImportError:
        # Same default scheme as dhmad_async.webhooks: hex HMAC-SHA256(secret UTF-8, raw body).
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return str(sign(body, secret, timestamp=timestamp))


class WebhookOutbox:
    """Turns state events into deliveries and tracks every attempt."""

    def __init__(self, store: Store, clock: EmuClock, options: WebhookOptions) -> None:
        self.store = store
        self.clock = clock
        self.options = options
        self.rng = random.Random(options.seed)
        self.events: list[JsonDict] = []
        self.deliveries: list[DeliveryRecord] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        # (event id, webhook id) -> the first attempt's X-Webhook-Timestamp.
        self._first_stamp: dict[tuple[str, str], str] = {}

    def emit(self, event_type: str, data: JsonDict, developer_id: str) -> None:
        """Store event sink: record the event and schedule deliveries to matching webhooks."""
        event = {
            "id": new_object_id(),
            "type": event_type,
            "createdAt": iso(self.clock.now()),
            "data": json.loads(dumps(data)),
        }
        self.events.append(event)
        for hook in self.store.t["webhooks"].values():
            if hook["developerId"] != developer_id or not hook["isActive"]:
                continue
            wanted = event_type in hook["events"] or (
                self.options.proof_events_to_all and event_type in PROOF_EVENTS
            )
            if wanted and not self._closing:
                self._spawn(event, hook["id"], duplicate=False)

    def _spawn(self, event: JsonDict, webhook_id: str, *, duplicate: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event, webhook_id, duplicate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: JsonDict, webhook_id: str, duplicate: bool) -> None:
        opts = self.options
        if opts.reorder_jitter > 0:
            await asyncio.sleep(self.rng.uniform(0, opts.reorder_jitter))
        body = dumps(event).encode()
        for attempt in range(1, opts.max_attempts + 1):
            hook = self.store.t["webhooks"].get(webhook_id)
            if hook is None or not hook["isActive"]:
                return  # deleted or disabled meanwhile
            status = await self._post(event, hook, body, attempt, duplicate)
            if status is not None and 200 <= status < 300:
                if not duplicate and self.rng.random() < opts.duplicate_rate:
                    self._spawn(event, webhook_id, duplicate=True)
                return
            if attempt < opts.max_attempts and opts.backoff:
                delay = opts.backoff[min(attempt - 1, len(opts.backoff) - 1)]
                await asyncio.sleep(self.clock.real(delay))

    async def _post(
        self, event: JsonDict, hook: JsonDict, body: bytes, attempt: int, duplicate: bool
    ) -> int | None:
        timestamp = iso(self.clock.wall() + self.options.timestamp_skew)
        if self.options.retries_keep_timestamp:
            timestamp = self._first_stamp.setdefault((event["id"], hook["id"]), timestamp)
        signer = self.options.signer or _default_signer
        # The secret is read per attempt: after regenerate-secret, retries use the new one.
        signature = signer(body, hook["secret"], timestamp)
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Signature": signature,
            "X-Webhook-Event": event["type"],
            "X-Webhook-Id": event["id"],
            "X-Webhook-Timestamp": timestamp,
            "User-Agent": "DHMAD-Webhooks-Emulator/1",
        }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        status: int | None
        try:
            async with self._session.post(
                hook["url"],
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = None
        self.deliveries.append(
            DeliveryRecord(
                event["id"],
                event["type"],
                hook["id"],
                hook["url"],
                attempt,
                status,
                timestamp,
                duplicate,
                body,
                signature,
            )
        )
        return status

    async def wait(self, timeout: float | None = None) -> None:
        """Wait until no delivery (including retries and duplicates) is in flight."""

        async def drain() -> None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

        await asyncio.wait_for(drain(), timeout)

    def pending(self) -> int:
        """Deliveries still in flight."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel in-flight deliveries and close the HTTP session."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
