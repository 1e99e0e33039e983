"""
Signature management: the documented host path, checked images, and auto_sign's pre-check.

Before this, ``DhmadDeveloperClient`` had no ``signature`` resource and the
client could only build ``/api/v1`` and ``/api`` URLs, so the documented
``/developer/signature`` (no ``/api`` prefix) was unreachable, and
``auto_sign=True`` failed on the server only.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from client_fakes import SANDBOX_KEY, InstantClock, RecordingTransport, response, sample

from dhmad_async import DhmadClient, DhmadDeveloperClient, InvalidParamsError, RateLimit
from dhmad_async.resources import signature_data_uri
from dhmad_async.testing import Emulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
GIF = b"GIF89a" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


def _uri(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _developer(transport: RecordingTransport) -> DhmadDeveloperClient:
    return DhmadDeveloperClient(
        "devtok",
        environment="sandbox",
        transport=transport,
        rate_limit=RateLimit.disabled(),
        clock=InstantClock(),
    )


ESCROW = {
    "title": "Logo",
    "amount": "100",
    "buyer_email": "buyer@example.com",
    "contract_terms": "Deliver the logo.",
    "estimated_delivery_days": 7,
    "auto_sign": True,
}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A developer account that starts without a signature, as a new one does."""
    async with Emulator(signature_configured=False) as e:
        yield e


async def test_paths_are_on_the_host_without_api() -> None:
    """GET and PUT go to https://sandbox.dhmad.tn/developer/signature with the developer token."""
    transport = RecordingTransport(response(200, sample("signature_get")))
    developer = _developer(transport)
    status = await developer.signature.get()
    assert status.has_signature is True
    transport.queue(response(200, sample("signature_put")))
    updated = await developer.signature.set(PNG)
    assert updated.message == "Signature updated successfully"
    get, put = transport.sent
    assert (get.method, get.url) == ("GET", "https://sandbox.dhmad.tn/developer/signature")
    assert (put.method, put.url) == ("PUT", "https://sandbox.dhmad.tn/developer/signature")
    assert get.headers["Authorization"] == "Bearer devtok"
    assert put.json() == {"signatureImage": _uri("png", PNG)}


@pytest.mark.parametrize(
    ("image", "sent"),
    [
        (_uri("png", PNG), _uri("png", PNG)),
        (_uri("JPEG", JPEG), _uri("jpeg", JPEG)),  # the type is case-insensitive
        (_uri("jpg", JPEG), _uri("jpg", JPEG)),
        (_uri("gif", GIF), _uri("gif", GIF)),
        (_uri("webp", WEBP), _uri("webp", WEBP)),
        (JPEG, _uri("jpeg", JPEG)),  # bytes are sniffed and encoded
        (WEBP, _uri("webp", WEBP)),
    ],
)
def test_accepted_images(image: str | bytes, sent: str) -> None:
    """Every documented type is accepted, as a data URI or as the file's bytes."""
    assert signature_data_uri(image) == sent


@pytest.mark.parametrize(
    ("image", "rule"),
    [
        ("iVBORw0KGgo=", "must be a base64 data URI"),
        (_uri("svg+xml", PNG), "must be a base64 data URI"),
        (_uri("bmp", PNG), "image/bmp is not accepted"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        (_uri("png", JPEG), "declares image/png but the data is a JPEG image"),
        (_uri("gif", b"hello"), "declares image/gif but the data is not an image"),
        (b"%PDF-1.7", "must be the bytes of a PNG, JPEG, GIF or WEBP image"),
        (42, "must be a data URI string or the image's bytes"),
    ],
)
async def test_bad_images_are_refused_before_sending(image: object, rule: str) -> None:
    """A wrong type, bad base64 or bytes that are not the declared image: nothing is sent."""
    transport = RecordingTransport()
    with pytest.raises(InvalidParamsError) as info:
        await _developer(transport).signature.set(image)  # type: ignore[arg-type]
    assert "signature_image" in info.value.errors
    assert rule in info.value.errors["signature_image"]
    assert transport.sent == []


async def test_emulator_developer_starts_without_signature_and_can_set_one(emu: Emulator) -> None:
    """Against the emulator: no signature, upload one, then there is one."""
    async with DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as developer:
        assert (await developer.signature.get()).has_signature is False
        assert (await developer.signature.set(PNG)).has_signature is True
        assert (await developer.signature.get()).has_signature is True
    assert emu.request_counts["GET /developer/signature"] == 2
    assert emu.request_counts["PUT /developer/signature"] == 1


async def test_check_signature_names_the_problem_and_sends_no_escrow(emu: Emulator) -> None:
    """With no signature, create(auto_sign=True, check_signature=True) refuses before POSTing."""
    async with DhmadClient(
        emu.api_key, base_url=emu.base_url, developer_token=emu.developer_token
    ) as client:
        with pytest.raises(InvalidParamsError) as info:
            await client.escrows.create(**ESCROW, check_signature=True)
        assert "needs a signature configured" in info.value.errors["auto_sign"]
        assert emu.request_counts["POST /api/v1/escrows"] == 0
        assert emu.request_counts["GET /developer/signature"] == 1
        async with DhmadDeveloperClient(emu.developer_token, base_url=emu.base_url) as dev:
            await dev.signature.set(PNG)
            created = await client.escrows.create(**ESCROW, check_signature=dev)
        assert created.escrow.id
        created = await client.escrows.create(**ESCROW, check_signature=True)
        assert created.escrow.id
    assert emu.request_counts["POST /api/v1/escrows"] == 2


async def test_without_the_check_the_server_refuses(emu: Emulator) -> None:
    """The emulator's 400 is what check_signature spares you (and it is what the docs say)."""
    from dhmad_async import BadRequestError

    async with DhmadClient(emu.api_key, base_url=emu.base_url) as client:
        with pytest.raises(BadRequestError, match="signature"):
            await client.escrows.create(**ESCROW)


async def test_check_signature_true_needs_a_developer_token() -> None:
    """check_signature=True on a client without developer_token: a clear error, nothing sent."""
    transport = RecordingTransport()
    client = DhmadClient(
        SANDBOX_KEY, transport=transport, rate_limit=RateLimit.disabled(), clock=InstantClock()
    )
    with pytest.raises(InvalidParamsError) as info:
        await client.escrows.create(**ESCROW, check_signature=True)
    assert "developer_token" in info.value.errors["check_signature"]
    assert transport.sent == []
    assert "devtok" not in repr(DhmadClient(SANDBOX_KEY, developer_token="devtok"))


async def test_check_is_skipped_without_auto_sign() -> None:
    """Without auto_sign there is nothing to check: only the create is sent."""
    transport = RecordingTransport(response(200, sample("escrow_create")))
    client = DhmadClient(
        SANDBOX_KEY,
        transport=transport,
        rate_limit=RateLimit.disabled(),
        clock=InstantClock(),
        developer_token="devtok",
    )
    await client.escrows.create(**{**ESCROW, "auto_sign": None}, check_signature=True)
    assert [s.path for s in transport.sent] == ["/api/v1/escrows"]
