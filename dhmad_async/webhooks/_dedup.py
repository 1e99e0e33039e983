"""
Deduplication of webhook deliveries: the key policy and the stores (memory, Redis). I/O: Redis only.

DHMAD does not document its retry policy, so receivers must tolerate
repeats, and an attacker who captured a delivery may resend it. A store keeps
one entry per event key, in one of two states:

- ``processing``: a receiver claimed the key and is running the handler. The
  claim lapses after a *lease*, so a worker that dies mid-handler does not
  lose the event: the next redelivery after the lease runs it.
- ``done``: the handler succeeded; later deliveries are duplicates for ``ttl``.

``claim`` is atomic (one winner across every worker sharing the store),
``complete`` marks the key done, ``forget`` releases it after a failure so a
redelivery runs the handler again.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from dhmad_async.webhooks._events import WebhookEvent

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "DEFAULT_TTL",
    "DedupPolicy",
    "DedupState",
    "DedupStore",
    "MemoryDedupStore",
    "RedisDedupStore",
]

# Seven days, not "twice the tolerance": the default scheme does not sign the
# timestamp, so the replay window alone cannot stop a captured body from being
# resent later; only remembering it can. Entries stay bounded (max_entries / Redis TTL).
DEFAULT_TTL = 7 * 24 * 3600.0


class DedupState(enum.StrEnum):
    """What a store knows about a key."""

    #: Not seen (from :meth:`DedupStore.claim`: the claim is now yours).
    NEW = "new"
    #: Claimed by a receiver whose handler has not finished (or died; the lease lapses).
    PROCESSING = "processing"
    #: Handled: a later delivery is a duplicate.
    DONE = "done"


@runtime_checkable
class DedupStore(Protocol):
    """An async claim-once store for event keys, shared by every receiver worker."""

    #: Seconds a ``done`` key is remembered unless :meth:`complete` is given another ttl.
    ttl: float

    async def claim(self, key: str, *, lease: float) -> DedupState:
        """Claim ``key`` for ``lease`` seconds; NEW means it is yours to process."""
        ...

    async def complete(self, key: str, *, ttl: float | None = None) -> None:
        """Mark ``key`` handled for ``ttl`` seconds (default: the store's ``ttl``)."""
        ...

    async def forget(self, key: str) -> None:
        """Release ``key`` (claimed or done) so a redelivery is processed again."""
        ...

    async def peek(self, key: str) -> DedupState:
        """The state of ``key`` without claiming it (NEW when unknown or lapsed)."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds")


@attrs.frozen(kw_only=True)
class DedupPolicy:
    """How a receiver decides that two deliveries are the same event, and for how long.

    ``key`` turns a verified event into its dedup key; the default is
    ``event.dedup_key``: the signed content in canonical form (so no re-encoding,
    unsigned header or fresh timestamp makes a replay look new) named by the
    event type, subject id and status.

    ``ambiguous_ttl`` is the one genuine trade-off. When a payload carries no
    ``updatedAt`` and no event timestamp (the payload skeleton DHMAD documents has
    neither), a
    byte-identical delivery may be a replay, a DHMAD retry *or* a genuine second
    event (``paid`` again after a rejected delivery). ``None`` (the default, safe
    for money) remembers such deliveries for the store's full ``ttl``: a genuine
    repeat is reported as a duplicate and logged, never acted on twice. A number
    remembers them only that long, after which an identical delivery is handled
    again; use it only with a handler that re-fetches the escrow first
    (:func:`~dhmad_async.webhooks.current_state_handler`), because a replay is
    then handled too. Keep it above DHMAD's retry horizon.
    """

    key: Callable[[WebhookEvent], str] | None = None
    ambiguous_ttl: float | None = None

    def __attrs_post_init__(self) -> None:
        _positive("ambiguous_ttl", self.ambiguous_ttl)

    def key_for(self, event: WebhookEvent) -> str:
        """The dedup key of ``event`` under this policy."""
        return event.dedup_key if self.key is None else self.key(event)

    def ttl_for(self, event: WebhookEvent, store: DedupStore) -> float:
        """How long ``event`` stays a duplicate once handled."""
        if event.dedup_ambiguous and self.ambiguous_ttl is not None:
            return self.ambiguous_ttl
        return store.ttl


DEFAULT_POLICY = DedupPolicy()


class MemoryDedupStore:
    """A bounded in-process store: entries expire; the oldest go first when full.

    Only dedupes within one process; use :class:`RedisDedupStore` with several workers.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        # key -> (state, expiry), oldest write first. Expiries are not strictly
        # ordered (leases, per-event ttls), so look-ups check them; the front is
        # trimmed while expired and max_entries bounds the rest.
        self._entries: OrderedDict[str, tuple[DedupState, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str, now: float) -> DedupState:
        entries = self._entries
        while entries:
            oldest, (_, expiry) = next(iter(entries.items()))
            if expiry > now:
                break
            del entries[oldest]
        entry = entries.get(key)
        if entry is None:
            return DedupState.NEW
        if entry[1] <= now:
            del entries[key]
            return DedupState.NEW
        return entry[0]

    def _put(self, key: str, state: DedupState, expiry: float) -> None:
        self._entries[key] = (state, expiry)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    # No await inside any of these: each is atomic on the event loop.

    async def claim(self, key: str, *, lease: float) -> DedupState:
        """Claim ``key`` for ``lease`` seconds unless it is processing or done."""
        _positive("lease", lease)
        now = self._clock()
        state = self._live(key, now)
        if state is DedupState.NEW:
            self._put(key, DedupState.PROCESSING, now + lease)
        return state

    async def complete(self, key: str, *, ttl: float | None = None) -> None:
        """Mark ``key`` done for ``ttl`` (default: the store's)."""
        _positive("ttl", ttl)
        self._put(key, DedupState.DONE, self._clock() + (ttl or self.ttl))

    async def seen(self, key: str, *, ttl: float | None = None) -> bool:
        """Claim and complete ``key`` in one step; True if it was already claimed or done."""
        _positive("ttl", ttl)
        now = self._clock()
        if self._live(key, now) is not DedupState.NEW:
            return True
        self._put(key, DedupState.DONE, now + (ttl or self.ttl))
        return False

    async def peek(self, key: str) -> DedupState:
        """The state of ``key``, without claiming it."""
        return self._live(key, self._clock())

    async def forget(self, key: str) -> None:
        """Release ``key``."""
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        """Nothing to release."""


# One round trip, atomic: claim with a lease, or report what holds the key.
# (Values written by earlier versions, b"1", read as done.)
_CLAIM_SCRIPT = """
if redis.call('SET', KEYS[1], 'processing', 'NX', 'PX', ARGV[1]) then
  return 'new'
end
return redis.call('GET', KEYS[1])
"""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _state_of(value: bytes | str | None) -> DedupState:
    if value is None:
        return DedupState.NEW
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if text == "new":
        return DedupState.NEW
    return DedupState.PROCESSING if text == "processing" else DedupState.DONE


class RedisDedupStore:
    """A store shared by all workers: claims are ``SET NX PX`` (atomic in Redis).

    Pass a URL (the store owns and closes its client) or a ``redis.asyncio.Redis``
    client (yours to close).
    """

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis,
        *,
        prefix: str = "dhmad:webhook:seen:",
        ttl: float = DEFAULT_TTL,
    ) -> None:
        import redis.asyncio  # optional extra; imported only when used

        if not ttl > 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self.prefix = prefix
        self._owns_client = isinstance(url_or_client, str)
        if isinstance(url_or_client, str):
            self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url_or_client)
        else:
            self._client = url_or_client
        self._claim = self._client.register_script(_CLAIM_SCRIPT)

    def __repr__(self) -> str:
        # The URL may carry a password: never show it.
        return f"RedisDedupStore(prefix={self.prefix!r}, ttl={self.ttl!r})"

    def _key(self, key: str) -> str:
        # Bound key sizes in Redis.
        if len(key) > 200:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.prefix + key

    async def claim(self, key: str, *, lease: float) -> DedupState:
        """Claim ``key`` for ``lease`` seconds unless another worker holds it or it is done."""
        _positive("lease", lease)
        return _state_of(await self._claim(keys=[self._key(key)], args=[_ms(lease)]))

    async def complete(self, key: str, *, ttl: float | None = None) -> None:
        """Mark ``key`` done for ``ttl`` (default: the store's)."""
        _positive("ttl", ttl)
        await self._client.set(self._key(key), b"done", px=_ms(ttl or self.ttl))

    async def seen(self, key: str, *, ttl: float | None = None) -> bool:
        """Claim and complete ``key`` in one step; True if it was already claimed or done."""
        _positive("ttl", ttl)
        claimed = await self._client.set(self._key(key), b"done", nx=True, px=_ms(ttl or self.ttl))
        return not claimed

    async def peek(self, key: str) -> DedupState:
        """The state of ``key``, without claiming it."""
        return _state_of(await self._client.get(self._key(key)))

    async def forget(self, key: str) -> None:
        """Release ``key``."""
        await self._client.delete(self._key(key))

    async def aclose(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            await self._client.aclose()
