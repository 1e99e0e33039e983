"""
Benchmark webhook verification: ours vs a bare hmac baseline vs standardwebhooks. CPU only.

Runs interleaved rounds with timeit and reports medians in microseconds per
verification, for 1 KiB and 100 KiB bodies. ``main()`` returns
``{name: {size: µs}}``. Run: ``.venv/bin/python benchmarks/bench_webhooks.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import timeit
from collections.abc import Callable

from standardwebhooks import Webhook

from dhmad_async.webhooks import WebhookVerifier, format_timestamp, signed_headers

SIZES = {"1KiB": 1024, "100KiB": 100 * 1024}
ROUNDS = 15
SECRET = "a1b2c3d4e5f6a7b8c9d0e1f2"


def _body(size: int) -> bytes:
    filler = "x" * max(0, size - 80)
    body = json.dumps({"type": "escrow.status.updated", "data": {"note": filler}}).encode()
    return body[:size] if len(body) > size else body


def _cases(size: int) -> dict[str, Callable[[], object]]:
    body = _body(size)
    now = time.time()
    headers = signed_headers(
        body, SECRET, event_type="escrow.status.updated", event_id="evt_1",
        timestamp=format_timestamp(now),
    )  # fmt: skip
    signature = headers["X-Webhook-Signature"]
    key = SECRET.encode()
    verifier = WebhookVerifier([SECRET])

    def bare() -> object:
        return hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), signature)

    def ours() -> object:
        verifier.verify_signature(body, headers)
        return None

    sw_secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    sw = Webhook(sw_secret)
    sw_headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now)),
        "webhook-signature": sw.sign("msg_1", sw_now(now), body.decode()),
    }

    def standard() -> object:
        return sw.verify(body, sw_headers)

    return {"bare hmac": bare, "dhmad verify_signature": ours, "standardwebhooks": standard}


def sw_now(now: float) -> object:
    """The datetime standardwebhooks signs with."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(now), UTC)


def _per_call_us(fn: Callable[[], object]) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return timer.timeit(number) / number * 1e6


def main() -> dict[str, dict[str, float]]:
    """Run the benchmark, print the table and return medians {name: {size: µs}}."""
    cases = {label: _cases(size) for label, size in SIZES.items()}
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(ROUNDS):
        for label, by_name in cases.items():  # interleaved: every case once per round
            for name, fn in by_name.items():
                samples.setdefault(name, {}).setdefault(label, []).append(_per_call_us(fn))
    result = {
        name: {label: statistics.median(values) for label, values in by_size.items()}
        for name, by_size in samples.items()
    }
    print(f"{'verifier':<26}" + "".join(f"{label:>12}" for label in SIZES) + "   (median µs)")
    for name, by_size in result.items():
        print(f"{name:<26}" + "".join(f"{by_size[label]:>12.2f}" for label in SIZES))
    for label in SIZES:
        ratio = result["dhmad verify_signature"][label] / result["bare hmac"][label]
        print(f"ratio dhmad/bare at {label}: {ratio:.2f}x")
    return result


if __name__ == "__main__":
    main()
