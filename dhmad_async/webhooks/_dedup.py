"""
Deduplication stores for webhook deliveries: in-memory and Redis. I/O: Redis only.

DHMAD's retry policy is UNKNOWN (REFERENCE §4.5), so receivers must tolerate
repeats. ``await store.seen(key)`` claims ``key`` atomically: the first caller
gets ``False`` (process it), every later caller within ``ttl`` gets ``True``.
Keep ``ttl`` at least the verifier's tolerance window, or a replay inside the
window could be processed twice.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["DedupStore", "MemoryDedupStore", "RedisDedupStore"]

# Seven days, not "twice the tolerance": the default scheme does not sign the
# timestamp, so the replay window alone cannot stop a captured body from being
# resent later; only remembering it can. Entries stay bounded (max_entries / Redis TTL).
DEFAULT_TTL = 7 * 24 * 3600.0


@runtime_checkable
class DedupStore(Protocol):
    """An async claim-once store for event ids."""

    ttl: float

    async def seen(self, key: str) -> bool:
        """Claim ``key``; return True when it was already claimed (a duplicate)."""
        ...

    async def forget(self, key: str) -> None:
        """Release ``key`` so a redelivery is processed again."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


class MemoryDedupStore:
    """A bounded in-process store: entries expire after ``ttl``; the oldest go first when full.

    Only dedupes within one process; use :class:`RedisDedupStore` with several workers.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        # key -> expiry; insertion order is expiry order because ttl is constant.
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def seen(self, key: str) -> bool:
        """Claim ``key``; True if it was claimed within ``ttl``. Atomic: no await inside."""
        now = self._clock()
        entries = self._entries
        while entries:
            oldest, expiry = next(iter(entries.items()))
            if expiry > now:
                break
            del entries[oldest]
        if key in entries:
            return True
        entries[key] = now + self.ttl
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
        return False

    async def forget(self, key: str) -> None:
        """Release ``key``."""
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisDedupStore:
    """A store shared by all workers: ``SET prefix+key 1 NX EX ttl`` (atomic in Redis).

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

        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self.prefix = prefix
        self._owns_client = isinstance(url_or_client, str)
        if isinstance(url_or_client, str):
            self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url_or_client)
        else:
            self._client = url_or_client

    def __repr__(self) -> str:
        # The URL may carry a password: never show it.
        return f"RedisDedupStore(prefix={self.prefix!r}, ttl={self.ttl!r})"

    def _key(self, key: str) -> str:
        # Ids come from request headers: bound their size in Redis.
        if len(key) > 200:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.prefix + key

    async def seen(self, key: str) -> bool:
        """Claim ``key``; True if another worker (or an earlier delivery) claimed it."""
        claimed = await self._client.set(self._key(key), b"1", nx=True, ex=max(1, round(self.ttl)))
        return not claimed

    async def forget(self, key: str) -> None:
        """Release ``key``."""
        await self._client.delete(self._key(key))

    async def aclose(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            await self._client.aclose()
