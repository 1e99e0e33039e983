"""
Figure 5, webhook verification: equal work against equal work. CPU only, no I/O.

Two comparisons, for a 1 KiB and a 100 KiB ``escrow.status.updated`` delivery:

**Signature only** (nothing parsed):

* ``bare hmac`` — the baseline: ``hmac.new(secret, body, sha256).hexdigest()`` and
  ``hmac.compare_digest`` with the header, the least a correct check of the default
  scheme does (no header look-up, no timestamp window);
* ``dhmad verify_signature`` — ``WebhookVerifier.verify_signature`` on the default
  scheme (hex HMAC-SHA256 of the raw body) with its default 300 s window;
* ``dhmad verify_signature [std scheme]`` — the same with ``STANDARD_WEBHOOKS_SCHEME``,
  so it MACs exactly the bytes standardwebhooks MACs (``id.timestamp.body``, base64);
* ``standardwebhooks (json_parse=False)`` — ``Webhook.verify(..., json_parse=False)``,
  its documented switch that skips the JSON parse: its signature step, isolated with
  its own public API (header look-up, 5 min window, HMAC, compare, as ours does).

**Verify + parse** (what a webhook handler calls):

* ``bare hmac + json.loads`` — reference only;
* ``dhmad verify`` — ``WebhookVerifier.verify``: signature, window, JSON with exact
  decimals, and the typed ``WebhookEvent``;
* ``dhmad verify [std scheme]`` — the same on the standard-webhooks scheme;
* ``standardwebhooks`` — ``Webhook.verify``: signature, window, ``json.loads`` to a dict;
* ``dhmad verify + dedup_key`` — reference only: ``verify`` then reading the event's
  ``dedup_key``, which is computed on first read (a SHA-256 over the body), as a
  deduplicating handler does.

Interleaved rounds (every case once per round, headers re-signed each round so
timestamps stay fresh), each sample a timeit batch of at least 0.1 s, medians in µs per call. Every
case is checked to accept its delivery before it is timed. ``main()`` returns
``{"signature_only": {name: {size: µs}}, "verify_parse": {...}, ...}``.
Run: ``.venv/bin/python -m benchmarks.bench_webhooks [--quick]``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from benchmarks._common import median
from dhmad_async.webhooks import (
    STANDARD_WEBHOOKS_SCHEME,
    WebhookEvent,
    WebhookVerifier,
    format_timestamp,
    signed_headers,
)

__all__ = ["BARE", "OURS_PARSE", "OURS_SIG", "SW_PARSE", "SW_SIG", "main"]

SIZES = {"1KiB": 1024, "100KiB": 100 * 1024}
SECRET = "a1b2c3d4e5f6a7b8c9d0e1f2"  # a DHMAD-style receiver secret (UTF-8 key)
WHSEC = "whsec_" + base64.b64encode(b"k" * 24).decode()  # the same key for both std verifiers
EVENT_ID = "evt_65f1c0ffee"
SIG_TARGET = 1.2  # signature only: at most 1.2x the bare HMAC
PARSE_TARGET = 1.0  # verify + parse: no slower than standardwebhooks

BARE = "bare hmac"
OURS_SIG = "dhmad verify_signature"
OURS_SIG_STD = "dhmad verify_signature [std scheme]"
SW_SIG = "standardwebhooks (json_parse=False)"
BARE_PARSE = "bare hmac + json.loads"
OURS_PARSE = "dhmad verify"
OURS_PARSE_STD = "dhmad verify [std scheme]"
SW_PARSE = "standardwebhooks"
OURS_PARSE_KEY = "dhmad verify + dedup_key"


def _body(size: int) -> bytes:
    """A compact ``escrow.status.updated`` delivery of exactly ``size`` bytes."""
    payload: dict[str, Any] = {
        "id": EVENT_ID,
        "type": "escrow.status.updated",
        "createdAt": "2026-03-01T12:00:00.000Z",
        "data": {
            "escrow": {
                "id": "507f1f77bcf86cd799439011",
                "status": "paid",
                "title": "Web Development Service",
                "amount": 1500.5,
                "currency": "TND",
                "buyer": {"_id": "507f1f77bcf86cd799439014"},
                "description": "",
            }
        },
    }
    empty = len(json.dumps(payload, separators=(",", ":")).encode())
    payload["data"]["escrow"]["description"] = "x" * (size - empty)
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size, (len(body), size)
    return body


def _cases(size: int) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """(signature-only cases, verify+parse cases) for one body, signed now."""
    body = _body(size)
    now = time.time()
    key = SECRET.encode()
    headers = signed_headers(
        body, SECRET, event_type="escrow.status.updated", event_id=EVENT_ID,
        timestamp=format_timestamp(now),
    )  # fmt: skip
    signature = headers["X-Webhook-Signature"]
    ours = WebhookVerifier([SECRET])

    # The standard-webhooks message: same id, same whole-second timestamp, same key.
    ts = str(int(now))
    std_headers = signed_headers(
        body, WHSEC, event_type="escrow.status.updated", event_id=EVENT_ID, timestamp=ts,
        scheme=STANDARD_WEBHOOKS_SCHEME,
    )  # fmt: skip
    ours_std = WebhookVerifier([WHSEC], scheme=STANDARD_WEBHOOKS_SCHEME)
    sw = Webhook(WHSEC)
    sw_headers = {
        "webhook-id": EVENT_ID,
        "webhook-timestamp": ts,
        "webhook-signature": sw.sign(
            EVENT_ID, datetime.fromtimestamp(int(now), UTC), body.decode()
        ),
    }
    if sw_headers["webhook-signature"] != std_headers["X-Webhook-Signature"]:
        raise RuntimeError("the two standard-webhooks signers disagree: not equal work")

    def bare() -> object:
        return hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), signature)

    def bare_parse() -> object:
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), signature):
            return None
        return json.loads(body)

    signature_only: dict[str, Callable[[], object]] = {
        BARE: bare,
        OURS_SIG: lambda: ours.verify_signature(body, headers),
        OURS_SIG_STD: lambda: ours_std.verify_signature(body, std_headers),
        SW_SIG: lambda: sw.verify(body, sw_headers, json_parse=False),
    }
    verify_parse: dict[str, Callable[[], object]] = {
        BARE_PARSE: bare_parse,
        OURS_PARSE: lambda: ours.verify(body, headers),
        OURS_PARSE_STD: lambda: ours_std.verify(body, std_headers),
        SW_PARSE: lambda: sw.verify(body, sw_headers),
        # Reference, not judged: what a deduplicating handler pays (the event's dedup
        # key is computed on first read: one more SHA-256 over the body).
        OURS_PARSE_KEY: lambda: ours.verify(body, headers).dedup_key,
    }
    _check_accepts(signature_only, verify_parse)
    return signature_only, verify_parse


def _check_accepts(
    signature_only: dict[str, Callable[[], object]], verify_parse: dict[str, Callable[[], object]]
) -> None:
    """Every case must accept its delivery: a rejection timed as fast would be a lie."""
    if signature_only[BARE]() is not True:
        raise RuntimeError("the bare HMAC rejected its delivery")
    for name in (OURS_SIG, OURS_SIG_STD, SW_SIG):
        signature_only[name]()  # raises when rejected
    if not isinstance(verify_parse[BARE_PARSE](), dict) or not isinstance(
        verify_parse[SW_PARSE](), dict
    ):
        raise RuntimeError("a JSON-parsing baseline did not return the body")
    for name in (OURS_PARSE, OURS_PARSE_STD):
        event = verify_parse[name]()
        if not isinstance(event, WebhookEvent) or event.type != "escrow.status.updated":
            raise RuntimeError(f"{name} did not return the typed event: {event!r}")


def _per_call_us(fn: Callable[[], object], min_seconds: float) -> float:
    """µs per call of the first timeit batch (1, 2, 4 … calls) lasting ``min_seconds``."""
    timer = timeit.Timer(fn)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_seconds:
            return elapsed / number * 1e6
        number *= 2


def _medians(by_size: dict[str, list[float]]) -> dict[str, float]:
    return {label: median(values) for label, values in by_size.items()}


def main(*, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print both tables and return medians and samples."""
    rounds, min_seconds = (3, 0.01) if quick else (15, 0.1)
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        "signature_only": {},
        "verify_parse": {},
    }
    for _ in range(rounds):
        for label, size in SIZES.items():  # interleaved: every case once per round
            groups = dict(zip(("signature_only", "verify_parse"), _cases(size), strict=True))
            for group, cases in groups.items():
                for name, fn in cases.items():
                    per_size = samples[group].setdefault(name, {})
                    per_size.setdefault(label, []).append(_per_call_us(fn, min_seconds))
    medians = {
        group: {name: _medians(by_size) for name, by_size in rows.items()}
        for group, rows in samples.items()
    }
    sig, parse = medians["signature_only"], medians["verify_parse"]
    sig_ratio = {label: sig[OURS_SIG][label] / sig[BARE][label] for label in SIZES}
    parse_ratio = {
        name: {label: parse[name][label] / parse[SW_PARSE][label] for label in SIZES}
        for name in (OURS_PARSE, OURS_PARSE_STD)
    }
    sig_vs_sw = {
        name: {label: sig[name][label] / sig[SW_SIG][label] for label in SIZES}
        for name in (OURS_SIG, OURS_SIG_STD)
    }
    worst_parse = max(r for by_size in parse_ratio.values() for r in by_size.values())
    result: dict[str, Any] = {
        "rounds": rounds,
        "min_seconds": min_seconds,
        "sizes": list(SIZES),
        "signature_only": sig,
        "verify_parse": parse,
        "samples_us": samples,
        "sig_ratio_vs_bare": sig_ratio,
        "parse_ratio_vs_standardwebhooks": parse_ratio,
        "sig_ratio_vs_standardwebhooks": sig_vs_sw,
        "sig_target": SIG_TARGET,
        "parse_target": PARSE_TARGET,
        "sig_met": max(sig_ratio.values()) <= SIG_TARGET,
        "parse_met": worst_parse <= PARSE_TARGET,
    }
    result["met"] = result["sig_met"] and result["parse_met"]
    for group, rows in medians.items():
        print(f"{group.replace('_', ' ')}, median µs of {rounds} rounds")
        for name, by_size in rows.items():
            print(f"  {name:<38}" + "".join(f"{by_size[label]:>10.2f}" for label in SIZES))
    print(
        "signature only, dhmad / bare: "
        + ", ".join(f"{v:.2f}x at {k}" for k, v in sig_ratio.items())
    )
    for name, by_size in parse_ratio.items():
        print(f"verify+parse, {name} / standardwebhooks: "
              + ", ".join(f"{v:.2f}x at {k}" for k, v in by_size.items()))  # fmt: skip
    return result


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
