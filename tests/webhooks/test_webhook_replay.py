"""Replays of a captured delivery are stopped by dedup on signed content, not on headers."""

from __future__ import annotations

import base64
import json

from webhook_support import NOW, SECRET, FakeClock, delivery

from dhmad_async.webhooks import (
    STANDARD_WEBHOOKS_SCHEME,
    MemoryDedupStore,
    WebhookEndpoint,
    WebhookEvent,
    WebhookVerifier,
    format_timestamp,
    sign,
)


class Recorder:
    """A user handler that records the events it ran for."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)


def _endpoint(clock: FakeClock, **verifier_options: object) -> tuple[WebhookEndpoint, Recorder]:
    recorder = Recorder()
    verifier = WebhookVerifier([SECRET], clock=clock, **verifier_options)  # type: ignore[arg-type]
    return WebhookEndpoint(verifier, recorder, dedup=MemoryDedupStore(ttl=7 * 86400)), recorder


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
    await endpoint.aclose()

    assert 200 == status
    assert json.loads(answer)["duplicate"] is True
    assert ["evt_paid"] == [event.id for event in recorder.events]


async def test_body_without_id_is_deduplicated_on_its_hash() -> None:
    """Without a body id, the key is the body's hash, so a header id cannot make it new."""
    clock = FakeClock()
    endpoint, recorder = _endpoint(clock)
    payload = {"type": "escrow.status.updated", "data": {"escrow": {"id": "e1", "status": "paid"}}}
    body, headers = delivery(payload, event_id="first")
    await endpoint.process(body, headers)
    replay = dict(headers, **{"X-Webhook-Id": "second"})
    _, answer = await endpoint.process(body, replay)
    await endpoint.aclose()

    assert json.loads(answer)["duplicate"] is True
    assert 1 == len(recorder.events)
    assert recorder.events[0].dedup_key.startswith("sha256:")


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
    await endpoint.aclose()

    assert ["paid", "delivered", "completed"] == [
        event.data["escrow"]["status"] for event in recorder.events
    ]


async def test_signed_id_header_is_the_dedup_key_when_the_scheme_covers_it() -> None:
    """Under a scheme that signs the id, two deliveries of one body with two ids are two events."""
    clock = FakeClock()
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    recorder = Recorder()
    verifier = WebhookVerifier([secret], clock=clock, scheme=STANDARD_WEBHOOKS_SCHEME)
    endpoint = WebhookEndpoint(verifier, recorder, dedup=MemoryDedupStore(ttl=7 * 86400))
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
    await endpoint.aclose()

    assert ["msg_1", "msg_2"] == [event.dedup_key for event in recorder.events]
