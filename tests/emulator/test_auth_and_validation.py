"""Auth, association and request validation follow REFERENCE §1.2, §1.3, §2.3, §3.3."""

from __future__ import annotations

from decimal import Decimal

import pytest
from emulator_support import Raw

from dhmad_async.testing import Emulator

MISSING = {"error": "Unauthorized", "message": "Missing API key. Please include X-API-Key header."}


async def test_missing_key_is_401_with_documented_body(raw: Raw) -> None:
    """A request without a key gets the documented 401 body."""
    status, body, _ = await raw.call("GET", "/me", key=None)
    assert (status, body) == (401, MISSING)


async def test_invalid_and_live_keys_are_rejected(raw: Raw) -> None:
    """An unknown key and a live key against the sandbox emulator both get 401."""
    status, body, _ = await raw.call("GET", "/me", key="sk_sandbox_" + "0" * 64)
    assert (status, body["message"]) == (401, "Invalid or expired API key")
    live = raw.emu.create_api_key(user_email="merchant@example.com", environment="live")
    status, body, _ = await raw.call("GET", "/me", key=live.key)
    assert status == 401 and "sk_sandbox_" in body["message"]


async def test_x_api_key_header_works_and_me_shape(raw: Raw) -> None:
    """The X-API-Key header form authenticates and /me returns apiKey and developer."""
    status, body, _ = await raw.call("GET", "/me", key=None, headers={"X-API-Key": raw.emu.api_key})
    assert status == 200
    assert body["apiKey"]["environment"] == "sandbox" and body["apiKey"]["rateLimit"] == 100
    assert "key" not in body["apiKey"] and raw.emu.api_key not in str(body)


async def test_unassociated_key_gets_403_except_where_allowed(raw: Raw) -> None:
    """An unassociated key: /me works, /balance is 403, creation with sellerEmail works."""
    key = raw.emu.create_api_key(user_email=None).key
    assert (await raw.call("GET", "/me", key=key))[0] == 200
    status, body, _ = await raw.call("GET", "/balance", key=key)
    assert status == 403 and body["error"] == "Forbidden" and "associated" in body["message"]
    payload = {
        "title": "T",
        "amount": 10,
        "buyerEmail": "b@example.com",
        "estimatedDeliveryDays": 1,
        "contractTerms": "x",
    }
    assert (await raw.call("POST", "/escrows", json=payload, key=key))[0] == 403
    payload["sellerEmail"] = "s@example.com"
    assert (await raw.call("POST", "/escrows", json=payload, key=key))[0] == 201
    ver = {"email": "kyc@example.com"}
    assert (await raw.call("POST", "/identity-verifications", json=ver, key=key))[0] == 201


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"contractTerms": None}, "contractTerms"),
        ({"mode": "quick", "sellerEmail": "s@example.com"}, "contractTerms"),
        ({"mode": "quick", "contractTerms": None}, "sellerEmail"),
        ({"mode": "instant", "contractTerms": None, "sellerEmail": "s@example.com"}, "sellerEmail"),
        ({"mode": "instant", "contractTerms": None, "autoSign": True}, "autoSign"),
        ({"amount": 4.99}, "amount"),
        ({"amount": -1}, "amount"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"contractTerms": "x" * 10_001}, "contractTerms"),
        ({"description": "x" * 2001}, "description"),
        ({"estimatedDeliveryDays": 0}, "estimatedDeliveryDays"),
        ({"currency": "GBP"}, "currency"),
        ({"fulfillmentPolicy": {"type": "purchase_proof_required"}}, "fulfillmentPolicy"),
        (
            {
                "mode": "quick",
                "contractTerms": None,
                "sellerEmail": "s@example.com",
                "fulfillmentPolicy": {
                    "type": "purchase_proof_required",
                    "proofUploadDeadlineHours": 5,
                },
            },
            "fulfillmentPolicy.proofUploadDeadlineHours",
        ),
    ],
)
async def test_create_rejects_bad_combinations(
    raw: Raw, fields: dict[str, object], field: str
) -> None:
    """Mode rules, bounds and minimums give 400 Invalid request parameters naming the field."""
    payload: dict[str, object] = {
        "title": "Website",
        "amount": 1000,
        "buyerEmail": "buyer@example.com",
        "estimatedDeliveryDays": 7,
        "contractTerms": "Deliver.",
    }
    payload.update(fields)
    payload = {k: v for k, v in payload.items() if v is not None}
    status, body, _ = await raw.call("POST", "/escrows", json=payload)
    assert status == 400
    assert body["error"] == "Bad Request" and body["message"] == "Invalid request parameters"
    assert field in body["details"]


async def test_create_fees_fx_and_shapes(raw: Raw) -> None:
    """Create returns 201 with 5 % fee, FX-locked amountTnd and a contract for standard."""
    body = await raw.create(amount=Decimal("1500.50"))
    esc = body["escrow"]
    assert esc["escrowFee"] == Decimal("75.025") and esc["amountTnd"] == Decimal("1500.5")
    assert len(esc["id"]) == 24 and body["trackingId"] == esc["id"]
    assert body["contract"]["isFullySigned"] is False
    usd = await raw.create(amount=10, currency="USD", mode="instant", contractTerms=None)
    assert usd["escrow"]["amountTnd"] == 31 and usd["contract"] is None
    tiny = await raw.create(amount=Decimal("0.01"), mode="instant", contractTerms=None)
    assert tiny["escrow"]["status"] == "pending"


async def test_malformed_json_is_400(raw: Raw) -> None:
    """A body that is not JSON gets a 400 with details."""
    async with raw.session.post(
        raw.emu.base_url + "/escrows",
        data=b"{nope",
        headers={"Authorization": f"Bearer {raw.emu.api_key}"},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "Invalid request parameters"


async def test_list_pagination_and_limit(raw: Raw) -> None:
    """List is newest first, paginates, filters by status and rejects limit over 100."""
    ids = [(await raw.create(title=f"E{i}"))["escrow"]["id"] for i in range(3)]
    status, body, _ = await raw.call("GET", "/escrows", params={"limit": "2"})
    assert status == 200 and [e["id"] for e in body["escrows"]] == ids[::-1][:2]
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}
    status, body, _ = await raw.call("GET", "/escrows", params={"limit": "101"})
    assert status == 400 and "limit" in body["details"]
    _, body, _ = await raw.call("GET", "/escrows", params={"status": "paid"})
    assert body["escrows"] == []
    _, body, _ = await raw.call("GET", "/escrows", params={"role": "buyer"})
    assert body["pagination"]["total"] == 0


async def test_other_users_key_cannot_see_escrow(raw: Raw) -> None:
    """A key of another developer whose user is not a party gets 403 on get."""
    esc = (await raw.create())["escrow"]
    other = raw.emu.create_api_key(user_email="stranger@example.com").key
    status, body, _ = await raw.call("GET", f"/escrows/{esc['id']}", key=other)
    assert status == 403 and body["error"] == "Forbidden"
    assert (await raw.call("GET", "/escrows/" + "f" * 24))[1] == {"error": "Escrow not found"}


async def test_two_emulators_are_independent() -> None:
    """Two emulators in one process have different ports and keys."""
    async with Emulator() as a, Emulator(user_email="other@example.com") as b:
        assert a.base_url != b.base_url and a.api_key != b.api_key
        assert b.user_email == "other@example.com"
