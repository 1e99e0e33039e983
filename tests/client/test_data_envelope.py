"""The client accepts the ``{"data": …}`` envelope on any response (the API overview shows it)."""

from __future__ import annotations

from decimal import Decimal

from client_fakes import RecordingTransport, make_client, response, sample

ESCROW_ID = "507f1f77bcf86cd799439011"


async def test_the_client_accepts_the_data_envelope_on_any_response() -> None:
    """Create, get, list and a bare-object endpoint, each answered inside {"data": ...}."""
    wrapped = [
        response(201, {"data": sample("escrow_create")}),
        response(200, {"data": sample("escrow_get")}),
        response(200, {"data": sample("escrow_list")}),
        response(200, {"data": sample("identity_list")}),
        response(200, {"data": sample("me")}),
    ]
    client = make_client(RecordingTransport().queue(*wrapped))
    created = await client.escrows.create(
        title="Website design",
        amount=Decimal("500"),
        buyer_email="buyer@example.com",
        contract_terms="Terms.",
        estimated_delivery_days=14,
    )
    assert created.escrow.id == ESCROW_ID
    assert (await client.escrows.get(ESCROW_ID)).status == "paid"
    async for page in client.escrows.list().pages():  # the sample says 3 pages: read one
        assert [e.id for e in page.escrows] == [ESCROW_ID] and page.pagination.total == 45
        break
    verifications = await client.identity_verifications.list(email="seller@example.com")
    assert isinstance(verifications, list) and len(verifications) == 1
    assert (await client.account.me()).api_key is not None
