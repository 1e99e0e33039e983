"""Tests for the dedup stores, including Redis shared by several OS processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from webhook_support import FakeClock

from dhmad_async.webhooks import (
    DedupPolicy,
    DedupState,
    DedupStore,
    MemoryDedupStore,
    RedisDedupStore,
)

# make test points this at a private server when none answers on 6379.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_memory_store_claims_once() -> None:
    """The first call claims an id; later calls see it."""
    store = MemoryDedupStore()
    assert await store.seen("a") is False
    assert await store.seen("a") is True
    assert await store.seen("b") is False


async def test_memory_store_expires_after_ttl() -> None:
    """After ttl the id can be claimed again (fake clock)."""
    clock = FakeClock(0.0)
    store = MemoryDedupStore(ttl=300, clock=clock)
    await store.seen("a")
    clock.now = 299.0
    assert await store.seen("a") is True
    clock.now = 300.0
    assert await store.seen("a") is False


async def test_memory_store_is_bounded() -> None:
    """Beyond max_entries the oldest ids are evicted."""
    store = MemoryDedupStore(max_entries=3)
    for key in "abcd":
        await store.seen(key)
    assert len(store) == 3
    assert await store.seen("a") is False  # evicted, so claimable again
    assert await store.seen("d") is True


async def test_memory_store_forget() -> None:
    """forget() releases a claim."""
    store = MemoryDedupStore()
    await store.seen("a")
    await store.forget("a")
    assert await store.seen("a") is False


async def test_memory_store_claim_lease_complete_and_forget() -> None:
    """claim → PROCESSING for others until the lease lapses; complete → DONE; forget → NEW."""
    clock = FakeClock(0.0)
    store = MemoryDedupStore(ttl=1000, clock=clock)
    assert isinstance(store, DedupStore)
    assert await store.claim("k", lease=30) is DedupState.NEW
    assert await store.claim("k", lease=30) is DedupState.PROCESSING
    assert await store.peek("k") is DedupState.PROCESSING
    clock.now = 30.0  # the worker died mid-handler: the claim lapses
    assert await store.peek("k") is DedupState.NEW
    assert await store.claim("k", lease=30) is DedupState.NEW
    await store.complete("k")
    clock.now = 1029.0
    assert await store.claim("k", lease=30) is DedupState.DONE
    clock.now = 1030.0
    assert await store.peek("k") is DedupState.NEW
    await store.complete("k", ttl=5)  # a per-event ttl
    clock.now = 1035.0
    assert await store.peek("k") is DedupState.NEW
    await store.complete("k")
    await store.forget("k")
    assert await store.claim("k", lease=1) is DedupState.NEW


async def test_peek_does_not_claim() -> None:
    """peek() only looks."""
    store = MemoryDedupStore()
    assert await store.peek("k") is DedupState.NEW
    assert await store.claim("k", lease=5) is DedupState.NEW


def test_bad_ttls_are_refused() -> None:
    """Zero or negative ttls, leases and ambiguous_ttls are configuration errors."""
    with pytest.raises(ValueError):
        MemoryDedupStore(ttl=0)
    with pytest.raises(ValueError):
        DedupPolicy(ambiguous_ttl=0)


async def test_bad_lease_is_refused() -> None:
    """A non-positive lease would never hold a claim."""
    with pytest.raises(ValueError):
        await MemoryDedupStore().claim("k", lease=0)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix, with every key under it deleted afterwards."""
    import redis.asyncio

    prefix = f"test:dhmad:webhooks:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_store_claims_once_with_ttl(redis_prefix: str) -> None:
    """SET NX EX: first claim wins, the key has a TTL, forget releases it."""
    store = RedisDedupStore(REDIS_URL, prefix=redis_prefix, ttl=600)
    try:
        assert await store.seen("evt") is False
        assert await store.seen("evt") is True
        ttl = await store._client.ttl(redis_prefix + "evt")
        assert 0 < ttl <= 600
        await store.forget("evt")
        assert await store.seen("evt") is False
    finally:
        await store.aclose()
    assert "redis://" not in repr(store)


@pytest.mark.redis
async def test_redis_store_claim_lease_complete_and_forget(redis_prefix: str) -> None:
    """The same state machine as the memory store, with leases and ttls as Redis expiries."""
    store = RedisDedupStore(REDIS_URL, prefix=redis_prefix, ttl=600)
    try:
        assert isinstance(store, DedupStore)
        assert await store.claim("evt", lease=30) is DedupState.NEW
        assert await store.claim("evt", lease=30) is DedupState.PROCESSING
        assert await store.peek("evt") is DedupState.PROCESSING
        assert 0 < await store._client.pttl(redis_prefix + "evt") <= 30_000
        await store.complete("evt", ttl=120)
        assert await store.claim("evt", lease=30) is DedupState.DONE
        assert 30_000 < await store._client.pttl(redis_prefix + "evt") <= 120_000
        await store.forget("evt")
        assert await store.peek("evt") is DedupState.NEW
        # A key written by the previous version (value b"1") still reads as handled.
        await store._client.set(redis_prefix + "old", b"1", ex=60)
        assert await store.claim("old", lease=30) is DedupState.DONE
        long_key = "x" * 500
        assert await store.claim(long_key, lease=30) is DedupState.NEW
        assert await store.peek(long_key) is DedupState.PROCESSING
    finally:
        await store.aclose()


def _claim_worker(prefix: str, keys: list[str], queue: multiprocessing.Queue[list[str]]) -> None:
    async def run() -> list[str]:
        store = RedisDedupStore(REDIS_URL, prefix=prefix, ttl=60)
        try:
            claimed = []
            for key in keys:
                if await store.claim(key, lease=60) is DedupState.NEW:
                    claimed.append(key)
                    await store.complete(key)
            return claimed
        finally:
            await store.aclose()

    queue.put(asyncio.run(run()))


@pytest.mark.redis
async def test_redis_store_one_claim_per_id_across_processes(redis_prefix: str) -> None:
    """Four OS processes race to claim the same 200 ids; each id is claimed exactly once."""
    keys = [f"evt_{i}" for i in range(200)]
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = ctx.Queue()
    procs = [ctx.Process(target=_claim_worker, args=(redis_prefix, keys, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [await asyncio.to_thread(queue.get, True, 60) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 60)
        assert proc.exitcode == 0
    queue.close()
    queue.join_thread()
    claimed = [key for result in results for key in result]
    assert sorted(claimed) == sorted(keys)
