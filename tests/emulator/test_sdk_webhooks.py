"""Developer webhooks managed with ``DhmadDeveloperClient`` and deliveries checked by the verifier.

Real HTTP on 127.0.0.1 only: the emulator, the SDK, and a small aiohttp receiver.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from emulator_support import Receiver

from dhmad_async import (
    AuthenticationError,
    BadRequestError,
    DhmadClient,
    DhmadDeveloperClient,
    NotFoundError,
    WebhookFailureReason,
    WebhookVerificationError,
)
from dhmad_async.testing import ApiOptions, Emulator, FakeClock, WebhookOptions
from dhmad_async.webhooks import (
    ContractSigned,
    CurrentState,
    EscrowStatusUpdated,
    IdentityVerificationLinked,
    IdentityVerificationUpdated,
    MemoryDedupStore,
    WebhookEvent,
    WebhookVerifier,
    aiohttp_webhook_handler,
    current_state_handler,
    fetch_current,
    format_timestamp,
)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator (this file's own fixture)."""
    async with Emulator() as e:
        yield e


@pytest.fixture
async def developer(emu: Emulator) -> AsyncIterator[DhmadDeveloperClient]:
    """The SDK's developer-token client on the emulator."""
    async with DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as d:
        yield d


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[DhmadClient]:
    """The SDK's API-key client on the emulator."""
    async with DhmadClient(emu.api_key, base_url=emu.base_url) as c:
        yield c


async def _new_escrow(client: DhmadClient) -> str:
    created = await client.escrows.create(
        title="Website",
        amount=Decimal("100"),
        buyer_email="buyer@example.com",
        contract_terms="Deliver.",
        estimated_delivery_days=3,
    )
    return created.escrow.id


async def test_webhook_management_round_trip(
    developer: DhmadDeveloperClient, receiver: Receiver
) -> None:
    """create → list/get (no secret) → update by PUT and PATCH → delete → get is 404."""
    hook = await developer.webhooks.create(
        receiver.url, events=["escrow.status.updated", "contract.signed"]
    )
    assert hook.secret and hook.is_active is True
    assert list(hook.events) == ["escrow.status.updated", "contract.signed"]
    listed = await developer.webhooks.list()
    assert [h.id for h in listed] == [hook.id] and listed[0].secret is None
    got = await developer.webhooks.get(hook.id)
    assert got.url == receiver.url and got.secret is None
    put = await developer.webhooks.update(hook.id, is_active=False)
    assert put.is_active is False
    patched = await developer.webhooks.update(
        hook.id, events=["escrow.updated"], is_active=True, method="PATCH"
    )
    assert list(patched.events) == ["escrow.updated"] and patched.is_active is True
    await developer.webhooks.delete(hook.id)
    assert await developer.webhooks.list() == []
    with pytest.raises(NotFoundError):
        await developer.webhooks.get(hook.id)


async def test_third_webhook_is_over_the_limit(
    developer: DhmadDeveloperClient, receiver: Receiver
) -> None:
    """A third endpoint is refused with 400 "Webhook Limit Reached" (§2.17, §4.7)."""
    await developer.webhooks.create(receiver.url)
    await developer.webhooks.create(receiver.url)
    with pytest.raises(BadRequestError) as info:
        await developer.webhooks.create(receiver.url)
    assert info.value.status == 400 and info.value.code == "Webhook Limit Reached"


async def test_api_key_cannot_manage_webhooks(emu: Emulator) -> None:
    """An API key is not a developer token: the webhook endpoints answer 401."""
    async with DhmadDeveloperClient(emu.api_key, base_url=emu.base_url) as wrong:
        with pytest.raises(AuthenticationError):
            await wrong.webhooks.list()


async def test_deliveries_verify_and_parse_into_typed_events(
    developer: DhmadDeveloperClient, client: DhmadClient, emu: Emulator, receiver: Receiver
) -> None:
    """Each delivery passes WebhookVerifier with the create secret and parses to its event."""
    hook = await developer.webhooks.create(
        receiver.url, events=["escrow.status.updated", "contract.signed"]
    )
    assert hook.secret is not None
    escrow_id = await _new_escrow(client)
    session = await client.checkout_sessions.create(
        escrow_id,
        action="sign_contract",
        target_user_email="buyer@example.com",
        redirect_url="http://localhost:3000/done",
    )
    await emu.complete_session(session.session_id)
    await client.escrows.cancel(escrow_id)
    await emu.wait_for_deliveries()
    verifier = WebhookVerifier(secrets=[hook.secret])
    events = [verifier.verify(body, headers) for headers, body in receiver.seen]
    by_type = {type(event): event for event in events}
    assert set(by_type) == {ContractSigned, EscrowStatusUpdated}
    signed = by_type[ContractSigned]
    assert isinstance(signed, ContractSigned) and signed.escrow_id == escrow_id
    status = by_type[EscrowStatusUpdated]
    assert isinstance(status, EscrowStatusUpdated) and status.status == "cancelled"
    other = WebhookVerifier(secrets=["0" * 64])
    with pytest.raises(WebhookVerificationError) as info:
        other.verify(receiver.seen[0][1], receiver.seen[0][0])
    assert info.value.reason is WebhookFailureReason.NO_MATCHING_SIGNATURE


async def test_secret_rotation(
    developer: DhmadDeveloperClient, client: DhmadClient, emu: Emulator, receiver: Receiver
) -> None:
    """After regenerate_secret new deliveries fail the old secret; [new, old] accepts both."""
    hook = await developer.webhooks.create(receiver.url)
    old = hook.secret
    assert old is not None
    await client.escrows.cancel(await _new_escrow(client))
    await emu.wait_for_deliveries()
    rotated = await developer.webhooks.regenerate_secret(hook.id)
    new = rotated.secret
    assert new is not None and new != old
    await client.escrows.cancel(await _new_escrow(client))
    await emu.wait_for_deliveries()
    assert len(receiver.seen) == 2
    (before_h, before_b), (after_h, after_b) = receiver.seen
    with pytest.raises(WebhookVerificationError) as info:
        WebhookVerifier(secrets=[old]).verify(after_b, after_h)
    assert info.value.reason is WebhookFailureReason.NO_MATCHING_SIGNATURE
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(secrets=[new]).verify(before_b, before_h)
    both = WebhookVerifier(secrets=[new, old])
    first, second = both.verify(before_b, before_h), both.verify(after_b, after_h)
    assert first.id != second.id
    assert new not in repr(both) and old not in repr(both)


async def test_kyc_outcome_is_readable_from_the_emulators_deliveries(receiver: Receiver) -> None:
    """The emulator's identity events (kyc_status payloads) expose the outcome on the event."""
    async with (
        Emulator(api=ApiOptions(kyc_auto_approve=False)) as emu,
        DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        hook = await dev.webhooks.create(
            receiver.url,
            events=["identity.verification.updated", "identity.verification.linked"],
        )
        assert hook.secret is not None
        approved = await client.identity_verifications.create(
            email="seller@example.com", external_user_id="seller_42"
        )
        rejected = await client.identity_verifications.create(email="other@example.com")
        await emu.decide_verification(approved.id, "approve")
        await emu.decide_verification(rejected.id, "reject")
        await emu.link_verification(approved.id)
        await emu.wait_for_deliveries()
    verifier = WebhookVerifier(secrets=[hook.secret])
    events = [verifier.verify(body, headers) for headers, body in receiver.seen]
    updates = {e.verification_id: e for e in events if isinstance(e, IdentityVerificationUpdated)}
    assert updates[approved.id].approved and updates[approved.id].kyc_status == "approved"
    assert updates[approved.id].verification.external_user_id == "seller_42"
    assert updates[rejected.id].rejected and not updates[rejected.id].approved
    (linked,) = [e for e in events if isinstance(e, IdentityVerificationLinked)]
    assert linked.verification_id == approved.id and linked.linked_user_id
    assert linked.verification.claim_status == "linked"


async def test_fetch_current_flags_events_the_escrow_has_moved_past(
    developer: DhmadDeveloperClient, client: DhmadClient, emu: Emulator, receiver: Receiver
) -> None:
    """Re-fetching turns a replayed or overtaken event into a skipped one, not an action."""
    hook = await developer.webhooks.create(
        receiver.url, events=["escrow.status.updated", "contract.signed"]
    )
    assert hook.secret is not None
    escrow_id = await _new_escrow(client)
    session = await client.checkout_sessions.create(
        escrow_id,
        action="sign_contract",
        target_user_email="buyer@example.com",
        redirect_url="http://localhost:3000/done",
    )
    await emu.complete_session(session.session_id)  # contract.signed while pending
    await client.escrows.cancel(escrow_id)  # then escrow.status.updated: cancelled
    await emu.wait_for_deliveries()
    verifier = WebhookVerifier(secrets=[hook.secret])
    events = [verifier.verify(body, headers) for headers, body in receiver.seen]
    signed = next(e for e in events if isinstance(e, ContractSigned))
    cancelled = next(e for e in events if isinstance(e, EscrowStatusUpdated))

    old = await fetch_current(client, signed)
    assert old.stale and old.escrow is not None and old.escrow.status == "cancelled"
    now = await fetch_current(client, cancelled)
    assert not now.stale and now.escrow is not None and now.escrow.id == escrow_id

    acted: list[tuple[str, str | None]] = []

    async def on_event(event: WebhookEvent, current: CurrentState) -> None:
        assert current.escrow is not None
        acted.append((event.type, current.escrow.status))

    handler = current_state_handler(client, on_event)
    for event in (signed, cancelled, signed):  # the last one: a replay of the stale event
        await handler(event)
    assert acted == [("escrow.status.updated", "cancelled")]


async def test_fetch_current_for_identity_events(receiver: Receiver) -> None:
    """Identity events re-fetch the verification; an approval stays current after linking."""
    async with (
        Emulator(api=ApiOptions(kyc_auto_approve=False)) as emu,
        DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        hook = await dev.webhooks.create(
            receiver.url,
            events=["identity.verification.updated", "identity.verification.linked"],
        )
        assert hook.secret is not None
        record = await client.identity_verifications.create(email="seller@example.com")
        await emu.decide_verification(record.id, "approve")
        await emu.link_verification(record.id)
        await emu.wait_for_deliveries()
        verifier = WebhookVerifier(secrets=[hook.secret])
        events = [verifier.verify(body, headers) for headers, body in receiver.seen]
        states = [await fetch_current(client, event) for event in events]
    assert [type(e) for e in events] == [IdentityVerificationUpdated, IdentityVerificationLinked]
    assert [s.stale for s in states] == [False, False]
    assert all(s.verification is not None and s.verification.id == record.id for s in states)
    assert states[1].verification is not None
    assert states[1].verification.claim_status == "linked"


class SdkReceiver:
    """The SDK's aiohttp receiver on 127.0.0.1, wired once the webhook secret is known."""

    def __init__(self) -> None:
        self.route: Any = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await self.route(request)
        return response

    def use(self, verifier: WebhookVerifier, handler: Any, **options: Any) -> None:
        """Serve ``handler`` behind ``verifier`` from now on (options as the SDK handler)."""
        self.route = aiohttp_webhook_handler(verifier, handler, **options)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[SdkReceiver]:
        """Listen until the block ends."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        try:
            yield self
        finally:
            await runner.cleanup()


async def test_readme_fixture_delivers_verified_webhooks_after_a_minute_of_wall_time() -> None:
    """Emulator(time_scale=60): after 60 s of wall time (an emulated hour) deliveries verify.

    The wall clock is a FakeClock shared by the emulator and the default verifier
    (tolerance 300 s), so "a minute later" needs no sleeping. Before the fix the
    timestamp was emulated time, an hour ahead: timestamp_in_future.
    """
    wall = FakeClock(start_time=1_767_225_600.0)
    received: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        received.append(event)

    async with (
        SdkReceiver().serve() as receiver,
        Emulator(time_scale=60, clock=wall) as emu,  # the README's fixture, clock injected
        DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        hook = await dev.webhooks.create(receiver.url)
        assert hook.secret is not None
        receiver.use(WebhookVerifier([hook.secret], clock=wall.time), on_event)
        await wall.advance(60)  # one minute of wall time: 3600 s of emulated time
        await client.escrows.cancel(await _new_escrow(client))
        await emu.wait_for_deliveries()
        deliveries = list(emu.outbox.deliveries)
    assert [d.status for d in deliveries] == [200]
    assert [type(e) for e in received] == [EscrowStatusUpdated]
    assert deliveries[0].timestamp == format_timestamp(wall.time())  # wall, not emulated


async def test_retries_keep_the_first_timestamp_and_late_copies_are_duplicates() -> None:
    """retries_keep_timestamp: every attempt carries attempt 1's timestamp.

    The handler fails once (500), the retry is handled, then 400 s pass; the
    duplicate copy, still stamped with attempt 1's time, is past the 300 s window
    but its event was handled: it is acknowledged as a duplicate, not refused.
    """
    wall = FakeClock(start_time=1_767_225_600.0)
    options = WebhookOptions(retries_keep_timestamp=True, duplicate_rate=1.0)
    runs: list[str] = []

    async def fails_once_then_time_passes(event: WebhookEvent) -> None:
        runs.append(event.type)
        if len(runs) == 1:
            raise RuntimeError("database down")
        await wall.advance(400)

    async with (
        SdkReceiver().serve() as receiver,
        Emulator(time_scale=1000, clock=wall, webhooks=options) as emu,
        DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        hook = await dev.webhooks.create(receiver.url)
        assert hook.secret is not None
        verifier = WebhookVerifier([hook.secret], clock=wall.time)
        receiver.use(verifier, fails_once_then_time_passes, dedup=MemoryDedupStore())
        await client.escrows.cancel(await _new_escrow(client))
        await emu.wait_for_deliveries()
        deliveries = list(emu.outbox.deliveries)
    assert [(d.attempt, d.duplicate, d.status) for d in deliveries] == [
        (1, False, 500),
        (2, False, 200),
        (1, True, 200),  # 400 s after attempt 1's timestamp: a duplicate, not a 401
    ]
    assert len({d.timestamp for d in deliveries}) == 1
    assert runs == ["escrow.status.updated"] * 2


async def test_kept_timestamps_outlive_a_short_window_and_the_log_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The receiver down past the window: every kept-timestamp retry is refused, and logged."""
    wall = FakeClock(start_time=1_767_225_600.0)
    options = WebhookOptions(retries_keep_timestamp=True, max_attempts=3)
    attempts: list[int] = []

    async def down_then_time_passes(event: WebhookEvent) -> None:
        attempts.append(len(attempts))
        await wall.advance(400)
        raise RuntimeError("still down")

    async with (
        SdkReceiver().serve() as receiver,
        Emulator(time_scale=1000, clock=wall, webhooks=options) as emu,
        DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev,
        DhmadClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        hook = await dev.webhooks.create(receiver.url)
        assert hook.secret is not None
        verifier = WebhookVerifier([hook.secret], clock=wall.time)
        receiver.use(verifier, down_then_time_passes, dedup=MemoryDedupStore())
        with caplog.at_level(logging.WARNING, logger="dhmad_async.webhooks"):
            await client.escrows.cancel(await _new_escrow(client))
            await emu.wait_for_deliveries()
        statuses = [d.status for d in emu.outbox.deliveries]
    assert statuses == [500, 401, 401] and attempts == [0]
    assert "timestamp_too_old" in caplog.text and "tolerance" in caplog.text
