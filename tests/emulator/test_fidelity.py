"""The emulator's fidelity profiles: the documented profile answers only what the docs show.

The expected field sets are written out here from the documentation's examples (not
imported from the emulator), so a field added to the emulator's allow-list by mistake
fails a test. Raw HTTP over 127.0.0.1, no SDK.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from emulator_support import Raw

from dhmad_async.testing import (
    ApiOptions,
    Emulator,
    FakeClock,
    Fidelity,
    ServerRateLimitOptions,
)

BUYER = "buyer@example.com"
SELLER = "seller@example.com"
USER = {"_id", "email", "firstName", "lastName"}
LIST_ITEM = {
    "id",
    "title",
    "amount",
    "escrowFee",
    "status",
    "seller",
    "buyer",
    "estimatedDeliveryDays",
    "paidAt",
    "deliveredAt",
    "completedAt",
    "cancelledAt",
    "createdAt",
    "updatedAt",
}
GET_ITEM = {
    "id",
    "_id",
    "title",
    "amount",
    "escrowFee",
    "status",
    "mode",
    "seller",
    "buyer",
    "estimatedDeliveryDays",
    "expiresAt",
    "paidAt",
    "deliveredAt",
    "completedAt",
    "cancelledAt",
    "createdAt",
    "updatedAt",
    "createdViaThirdParty",
    "createdByApplicationName",
    "disputeTicketId",
    "disputeTicket",
    "signatures",
}
CREATE_ITEM = {
    "id",
    "title",
    "amount",
    "currency",
    "amountTnd",
    "escrowFee",
    "developerFee",
    "developerFeePercentage",
    "status",
    "mode",
    "seller",
    "sellerEmail",
    "buyer",
    "buyerEmail",
    "estimatedDeliveryDays",
    "createdAt",
}


def _rate_headers(headers: dict[str, str]) -> list[str]:
    return [h for h in headers if "ratelimit" in h.lower() or h.lower() == "retry-after"]


@pytest.fixture
async def documented() -> AsyncIterator[Raw]:
    """A raw client on a documented-profile emulator (the default)."""
    async with Emulator() as emu, aiohttp.ClientSession() as http:
        assert emu.fidelity == "documented"
        yield Raw(emu, http)


async def test_documented_list_items_carry_only_the_documented_fields(documented: Raw) -> None:
    """GET /escrows items have no buyerEmail, sellerEmail, currency or mode."""
    await documented.create()
    _, body, _ = await documented.call("GET", "/escrows")
    (item,) = body["escrows"]
    assert set(item) == LIST_ITEM
    assert set(item["seller"]) == USER and item["buyer"] is None  # the buyer has no account
    assert set(body["pagination"]) == {"page", "limit", "total", "pages"}


async def test_documented_get_create_and_actions_follow_their_examples(documented: Raw) -> None:
    """Create, get, update, cancel and the session responses carry their examples' fields."""
    created = await documented.create()
    assert set(created) == {"message", "escrow", "contract", "url", "trackingId"}
    assert set(created["escrow"]) == CREATE_ITEM
    # The associated user is the seller: the quickstart example shows a bare id, no email.
    assert created["escrow"]["sellerEmail"] is None
    assert isinstance(created["escrow"]["seller"], str)
    assert set(created["contract"]) == {
        "id",
        "pdfUrl",
        "sellerSigned",
        "buyerSigned",
        "isFullySigned",
    }
    esc_id = created["escrow"]["id"]
    _, got, _ = await documented.call("GET", f"/escrows/{esc_id}")
    assert set(got["escrow"]) == GET_ITEM
    assert "buyerEmail" not in got["escrow"] and "currency" not in got["escrow"]
    _, updated, _ = await documented.call("PUT", f"/escrows/{esc_id}", json={"title": "New"})
    assert set(updated["escrow"]) == {
        "id",
        "title",
        "amount",
        "escrowFee",
        "status",
        "description",
        "estimatedDeliveryDays",
        "createdAt",
        "updatedAt",
    }
    sid = await documented.session_for(esc_id, "sign_contract", BUYER)
    _, session, _ = await documented.call("GET", f"/sessions/{sid}")
    assert "redirectUrl" not in session["session"]
    _, cancelled, _ = await documented.call("POST", f"/escrows/{esc_id}/cancel")
    assert set(cancelled["escrow"]) == {
        "id",
        "title",
        "amount",
        "status",
        "cancelledAt",
        "createdAt",
        "updatedAt",
    }


async def test_documented_deliver_and_reject_delivery_shapes(documented: Raw) -> None:
    """Deliver, instant deliver and reject-delivery answer with their examples' fields."""
    raw = documented
    esc_id = (await raw.create())["escrow"]["id"]
    await raw.act(esc_id, "sign_contract", raw.emu.user_email)
    await raw.act(esc_id, "sign_contract", BUYER)
    await raw.act(esc_id, "accept_pay", BUYER)
    _, delivered, _ = await raw.call("POST", f"/escrows/{esc_id}/deliver")
    assert set(delivered["escrow"]) == {
        "id",
        "title",
        "amount",
        "status",
        "deliveredAt",
        "completionDeadline",
        "createdAt",
        "updatedAt",
    }
    buyer_key = raw.emu.create_api_key(user_email=BUYER).key
    _, rejected, _ = await raw.call(
        "POST", f"/escrows/{esc_id}/reject-delivery", json={"reason": "late"}, key=buyer_key
    )
    assert "deliveryRejections" in rejected["escrow"] and "mode" not in rejected["escrow"]
    assert set(rejected["escrow"]["deliveryRejections"][0]) == {
        "rejectedAt",
        "reason",
        "previousDeliveredAt",
    }
    instant = (await raw.create(mode="instant", contractTerms=None))["escrow"]["id"]
    await raw.act(instant, "accept_pay", BUYER)
    _, done, _ = await raw.call("POST", f"/escrows/{instant}/deliver")
    assert set(done["escrow"]) == {"id", "status", "deliveredAt", "completedAt"}


async def test_generous_profile_keeps_every_stored_field(http: aiohttp.ClientSession) -> None:
    """Generous lists emails, currency and mode, as the emulator always did."""
    async with Emulator(fidelity="generous") as emu:
        raw = Raw(emu, http)
        await raw.create()
        _, body, _ = await raw.call("GET", "/escrows")
        (item,) = body["escrows"]
        assert {"buyerEmail", "sellerEmail", "currency", "mode", "amountTnd"} <= set(item)
        assert item["buyerEmail"] == BUYER and item["sellerEmail"] == emu.user_email


@pytest.mark.parametrize("fidelity", ["documented", "generous"])
async def test_list_without_role_shows_only_the_associated_users_escrows(
    http: aiohttp.ClientSession, fidelity: Fidelity
) -> None:
    """An escrow the key made between two other users: listed only by the generous profile."""
    async with Emulator(fidelity=fidelity) as emu:
        raw = Raw(emu, http)
        own = (await raw.create())["escrow"]["id"]
        third = (
            await raw.create(mode="quick", contractTerms=None, sellerEmail=SELLER, buyerEmail=BUYER)
        )["escrow"]["id"]
        _, body, _ = await raw.call("GET", "/escrows")
        listed = [e["id"] for e in body["escrows"]]
        assert listed == ([own] if fidelity == "documented" else [third, own])
        assert body["pagination"]["total"] == len(listed)
        # The creator may still read it by id (§2.5), in both profiles.
        status, got, _ = await raw.call("GET", f"/escrows/{third}")
        assert status == 200 and got["escrow"]["id"] == third
        # With a role, only the associated user's role counts.
        _, sellers, _ = await raw.call("GET", "/escrows", params={"role": "seller"})
        assert [e["id"] for e in sellers["escrows"]] == [own]


@pytest.mark.parametrize("unit", ["s", "ms"])
async def test_documented_429_has_only_the_documented_body(
    http: aiohttp.ClientSession, unit: str
) -> None:
    """Documented 429: exactly error, message and retryAfter; no Retry-After, no rate headers."""
    options = ServerRateLimitOptions(limit=2, retry_after_unit=unit)  # type: ignore[arg-type]
    # A fake clock that never moves: the window's one real second is exactly ahead.
    async with Emulator(time_scale=60, rate_limit=options, clock=FakeClock()) as emu:
        raw = Raw(emu, http)
        seen = [await raw.call("GET", "/me") for _ in range(3)]
    assert [status for status, _, _ in seen] == [200, 200, 429]
    for _, _, headers in seen:
        assert _rate_headers(headers) == []
    _, body, _ = seen[2]
    assert set(body) == {"error", "message", "retryAfter"}
    assert body["error"] == "Too Many Requests"
    # The window is one real second: the value is that second in the chosen unit.
    assert body["retryAfter"] == (1 if unit == "s" else 1000)


async def test_generous_429_sends_headers_and_retry_after(http: aiohttp.ClientSession) -> None:
    """The generous profile keeps X-RateLimit-* on every answer and Retry-After on a 429."""
    options = ServerRateLimitOptions(limit=1)
    async with Emulator(
        fidelity="generous", time_scale=60, rate_limit=options, clock=FakeClock()
    ) as emu:
        raw = Raw(emu, http)
        _, _, ok = await raw.call("GET", "/me")
        status, _, refused = await raw.call("GET", "/me")
    assert ok["X-RateLimit-Remaining"] == "0"
    assert status == 429 and refused["Retry-After"] == "1"


async def test_null_empty_arrays_option(http: aiohttp.ClientSession) -> None:
    """With null_empty_arrays, empty arrays (pdfVersions, an empty page) come back as null."""
    async with Emulator(api=ApiOptions(null_empty_arrays=True)) as emu:
        raw = Raw(emu, http)
        _, empty, _ = await raw.call("GET", "/escrows")
        assert empty["escrows"] is None and empty["pagination"]["total"] == 0
        esc_id = (await raw.create())["escrow"]["id"]
        _, contract, _ = await raw.call("GET", f"/escrows/{esc_id}/contract")
        assert contract["contract"]["pdfVersions"] is None


async def test_data_envelope_option(http: aiohttp.ClientSession) -> None:
    """With data_envelope, escrow endpoints answer {"data": ...}; other endpoints do not."""
    async with Emulator(api=ApiOptions(data_envelope=True)) as emu:
        raw = Raw(emu, http)
        status, created, _ = await raw.call(
            "POST",
            "/escrows",
            json={
                "title": "T",
                "amount": 10,
                "buyerEmail": BUYER,
                "estimatedDeliveryDays": 1,
                "contractTerms": "x",
            },
        )
        assert status == 201 and set(created) == {"data"}
        esc_id = created["data"]["escrow"]["id"]
        _, got, _ = await raw.call("GET", f"/escrows/{esc_id}")
        assert got["data"]["escrow"]["id"] == esc_id
        _, me, _ = await raw.call("GET", "/me")
        assert "apiKey" in me
        _, error, _ = await raw.call("GET", "/escrows/" + "f" * 24)
        assert error == {"error": "Escrow not found"}  # errors are never wrapped


async def test_unknown_profile_is_refused() -> None:
    """A misspelt profile name fails at construction, naming the choices."""
    with pytest.raises(ValueError, match="documented, generous"):
        Emulator(fidelity="documentd")  # type: ignore[arg-type]


async def test_control_fault_route_accepts_fractional_rates(documented: Raw) -> None:
    """POST /__emulator__/faults with a JSON float rate faults a share of requests, no 500s."""
    control = documented.emu.control_url
    rules = {"rules": [{"method": "GET", "path": "/api/v1/me", "error_503": 0.5}], "seed": 3}
    status, body, _ = await documented.call("POST", "/faults", json=rules, key=None, base=control)
    assert status == 200 and body == {"rules": 1}
    statuses = [(await documented.call("GET", "/me"))[0] for _ in range(30)]
    assert set(statuses) == {200, 503}
    bad = {"rules": [{"error_500": 1.5}]}
    status, body, _ = await documented.call("POST", "/faults", json=bad, key=None, base=control)
    assert status == 400 and "between 0 and 1" in body["message"]


async def test_cli_serves_the_chosen_profile() -> None:
    """`python -m dhmad_async emulator --fidelity generous` prints and serves that profile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dhmad_async",
        "emulator",
        "--fidelity",
        "generous",
        "--retry-after-unit",
        "ms",
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        while "api_key" not in lines:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "the emulator exited"
            name, _, value = line.partition(":")
            lines[name.strip()] = value.strip()
        assert lines["fidelity"] == "generous"
        headers = {"Authorization": f"Bearer {lines['api_key']}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(lines["base_url"] + "/me", headers=headers) as resp,
        ):
            assert resp.status == 200 and "X-RateLimit-Limit" in resp.headers
    finally:
        proc.terminate()
        await proc.wait()
