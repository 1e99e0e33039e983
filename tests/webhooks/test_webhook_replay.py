"""Dedup neither drops a legitimate event nor admits a replay.

Replays are recognised by signed content in canonical form, never by unsigned
headers; distinct events stay distinct even when their payloads share an id.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from webhook_support import NOW, SECRET, FakeClock, Recorder, delivery

from dhmad_async.webhooks import (
    STANDARD_WEBHOOKS_SCHEME,
    DedupPolicy,
    MemoryDedupStore,
    WebhookReceiver,
    WebhookVerifier,
    aiohttp_webhook_handler,
    format_timestamp,
    sign,
)

WEEK = 7 * 86400


def _endpoint(
    clock: FakeClock, *, policy: DedupPolicy | None = None, **verifier_options: Any
) -> tuple[WebhookReceiver, Recorder]:
    recorder = Recorder()
    verifier = WebhookVerifier([SECRET], clock=clock, **verifier_options)
    store = MemoryDedupStore(ttl=WEEK, clock=clock)
    return WebhookReceiver(verifier, recorder, dedup=store, policy=policy), recorder


def _signed(payload: dict[str, Any], clock: FakeClock) -> tuple[bytes, dict[str, str]]:
    """A compact body as DHMAD's sample would sign it, stamped at the clock's time."""
    return delivery(payload, event_id="wh_507f", when=clock.now)


async def test_replay_with_fresh_timestamp_and_new_id_header_runs_the_handler_once() -> None:
    """A captured body resent later under a new X-Webhook-Id and timestamp is a duplicate."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    body, headers = delivery(event_id="evt_paid")
    assert 200 == (await endpoint.process(body, headers))[0]

    # An hour later the attacker replays the same bytes: the body-only signature
    # still matches, and the unsigned headers are theirs to choose.
    clock.now = NOW + 3600
    replay = dict(headers)
    replay["X-Webhook-Timestamp"] = format_timestamp(clock.now)
    replay["X-Webhook-Id"] = "evt_attacker_chosen"
    status, answer = await endpoint.process(body, replay)

    assert 200 == status
    assert json.loads(answer)["duplicate"] is True
    assert ["evt_paid"] == [event.id for event in recorder.events]


async def test_body_without_id_ignores_the_unsigned_id_header() -> None:
    """Without a body id, a new X-Webhook-Id on the same signed bytes is still a duplicate."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    payload = {"type": "escrow.status.updated", "data": {"escrow": {"id": "e1", "status": "paid"}}}
    body, headers = delivery(payload, event_id="first")
    await endpoint.process(body, headers)
    replay = dict(headers, **{"X-Webhook-Id": "second"})
    _, answer = await endpoint.process(body, replay)

    assert json.loads(answer)["duplicate"] is True
    assert 1 == len(recorder.events)


async def test_shared_id_header_does_not_swallow_different_events() -> None:
    """If X-Webhook-Id names the webhook, not the event (§7.2), distinct events still run."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    for status in ("paid", "delivered", "completed"):
        payload = {
            "type": "escrow.status.updated",
            "data": {"escrow": {"id": "e1", "status": status}},
        }
        body, headers = delivery(payload, event_id="wh_config_507f")
        assert 200 == (await endpoint.process(body, headers))[0]

    assert ["paid", "delivered", "completed"] == [
        event.data["escrow"]["status"] for event in recorder.events
    ]


async def test_top_level_escrow_id_does_not_make_later_statuses_duplicates() -> None:
    """A payload whose top-level id is the escrow's: paid → delivered → completed all run."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    for status in ("paid", "delivered", "completed"):
        payload = {
            "type": "escrow.status.updated",
            "id": "507f1f77bcf86cd799439011",
            "status": status,
        }
        assert 200 == (await endpoint.process(*_signed(payload, clock)))[0]
        clock.now += 60

    assert ["paid", "delivered", "completed"] == [event.escrow.status for event in recorder.events]
    assert {event.escrow.id for event in recorder.events} == {"507f1f77bcf86cd799439011"}


async def test_second_delivered_after_rejection_with_updated_at_is_handled() -> None:
    """delivered → paid (delivery rejected) → delivered: updatedAt tells the two apart."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    escrow_id = "507f1f77bcf86cd799439011"
    for status, minute in (("delivered", 1), ("paid", 2), ("delivered", 3)):
        payload = {
            "type": "escrow.status.updated",
            "id": escrow_id,  # the escrow's id, so it cannot tell events apart
            "status": status,
            "updatedAt": format_timestamp(NOW + 60 * minute),
        }
        assert 200 == (await endpoint.process(*_signed(payload, clock)))[0]

    assert ["delivered", "paid", "delivered"] == [e.escrow.status for e in recorder.events]
    assert not any(event.dedup_ambiguous for event in recorder.events)


_SKELETON = {
    "type": "escrow.status.updated",
    "data": {"escrow": {"id": "e1", "status": "delivered", "title": "Kilim"}},
}


async def test_byte_identical_repeat_is_a_duplicate_by_default_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The safe default: a skeleton payload identical to one handled is not acted on twice."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    await endpoint.process(*_signed(_SKELETON, clock))
    clock.now += 86400  # a day later: the seller delivers again after a rejection
    with caplog.at_level(logging.WARNING, logger="dhmad_async.webhooks"):
        status, answer = await endpoint.process(*_signed(_SKELETON, clock))

    assert (status, json.loads(answer)["duplicate"]) == (200, True)
    assert 1 == len(recorder.events) and recorder.events[0].dedup_ambiguous
    assert "cannot be told from a replay" in caplog.text and "ambiguous_ttl" in caplog.text


async def test_ambiguous_ttl_handles_a_later_byte_identical_repeat() -> None:
    """With ambiguous_ttl the identical repeat is handled once that window has passed."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock, policy=DedupPolicy(ambiguous_ttl=3600))
    await endpoint.process(*_signed(_SKELETON, clock))
    clock.now += 600  # a DHMAD retry or duplicate within the window: still a duplicate
    assert json.loads((await endpoint.process(*_signed(_SKELETON, clock)))[1]).get("duplicate")
    clock.now += 86400  # the genuine second delivery, a day later
    assert (await endpoint.process(*_signed(_SKELETON, clock)))[1] == b'{"received":true}'

    assert 2 == len(recorder.events)


async def test_ambiguous_ttl_does_not_shorten_memory_of_versioned_events() -> None:
    """Payloads with updatedAt are not ambiguous: they keep the store's full ttl."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock, policy=DedupPolicy(ambiguous_ttl=3600))
    payload = {"type": "escrow.status.updated", "id": "e1", "status": "paid", "updatedAt": "x1"}
    body, headers = _signed(payload, clock)
    await endpoint.process(body, headers)
    clock.now += 86400
    headers = dict(headers, **{"X-Webhook-Timestamp": format_timestamp(clock.now)})
    assert json.loads((await endpoint.process(body, headers))[1]).get("duplicate")
    assert 1 == len(recorder.events)


async def test_custom_key_policy() -> None:
    """policy.key replaces the key function (here: type and escrow only, a coarse choice)."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(
        clock, policy=DedupPolicy(key=lambda event: f"{event.type}/{event.data['escrow']['id']}")
    )
    for status in ("paid", "delivered"):
        payload = {
            "type": "escrow.status.updated",
            "data": {"escrow": {"id": "e1", "status": status}},
        }
        await endpoint.process(*_signed(payload, clock))
    assert 1 == len(recorder.events)


async def test_signed_id_header_is_part_of_the_key_when_the_scheme_covers_it() -> None:
    """Under a scheme that signs the id, two deliveries of one body with two ids are two events."""
    clock = FakeClock()
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    recorder = Recorder()
    verifier = WebhookVerifier([secret], clock=clock, scheme=STANDARD_WEBHOOKS_SCHEME)
    endpoint = WebhookReceiver(verifier, recorder, dedup=MemoryDedupStore(ttl=WEEK))
    body = b'{"type":"escrow.status.updated","data":{"escrow":{"id":"e1","status":"paid"}}}'
    timestamp = str(int(NOW))
    for event_id in ("msg_1", "msg_2", "msg_1"):
        headers = {
            "X-Webhook-Id": event_id,
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": sign(
                body,
                secret,
                timestamp=timestamp,
                event_id=event_id,
                scheme=STANDARD_WEBHOOKS_SCHEME,
            ),
        }
        await endpoint.process(body, headers)

    assert ["msg_1", "msg_2"] == [event.id for event in recorder.events]
    assert recorder.events[0].dedup_key != recorder.events[1].dedup_key


# A captured id-less delivery, signed over its JSON.stringify form as DHMAD's sample does,
# and re-encodings an attacker can make that still verify under allow_reserialized=True.
_CAPTURED = (
    b'{"type":"escrow.status.updated","data":{"escrow":'
    b'{"id":"e1","status":"paid","amount":150.5,"title":"Kilim"}}}'
)
_REENCODINGS = [
    pytest.param(b" " + _CAPTURED.replace(b",", b" ,\n ") + b"\n", id="whitespace"),
    pytest.param(_CAPTURED.replace(b'{"type"', b'{"type":"x","type"'), id="repeated-key"),
    pytest.param(_CAPTURED.replace(b"150.5", b"150.50"), id="number-format"),
    pytest.param(_CAPTURED.replace(b'"paid"', b'"\\u0070aid"'), id="string-escape"),
    pytest.param(_CAPTURED.replace(b"150.5", b"1.505e2"), id="exponent"),
]


@pytest.mark.parametrize("replay", _REENCODINGS)
async def test_reencoded_replay_is_refused_through_a_real_http_receiver(replay: bytes) -> None:
    """allow_reserialized=True: a re-encoded copy of a captured delivery is a duplicate."""
    clock = FakeClock()
    recorder = Recorder()
    verifier = WebhookVerifier([SECRET], clock=clock, allow_reserialized=True)
    route = aiohttp_webhook_handler(verifier, recorder, dedup=MemoryDedupStore(clock=clock))
    app = web.Application()
    app.router.add_post("/hooks", route)
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign(_CAPTURED, SECRET),
        "X-Webhook-Timestamp": format_timestamp(NOW),
    }
    async with (
        TestServer(app, host="127.0.0.1", port=0) as server,
        aiohttp.ClientSession() as session,
    ):
        url = server.make_url("/hooks")
        async with session.post(url, data=_CAPTURED, headers=headers) as resp:
            assert resp.status == 200 and await resp.json() == {"received": True}
        clock.now += 3600  # later, with a fresh (unsigned) timestamp
        fresh = dict(headers, **{"X-Webhook-Timestamp": format_timestamp(clock.now)})
        async with session.post(url, data=replay, headers=fresh) as resp:
            answer = (resp.status, await resp.json())
    assert answer == (200, {"received": True, "duplicate": True})
    assert 1 == len(recorder.events)


def test_reencodings_verify_and_share_the_key_of_the_original() -> None:
    """Each re-encoding really is accepted by the fallback (so the test above tests dedup)."""
    verifier = WebhookVerifier([SECRET], tolerance=None, allow_reserialized=True)
    headers = {"X-Webhook-Signature": sign(_CAPTURED, SECRET)}
    original = verifier.verify(_CAPTURED, headers).dedup_key
    for param in _REENCODINGS:
        (replay,) = param.values
        assert isinstance(replay, bytes)
        assert verifier.verify(replay, headers).dedup_key == original
