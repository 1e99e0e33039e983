"""Tests for the dedup stores, including Redis shared by several OS processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from webhook_support import FakeClock

from dhmad_async.webhooks import MemoryDedupStore, RedisDedupStore

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


def _claim_worker(prefix: str, keys: list[str], queue: multiprocessing.Queue[list[str]]) -> None:
    async def run() -> list[str]:
        store = RedisDedupStore(REDIS_URL, prefix=prefix, ttl=60)
        try:
            return [key for key in keys if not await store.seen(key)]
        finally:
            await store.aclose()

    queue.put(asyncio.run(run()))


@pytest.mark.redis
async def test_redis_store_one_claim_per_id_across_processes(redis_prefix: str) -> None:
    """Four OS processes race over the same 200 ids; each id is claimed exactly once."""
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
