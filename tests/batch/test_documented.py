"""Batch reconciliation against the server the docs describe (the emulator's documented profile).

The documented list shows no ``buyerEmail``, ``sellerEmail``, ``currency`` or ``mode``,
and lists only the associated user's escrows. Every test counts escrows on the
emulator: one per created item, never a second one for an ambiguous create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from batch_support import TIME_SCALE, fast_rate_limit, fast_retry, item, own_item

from dhmad_async import DhmadClient
from dhmad_async.batch import OutcomeStatus
from dhmad_async.testing import ApiOptions, Emulator, FaultRule, ServerRateLimitOptions

POST = ("POST", "/api/v1/escrows")


def _faults(**rates: float) -> FaultRule:
    return FaultRule(method="POST", path="/api/v1/escrows", **rates)


@pytest.fixture
async def doc() -> AsyncIterator[Emulator]:
    """A documented-profile emulator with the batch tests' time-scaled rate window."""
    async with Emulator(
        fidelity="documented",
        time_scale=TIME_SCALE,
        rate_limit=ServerRateLimitOptions(limit=100),
    ) as e:
        yield e


@pytest.fixture
async def client(doc: Emulator) -> AsyncIterator[DhmadClient]:
    """The SDK on the primary key (associated user: the emulator's merchant)."""
    async with DhmadClient(
        doc.api_key,
        base_url=doc.base_url,
        rate_limit=fast_rate_limit(),
        retry=fast_retry(),
        timeout=5.0,
    ) as c:
        yield c


def _titles(emu: Emulator) -> list[str]:
    return sorted(e["title"] for e in emu.escrows())


async def test_committed_500_on_own_item_is_found_not_resent(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """An escrow made under a 500 is found although the list shows no buyerEmail: no resend.

    Before the fix the list never matched (no buyerEmail), each attempt was "proven
    absent" and re-sent: three escrows, and the report said none was created.
    """
    doc.set_faults(_faults(error_500=1.0, commit_on_500=1.0))
    report = await client.escrows.create_many([own_item(0)], journal=tmp_path / "j.db", settle=0.05)
    outcome = report.outcomes[0]
    assert _titles(doc) == ["Own order 0"]
    assert doc.request_count(*POST) == 1
    assert outcome.status is OutcomeStatus.CREATED and outcome.reconciled
    assert outcome.escrow_id == doc.escrows()[0]["id"]


async def test_third_party_lost_response_is_not_resent(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """Two third parties: the list cannot show the escrow, so the item is never re-sent.

    Before the fix the empty list was taken as proof of absence and the item re-sent.
    """
    doc.set_faults(_faults(lost_response=1.0))
    report = await client.escrows.create_many([item(0)], journal=tmp_path / "j.db", settle=0.05)
    outcome = report.outcomes[0]
    assert doc.request_count(*POST) == 1 and _titles(doc) == ["Order 0"]
    assert outcome.status is OutcomeStatus.NEEDS_REVIEW
    assert outcome.error_type == "AbsenceUnprovable"
    assert "associated user" in (outcome.error or "")


async def test_unprovable_absence_never_says_nothing_was_created(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """A third-party create reset before the server handled it: still needs review, one send."""
    doc.set_faults(_faults(reset=1.0))
    report = await client.escrows.create_many([item(0)], journal=tmp_path / "j.db", settle=0.05)
    outcome = report.outcomes[0]
    assert doc.escrows() == [] and doc.request_count(*POST) == 1
    assert outcome.status is OutcomeStatus.NEEDS_REVIEW
    assert "no escrow was created" not in (outcome.error or "")


async def test_resend_for_unprovable_items_is_an_explicit_opt_in(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """if_not_found="resend" re-sends what the list cannot show, and never claims proof."""
    doc.set_faults(_faults(reset=1.0))
    report = await client.escrows.create_many(
        [item(0)], journal=tmp_path / "j.db", settle=0.05, if_not_found="resend", max_sends=2
    )
    outcome = report.outcomes[0]
    assert doc.request_count(*POST) == 2
    assert outcome.status is OutcomeStatus.NEEDS_REVIEW
    assert outcome.error_type == "NotFoundAfterResend"
    assert "no escrow was created" not in (outcome.error or "")


async def test_proven_absence_is_resent_and_reported_as_proven(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """An own item's 500 that committed nothing: the list proves it, so it is sent again."""
    doc.set_faults(_faults(error_500=1.0, commit_on_500=0.0))
    report = await client.escrows.create_many(
        [own_item(0)], journal=tmp_path / "j.db", settle=0.05, max_sends=2
    )
    outcome = report.outcomes[0]
    assert doc.request_count(*POST) == 2 and doc.escrows() == []
    assert outcome.status is OutcomeStatus.FAILED and outcome.retryable
    assert "no escrow was created" in (outcome.error or "")
    doc.set_faults()
    again = await client.escrows.create_many([own_item(0)], journal=tmp_path / "j.db")
    assert again.outcomes[0].status is OutcomeStatus.CREATED and _titles(doc) == ["Own order 0"]


def _buyer_side(emu: Emulator, n: int) -> dict[str, Any]:
    """We are the buyer, the seller a third party: listable only if we know who "we" are."""
    return item(n, buyer_email=emu.user_email, title=f"Bought {n}", external_key=f"bought-{n}")


async def test_buyer_side_item_is_provable_with_the_associated_email(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """associated_email makes "we are the buyer" items listable: absence is then proven."""
    doc.set_faults(_faults(error_500=1.0, commit_on_500=0.0))
    unknown = await client.escrows.create_many(
        [_buyer_side(doc, 0)], journal=tmp_path / "a.db", settle=0.05, max_sends=1
    )
    assert unknown.outcomes[0].status is OutcomeStatus.NEEDS_REVIEW
    known = await client.escrows.create_many(
        [_buyer_side(doc, 1)],
        journal=tmp_path / "b.db",
        settle=0.05,
        max_sends=1,
        associated_email=doc.user_email.upper(),
    )
    assert known.outcomes[0].status is OutcomeStatus.FAILED
    assert known.outcomes[0].error_type == "NotCreated"
    assert doc.escrows() == []


async def test_associated_email_is_learned_from_an_own_escrow(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """Without associated_email, the seller of an own-item escrow tells who the user is."""
    journal = tmp_path / "j.db"
    first = await client.escrows.create_many([own_item(0)], journal=journal)
    assert first.outcomes[0].status is OutcomeStatus.CREATED
    doc.set_faults(_faults(error_500=1.0, commit_on_500=1.0))
    report = await client.escrows.create_many(
        [own_item(0), _buyer_side(doc, 1)], journal=journal, settle=0.05
    )
    outcome = report.outcomes[1]
    assert outcome.status is OutcomeStatus.CREATED and outcome.reconciled
    assert _titles(doc) == ["Bought 1", "Own order 0"]


async def test_candidate_is_confirmed_by_get_before_it_is_claimed(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """A listed escrow that matches on the list's fields but not on the detail is not claimed.

    An instant escrow made outside the batch has the same title, amount and parties as
    the item; only GET /escrows/:id shows its mode.
    """
    lookalike = await client.escrows.create(
        title="Own order 0",
        amount="40.250",
        buyer_email="buyer0@example.com",
        mode="instant",
        estimated_delivery_days=5,
    )
    doc.set_faults(_faults(error_500=1.0, commit_on_500=1.0))
    report = await client.escrows.create_many(
        [own_item(0)], journal=tmp_path / "j.db", settle=0.05, clock_skew=600.0
    )
    outcome = report.outcomes[0]
    assert outcome.status is OutcomeStatus.CREATED and outcome.reconciled
    assert outcome.escrow_id != lookalike.escrow.id
    assert doc.escrow(outcome.escrow_id or "")["mode"] == "standard"
    assert doc.request_count(*POST) == 2  # the lookalike and the batch's one create


async def test_a_wrong_associated_email_is_corrected_by_the_server(
    doc: Emulator, client: DhmadClient, tmp_path: Path
) -> None:
    """The seller of an own escrow overrides a mistaken associated_email: no false proof."""
    journal = tmp_path / "j.db"
    await client.escrows.create_many([own_item(0)], journal=journal)
    doc.set_faults(_faults(error_500=1.0, commit_on_500=0.0))
    wrong = "someone.else@example.com"
    report = await client.escrows.create_many(
        [item(1, buyer_email=wrong)],
        journal=journal,
        settle=0.05,
        max_sends=1,
        associated_email=wrong,
    )
    outcome = report.outcomes[0]
    assert outcome.status is OutcomeStatus.NEEDS_REVIEW
    assert outcome.error_type == "AbsenceUnprovable"


async def test_unparseable_2xx_answers_never_cause_a_resend(tmp_path: Path) -> None:
    """Creates answered with a body the client may not parse (the data envelope): one send each.

    Whether the SDK reads the envelope or not, an answer that arrived is never a reason
    to send again: each item is created once, or left for review with its escrow there.
    """
    async with (
        Emulator(
            time_scale=TIME_SCALE,
            rate_limit=ServerRateLimitOptions(limit=100),
            api=ApiOptions(data_envelope=True),
        ) as emu,
        DhmadClient(
            emu.api_key,
            base_url=emu.base_url,
            rate_limit=fast_rate_limit(),
            retry=fast_retry(),
            timeout=5.0,
        ) as client,
    ):
        report = await client.escrows.create_many(
            [own_item(n) for n in range(3)], journal=tmp_path / "j.db", settle=0.05
        )
        assert emu.request_count(*POST) == 3
        assert _titles(emu) == [f"Own order {n}" for n in range(3)]
        by_id = {e["id"] for e in emu.escrows()}
        for outcome in report:
            assert outcome.status is not OutcomeStatus.FAILED, outcome
            if outcome.status is OutcomeStatus.CREATED:
                assert outcome.escrow_id in by_id
