"""Tests of the Redis-shared limiter against the local Redis server (127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from dhmad_async._config import RateLimit
from dhmad_async._errors import RateLimitError
from dhmad_async.ratelimit import RedisRateLimit
from dhmad_async.ratelimit._headers import ServerRateLimit

pytestmark = pytest.mark.redis

# make test points this at a private server when none answers on 6379.
URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# A worker process: `url mode key n tasks max_server_wait`. "hammer" prints the
# admission times (Redis TIME, µs) of n acquisitions spread over `tasks`
# concurrent tasks; "probe" tries once and prints the admission or the error.
# It starts work only when told (a line on stdin, see `go`), so how long each
# interpreter takes to start cannot decide whether the workers overlap.
# A burst of the whole limit: the first window fills as soon as they are told to go.
WORKER = r"""
import asyncio, json, sys
from dhmad_async._config import RateLimit
from dhmad_async._errors import RateLimitError
from dhmad_async.ratelimit import RedisRateLimit

URL, mode, key = sys.argv[1:4]
n, tasks, max_server_wait = map(float, sys.argv[4:7])
policy = RateLimit(requests=20, per=1.0, burst=20, margin=0.0, max_server_wait=max_server_wait)

async def main():
    limiter = RedisRateLimit(URL, key=key, policy=policy)
    try:
        if mode == "hammer":
            times = []
            async def worker(count):
                for _ in range(count):
                    times.append(round(await limiter.acquire_at() * 1_000_000))
            share = int(n) // int(tasks)
            await asyncio.gather(*(worker(share) for _ in range(int(tasks))))
            print(json.dumps({"times": times}))
        else:
            try:
                print(json.dumps({"admitted": await limiter.acquire_at()}))
            except RateLimitError as exc:
                print(json.dumps({"retry_after": exc.retry_after}))
    finally:
        await limiter.aclose()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main())
"""


def start_worker(*args: object) -> subprocess.Popen[str]:
    """Start one worker process; it waits for :func:`go` before it starts working."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, URL, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def ready(*workers: subprocess.Popen[str]) -> None:
    """Wait until every worker has started (its imports done) and waits to be told to go."""

    def line_of(worker: subprocess.Popen[str]) -> str:
        assert worker.stdout is not None
        return worker.stdout.readline()

    lines = await asyncio.gather(*(asyncio.to_thread(line_of, w) for w in workers))
    assert lines == ["ready\n"] * len(workers)


def go(*workers: subprocess.Popen[str]) -> None:
    """Let ready workers start, all at once."""
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()  # not closed: communicate() closes it


def result_of(process: subprocess.Popen[str]) -> dict[str, object]:
    """Wait for a worker and decode its JSON line."""
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    data: dict[str, object] = json.loads(out)
    return data


@pytest.fixture
async def key() -> AsyncIterator[str]:
    """A unique budget name whose Redis keys are deleted after the test."""
    name = f"dhmad-test:{uuid.uuid4().hex}"
    yield name
    client = aioredis.Redis.from_url(URL)
    try:
        tag = "{" + name + "}"
        await client.delete(f"{tag}:log", f"{tag}:tat", f"{tag}:pause")
    finally:
        await client.aclose()


async def redis_now(client: aioredis.Redis) -> float:
    """Redis TIME in epoch seconds."""
    seconds, micros = await client.time()
    return seconds + micros / 1_000_000


async def test_four_processes_never_exceed_the_shared_window(key: str) -> None:
    """Four processes hammering one key never put more than 20 admissions in any 1 s window."""
    per_us, limit = 1_000_000, 20
    workers = [start_worker("hammer", key, 15, 3, 120) for _ in range(4)]
    await ready(*workers)
    go(*workers)
    times: list[int] = []
    for worker in await asyncio.gather(*(asyncio.to_thread(result_of, w) for w in workers)):
        times += worker["times"]  # type: ignore[arg-type]
    times.sort()
    assert len(times) == 60
    # Admission t occupies [t, t + per): the (i + limit)-th admission must not
    # start before the i-th has left the window.
    crowded = [i for i in range(len(times) - limit) if times[i + limit] < times[i] + per_us]
    assert crowded == []
    # ...and the budget was really contended: some window held the full 20.
    fullest = max(bisect.bisect_left(times, t + per_us) - i for i, t in enumerate(times))
    assert fullest == limit


async def test_429_in_one_process_pauses_another(key: str) -> None:
    """A 429 observed here pauses a limiter in another process on the same key."""
    client = aioredis.Redis.from_url(URL)
    here = RedisRateLimit(
        URL, key=key, client=client, policy=RateLimit(pause_jitter=0.0, max_server_wait=120)
    )
    impatient = start_worker("probe", key, 1, 1, 0.5)  # max_server_wait 0.5 s
    patient = start_worker("probe", key, 1, 1, 120)
    try:
        # Both started before the pause: it must not run out while interpreters start.
        await ready(impatient, patient)
        seen_at = await redis_now(client)
        await here.observe(ServerRateLimit(retry_after=3.0))
        go(impatient, patient)
        refused, admitted = await asyncio.gather(
            asyncio.to_thread(result_of, impatient), asyncio.to_thread(result_of, patient)
        )
        assert isinstance(refused.get("retry_after"), float)
        assert 0 < refused["retry_after"] <= 3.0  # type: ignore[operator]
        assert admitted["admitted"] >= seen_at + 3.0  # type: ignore[operator]
    finally:
        await here.aclose()
        await client.aclose()


async def test_remaining_below_free_slots_is_spent_for_everyone(key: str) -> None:
    """A low `remaining` seen by one limiter is recorded in the shared log."""
    policy = RateLimit(requests=5, per=30.0, burst=5, margin=0.0, max_wait=1.0)
    first = RedisRateLimit(URL, key=key, policy=policy)
    second = RedisRateLimit(URL, key=key, policy=policy)
    try:
        await first.acquire()
        await first.observe(ServerRateLimit(remaining=1))  # 5 - 1 - 1 = 3 used elsewhere
        await second.acquire()
        with pytest.raises(RateLimitError, match="max_wait") as caught:
            await second.acquire()
        assert caught.value.retry_after is not None and caught.value.retry_after > 1.0
    finally:
        await first.aclose()
        await second.aclose()


async def test_remaining_zero_fills_the_shared_window(key: str) -> None:
    """remaining == 0 seen by one process fills the shared log, so another process waits."""
    policy = RateLimit(pause_jitter=0.0, max_wait=5.0)
    first = RedisRateLimit(URL, key=key, policy=policy)
    second = RedisRateLimit(URL, key=key, policy=policy)
    try:
        await first.observe(ServerRateLimit(remaining=0, reset_after=60.0))
        with pytest.raises(RateLimitError, match="max_wait") as caught:
            await second.acquire()
        assert caught.value.retry_after is not None and caught.value.retry_after > 55
    finally:
        await first.aclose()
        await second.aclose()


async def test_aclose_leaves_a_given_client_open(key: str) -> None:
    """aclose() closes only a client the limiter created itself."""
    client = aioredis.Redis.from_url(URL)
    limiter = RedisRateLimit("redis://:hunter2@127.0.0.1:6379/0", key=key, client=client)
    assert "hunter2" not in repr(limiter)
    await limiter.acquire()
    await limiter.aclose()
    assert await client.ping()
    await client.aclose()


# `url key n tasks`: n acquisitions over `tasks` tasks with slot leasing; prints the
# admission time of each slot handed out (Redis TIME, µs: for a leased slot, when the
# round trip that leased it was logged) and how many came from a batch leased by
# another task's round trip.
LEASE_WORKER = r"""
import asyncio, json, sys
from dhmad_async._config import RateLimit
from dhmad_async.ratelimit import RedisRateLimit

URL, key = sys.argv[1:3]
n, tasks = int(sys.argv[3]), int(sys.argv[4])
policy = RateLimit(requests=20, per=1.0, burst=8, margin=0.1)

async def main():
    limiter = RedisRateLimit(URL, key=key, policy=policy, lease_batch=4)
    used = []
    async def worker(count):
        for _ in range(count):
            used.append(round(await limiter.acquire_at() * 1_000_000))
    try:
        await asyncio.gather(*(worker(n // tasks) for _ in range(tasks)))
    finally:
        await limiter.aclose()
    print(json.dumps({"used": used, "leased": limiter._leased}))

asyncio.run(main())
"""


def start_lease_worker(key: str) -> subprocess.Popen[str]:
    """Start one leasing worker process (24 acquisitions over 8 tasks)."""
    return subprocess.Popen(
        [sys.executable, "-c", LEASE_WORKER, URL, key, "24", "8"], stdout=subprocess.PIPE, text=True
    )


async def test_leased_slots_never_exceed_the_window_across_processes(key: str) -> None:
    """Four processes leasing slots in batches: never more than 20 slots in any 1 s.

    Times are the slots' admissions as Redis logged them, which no scheduling delay
    can move: leasing a batch in one round trip must not hand out more than the log
    allows. (That a leased slot is used, or given back, within half the margin is
    the limiter's own clock's business: test_leased_slots_nobody_used_are_given_back.)
    Some slots must really have come from leased batches.
    """
    per_us, limit = 1_000_000, 20
    workers = [start_lease_worker(key) for _ in range(4)]
    used: list[int] = []
    leased = 0
    for worker in await asyncio.gather(*(asyncio.to_thread(result_of, w) for w in workers)):
        used += worker["used"]  # type: ignore[arg-type]
        leased += worker["leased"]  # type: ignore[operator]
    used.sort()
    assert len(used) == 96
    crowded = [i for i in range(len(used) - limit) if used[i + limit] < used[i] + per_us]
    assert crowded == []
    assert leased > 0


class _LeaveAfterLeasing(RedisRateLimit):
    """Cancels the tasks in ``leave`` right after a round trip leased slots for them."""

    leave: list[asyncio.Task[None]] = []

    async def _attempt(self, want: int) -> tuple[int, float, int, float, str]:
        outcome = await super()._attempt(want)
        for task in self.leave:
            task.cancel()
        return outcome


async def test_leased_slots_nobody_used_are_given_back(key: str) -> None:
    """Slots leased for tasks that went away are removed from the shared log, not kept."""
    client = aioredis.Redis.from_url(URL)
    policy = RateLimit(requests=4, per=30.0, burst=4, margin=0.4)
    limiter = _LeaveAfterLeasing(URL, key=key, client=client, policy=policy, lease_batch=4)
    try:
        limiter._lock = asyncio.Lock()
        await limiter._lock.acquire()  # hold the line while four tasks queue
        first = asyncio.create_task(limiter.acquire())
        limiter.leave = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(0.05)
        limiter._lock.release()
        await first  # its round trip leased four slots; the other three tasks went away
        await asyncio.gather(*limiter.leave, return_exceptions=True)
        log = limiter.redis_keys[0]
        assert await client.zcard(log) == 4
        await asyncio.sleep(0.3)  # older than half the margin: stale
        await asyncio.wait_for(limiter.acquire(), 10.0)  # would wait 30 s if they were kept
        assert await client.zcard(log) == 2
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_combined_limiter_admits_only_what_both_budgets_allow(key: str) -> None:
    """The tighter budget decides, whichever it is; refused attempts leave no shared slot."""
    from dhmad_async.ratelimit import CombinedLimiter

    client = aioredis.Redis.from_url(URL)
    loose = RateLimit(requests=10, per=30.0, burst=10, margin=0.5)
    tight = RateLimit(requests=3, per=30.0, burst=3, margin=0.5)
    shared_tight = CombinedLimiter(loose, RedisRateLimit(URL, key=key, client=client, policy=tight))
    local_tight = CombinedLimiter(
        tight, RedisRateLimit(URL, key=key + ":b", client=client, policy=loose)
    )
    try:
        for limiter in (shared_tight, local_tight):
            for _ in range(3):
                await asyncio.wait_for(limiter.acquire(), 10.0)  # one Redis round trip
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(limiter.acquire(), 0.3)
        # The local budget refused the fourth: its shared slot was given back.
        assert await client.zcard(local_tight.shared.redis_keys[0]) == 3
        assert await client.zcard(shared_tight.shared.redis_keys[0]) == 3
    finally:
        await shared_tight.aclose()
        await local_tight.aclose()
        await client.delete(*local_tight.shared.redis_keys)
        await client.aclose()
