"""The demo (`make demo`) runs the marketplace flow against the emulator with no surprises."""

from __future__ import annotations

import io
import re

import pytest

from dhmad_async._cli import main
from dhmad_async._demo import DEMO_MARGIN, run_demo
from dhmad_async.testing import FIDELITY_PROFILES, Fidelity


@pytest.mark.parametrize("fidelity", FIDELITY_PROFILES)
async def test_demo_flow_reaches_every_state_without_429s(fidelity: Fidelity) -> None:
    """A short demo run creates, lists and drives escrows, and verifies every webhook.

    In the documented profile the server sends no rate-limit headers, so the client's
    own budget alone must keep it under the limit.
    """
    out = io.StringIO()

    summary = await run_demo(count=30, stream=out, time_scale=60.0, fidelity=fidelity)

    statuses = summary["escrows_by_status"]
    assert {"completed": 2, "paid": 1, "cancelled": 1} == {
        key: statuses.get(key) for key in ("completed", "paid", "cancelled")
    }
    # 30 in the batch + the one we buy; the rest stay pending.
    assert 31 == sum(statuses.values())
    assert 0 == summary["rate_limited_429"]
    assert summary["max_in_any_window"] <= 100
    assert summary["webhooks_delivered"] == summary["webhooks_verified"]
    assert summary["webhooks_verified"] >= 10
    assert "escrow.delivery.rejected" in summary["webhook_types"]
    assert "Summary" in out.getvalue() and f"({fidelity} profile)" in out.getvalue()
    # The margin is real time (scheduling does not speed up with the time scale), and
    # every client of the demo spends one budget: the server counts per IP.
    assert summary["client_margin_s"] == DEMO_MARGIN == 1.0
    assert "margin 1000 ms for scheduling delays), shared by every client" in out.getvalue()
    assert re.search(r"client margin +1000 ms", out.getvalue())


def test_demo_live_without_key_explains_and_exits_2(capsys: object) -> None:
    """`demo --live` without DHMAD_API_KEY says what is missing instead of crashing."""
    assert 2 == main(["demo", "--live"])
