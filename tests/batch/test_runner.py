"""create_many against the emulator: outcomes, validation, resume, reconciliation, stopping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from batch_support import item, own_item

from dhmad_async import DhmadClient, EscrowParams
from dhmad_async.batch import BatchItem, BatchProgress, Journal, JournalState, OutcomeStatus
from dhmad_async.testing import Emulator, FaultRule

POST = ("POST", "/api/v1/escrows")


async def test_outcomes_are_in_input_order_with_escrows(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Every item gets a created outcome in input order, with the escrow the server made."""
    client = make_client()
    report = await client.escrows.create_many(
        [item(n) for n in range(30)], journal=tmp_path / "j.sqlite"
    )
    assert [o.external_key for o in report] == [f"order-{n}" for n in range(30)]
    assert report.counts == {"created": 30, "failed": 0, "needs_review": 0}
    server = {e["id"]: e["title"] for e in emu.escrows()}
    assert {o.escrow_id: f"Order {o.position}" for o in report} == server
    assert report.outcomes[0].escrow is not None
    assert str(report.outcomes[0].escrow.amount) == "25.5"


async def test_bad_items_are_rejected_before_sending_and_others_proceed(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Invalid items fail with their own message and are not sent; good ones are created."""
    items: list[object] = [
        item(0),
        item(1, amount="-3"),
        item(2, mode="teleport"),
        {"title": "no buyer", "amount": "10"},
        42,
        item(5),
    ]
    client = make_client()
    report = await client.escrows.create_many(items, journal=tmp_path / "j.sqlite")
    statuses = [o.status for o in report]
    assert statuses == ["created", "failed", "failed", "failed", "failed", "created"]
    assert "amount" in (report.outcomes[1].error or "")
    assert "mode" in (report.outcomes[2].error or "")
    assert "buyer_email" in (report.outcomes[3].error or "")
    assert "int" in (report.outcomes[4].error or "")
    assert emu.request_count(*POST) == 2


async def test_server_400_is_a_definite_failure_with_its_message(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A server-side 400 (buyer equals seller) fails that item only, not retryable, with details."""
    client = make_client()
    bad = item(1, buyer_email="seller@example.com")
    report = await client.escrows.create_many([item(0), bad, item(2)], journal=tmp_path / "j.db")
    failed = report.outcomes[1]
    assert failed.status is OutcomeStatus.FAILED
    assert failed.http_status == 400 and not failed.retryable
    assert "Buyer and seller" in (failed.error or "")
    assert report.counts["created"] == 2


async def test_escrow_params_and_batch_items_are_accepted(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """EscrowParams objects get a stable automatic key; BatchItem carries the caller's key."""
    params = EscrowParams.from_mapping({k: v for k, v in item(0).items() if k != "external_key"})
    client = make_client()
    report = await client.escrows.create_many(
        [params, BatchItem(params, external_key="k1")], journal=tmp_path / "j.db"
    )
    assert report.outcomes[0].external_key.startswith("auto-")
    assert report.outcomes[1].external_key == "k1"
    assert report.counts["created"] == 2  # identical items: two escrows, sent one after the other


async def test_rerun_with_the_same_journal_sends_nothing_new(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A second run with the same journal reports the created items from the journal."""
    journal = tmp_path / "j.sqlite"
    client = make_client()
    first = await client.escrows.create_many([item(n) for n in range(10)], journal=journal)
    sent = emu.request_count(*POST)
    second = await client.escrows.create_many([item(n) for n in range(10)], journal=journal)
    assert emu.request_count(*POST) == sent
    assert [o.escrow_id for o in second] == [o.escrow_id for o in first]
    assert all(o.from_journal for o in second)


async def test_retryable_failures_are_retried_on_resume_but_definite_ones_are_not(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A 503 (proven absent) is resent on the next run; a 400 from an earlier run is not."""
    journal = tmp_path / "j.sqlite"
    client = make_client()
    bad = item(1, buyer_email="seller@example.com")
    await client.escrows.create_many([bad], journal=journal)
    emu.set_faults(FaultRule(method="POST", path="/api/v1/escrows", error_503=1.0))
    first = await client.escrows.create_many([own_item(0), bad], journal=journal, max_sends=1)
    assert first.outcomes[0].status is OutcomeStatus.FAILED and first.outcomes[0].retryable
    assert first.outcomes[1].from_journal
    emu.set_faults()
    posts = emu.request_count(*POST)
    second = await client.escrows.create_many([own_item(0), bad], journal=journal)
    assert second.outcomes[0].status is OutcomeStatus.CREATED
    assert second.outcomes[1].status is OutcomeStatus.FAILED and second.outcomes[1].from_journal
    assert emu.request_count(*POST) == posts + 1
    assert len(emu.escrows()) == 1


async def test_committed_500_is_found_not_resent(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A 500 after the server committed is reconciled to that escrow; no duplicate is made."""
    emu.set_faults(
        FaultRule(method="POST", path="/api/v1/escrows", error_500=1.0, commit_on_500=1.0)
    )
    client = make_client()
    report = await client.escrows.create_many(
        [own_item(0), own_item(1)], journal=tmp_path / "j.db", settle=0.05
    )
    assert report.counts["created"] == 2
    assert all(o.reconciled for o in report)
    assert sorted(o.escrow_id or "" for o in report) == sorted(emu.stats()["committedUnder500"])
    assert len(emu.escrows()) == 2


async def test_identical_items_each_get_their_own_escrow_through_lost_responses(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Identical items go one at a time, so reconciliation claims one escrow per item."""
    emu.set_faults(
        FaultRule(method="POST", path="/api/v1/escrows", lost_response=0.5, error_500=0.3),
        seed=7,
    )
    client = make_client()
    same = {k: v for k, v in own_item(0).items() if k != "external_key"}
    report = await client.escrows.create_many(
        [dict(same) for _ in range(6)], journal=tmp_path / "j.db", settle=0.05
    )
    ids = [o.escrow_id for o in report]
    assert report.counts["created"] == 6
    assert len(set(ids)) == 6
    assert sorted(e["id"] for e in emu.escrows()) == sorted(i or "" for i in ids)


async def test_several_unclaimed_matches_need_review(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """When someone else made an identical escrow just before, an ambiguous create needs review."""
    client = make_client()
    same = {k: v for k, v in own_item(0).items() if k != "external_key"}
    await client.escrows.create(**same)  # outside the batch, unclaimed
    emu.set_faults(
        FaultRule(method="POST", path="/api/v1/escrows", error_500=1.0, commit_on_500=1.0)
    )
    report = await client.escrows.create_many(
        [same], journal=tmp_path / "j.db", settle=0.05, clock_skew=600.0
    )
    outcome = report.outcomes[0]
    assert outcome.status is OutcomeStatus.NEEDS_REVIEW
    assert len(outcome.candidates) == 2 and outcome.error_type == "SeveralCandidates"
    assert len(emu.escrows()) == 2
    journal = await Journal.open(tmp_path / "j.db")
    try:
        rows = await journal.rows()
    finally:
        await journal.aclose()
    assert rows[0].state is JournalState.NEEDS_REVIEW


async def test_absent_escrow_is_sent_again(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A 500 that committed nothing is proven absent by the scan and sent again."""
    emu.set_faults(
        FaultRule(method="POST", path="/api/v1/escrows", error_500=1.0, commit_on_500=0.0)
    )
    client = make_client()
    journal = tmp_path / "j.db"
    first = await client.escrows.create_many([own_item(0)], journal=journal, settle=0.05)
    assert first.outcomes[0].status is OutcomeStatus.FAILED
    assert first.outcomes[0].retryable and first.outcomes[0].attempts == 3
    assert emu.escrows() == []
    emu.set_faults()
    second = await client.escrows.create_many([own_item(0)], journal=journal)
    assert second.outcomes[0].status is OutcomeStatus.CREATED
    assert len(emu.escrows()) == 1


async def test_authentication_error_stops_the_batch(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """A 401 stops the run; unsent items are failed, retryable, and nothing was created."""
    client = make_client(api_key="sk_sandbox_" + "0" * 64)
    report = await client.escrows.create_many(
        [item(n) for n in range(20)], journal=tmp_path / "j.db", concurrency=2
    )
    assert report.stopped is not None and "authentication" in report.stopped
    assert len(report) == 20
    assert all(o.status is OutcomeStatus.FAILED and o.retryable for o in report)
    assert emu.request_count(*POST) <= 2


async def test_async_iteration_yields_every_outcome_and_progress_counts(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """The iterator form yields one outcome per item; on_progress sees the final counts."""
    seen: list[BatchProgress] = []
    client = make_client()
    run = client.escrows.create_many(
        [item(n) for n in range(12)] + [item(99, amount="x")],
        journal=tmp_path / "j.db",
        on_progress=seen.append,
    )
    outcomes = [o async for o in run]
    assert sorted(o.position for o in outcomes) == list(range(13))
    assert seen[-1].done == 13 and seen[-1].created == 12 and seen[-1].failed == 1
    assert run.report is not None and run.report.counts["created"] == 12


async def test_changed_parameters_under_a_created_key_are_refused(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Reusing a created item's key with other parameters is a conflict, not a second escrow."""
    journal = tmp_path / "j.db"
    client = make_client()
    await client.escrows.create_many([item(0)], journal=journal)
    report = await client.escrows.create_many([item(0, title="Other")], journal=journal)
    assert report.outcomes[0].status is OutcomeStatus.FAILED
    assert report.outcomes[0].error_type == "JournalConflict"
    assert len(emu.escrows()) == 1


async def test_third_party_items_are_never_resent_after_an_unknown_answer(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """Between two third parties: found if the list shows it, else left for review; one send.

    The generous list shows escrows the key made for others, so committed lost responses
    are found there; the documented list does not, so those items need review.
    """
    emu.set_faults(
        FaultRule(method="POST", path="/api/v1/escrows", lost_response=0.4, reset=0.3), seed=11
    )
    client = make_client()
    report = await client.escrows.create_many(
        [item(n) for n in range(12)], journal=tmp_path / "j.db", settle=0.05
    )
    assert emu.request_count(*POST) == 12  # nothing was sent twice
    titles = [e["title"] for e in emu.escrows()]
    assert len(titles) == len(set(titles))
    by_id = {e["id"]: e["title"] for e in emu.escrows()}
    committed = set(emu.faults.committed_under_lost_response)
    assert emu.faults.counts["lost_response"] > 0 and emu.faults.counts["reset"] > 0
    for outcome in report:
        if outcome.status is OutcomeStatus.CREATED:
            assert by_id[outcome.escrow_id or ""] == f"Order {outcome.position}"
        else:
            assert outcome.status is OutcomeStatus.NEEDS_REVIEW
            assert outcome.error_type == "AbsenceUnprovable"
    found = {o.escrow_id for o in report if o.reconciled}
    assert found == (committed if emu.fidelity == "generous" else set())


async def test_an_unavailable_shared_limiter_stops_the_batch_before_anything_is_sent(
    emu: Emulator, make_client: Callable[..., DhmadClient], tmp_path: Path
) -> None:
    """
    Redis down (fail closed): the run stops at once instead of failing item after item.

    Before, every item met RateLimiterUnavailableError in turn and was recorded as a
    definite, non-retryable failure.
    """
    from dhmad_async.ratelimit import RedisRateLimit

    limiter = RedisRateLimit("redis://127.0.0.1:1/0", key=f"down:{tmp_path.name}")
    client = make_client(rate_limit=limiter, own_rate_limit=True)
    report = await client.escrows.create_many(
        [item(n) for n in range(10)], journal=tmp_path / "j.db", concurrency=2
    )
    assert report.stopped is not None and "rate limiter is unavailable" in report.stopped
    assert len(report) == 10
    assert all(o.status is OutcomeStatus.FAILED and o.retryable for o in report)
    assert emu.request_count(*POST) == 0


class _InstantClock:
    """Records every sleep and returns at once: the batch's pauses, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_a_refused_create_waits_at_most_max_pause_however_long_the_server_asks(
    tmp_path: Path,
) -> None:
    """
    A 429 asking for an hour ({"retryAfter": 3600}, unit unknown) pauses a worker at
    most ``max_pause``: the client's limiter probes once per window meanwhile.

    Before, the worker slept the full hour before trying the item again.
    """
    import json

    from dhmad_async import RateLimitError
    from dhmad_async._serialization import structure
    from dhmad_async.batch import BatchOptions, create_many
    from dhmad_async.models import EscrowCreated

    sample = Path(__file__).parents[1] / "samples" / "escrow_create.json"
    created = structure(json.loads(sample.read_text()), EscrowCreated)

    class Escrows:
        calls = 0

        async def create_from(self, params: object, *, validate: bool) -> EscrowCreated:
            Escrows.calls += 1
            if Escrows.calls == 1:
                raise RateLimitError("Rate limit exceeded.", retry_after=3600.0)
            return created

    class Client:
        escrows = Escrows()
        clock = _InstantClock()
        max_connections = 10

    client = Client()
    options = BatchOptions(max_pause=30.0)
    report = await create_many(  # type: ignore[call-overload, arg-type]
        client, [item(1)], journal=tmp_path / "j.db", options=options
    )
    assert [o.status for o in report] == [OutcomeStatus.CREATED]
    assert Escrows.calls == 2
    assert client.clock.sleeps and max(client.clock.sleeps) <= 30.0
