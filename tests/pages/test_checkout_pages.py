"""The hosted checkout pages over HTTP: session URLs, CSRF, single use, cancel/expiry, escaping.

The browser tests (tests/browser) click through the same pages in Chromium; these
check the rules at the HTTP level, where a forged request is easy to build.
"""

from __future__ import annotations

import aiohttp
import pytest
from pages_support import BUYER, SELLER, Browser, query_of, quick_escrow, session_url, token_of

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator, PageOptions, ServerRateLimitOptions
from dhmad_async.testing._pages import redirect_back


async def test_session_url_points_at_the_emulator(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    assert url == f"{dhmad_emulator.origin}/checkout/{sid}"
    assert url.startswith("http://127.0.0.1:")
    status, html, headers = await web.get(url)
    assert status == 200
    assert "Ceramic set" in html and "Accept &amp; pay 250.000 TND" in html
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script source at all
    assert headers["X-Frame-Options"] == "DENY"


async def test_accept_pay_redirects_with_status_completed_and_applies_the_transition(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    token = token_of(html)
    status, _, headers = await web.post(url, {"csrf_token": token, "choice": "accept"})
    assert status == 303
    location = headers["Location"]
    assert location.startswith("http://127.0.0.1:3000/checkout/callback?")
    # The shop's own query survives; only the documented status is added by default.
    assert query_of(location) == {"order": ["42"], "status": ["completed"]}
    assert (await dhmad_client.escrows.get(escrow_id)).status == "paid"
    assert (await dhmad_client.checkout_sessions.get(sid)).status == "completed"
    # Single use: the page says so and a second submit changes nothing.
    assert (await web.get(url))[0] == 410
    status, html, _ = await web.post(url, {"csrf_token": token, "choice": "accept"})
    assert status == 409 and "already used" in html
    assert [e["type"] for e in dhmad_emulator.outbox.events] == ["escrow.status.updated"]


@pytest.mark.dhmad_emulator(pages=PageOptions(redirect_session_id=True))
async def test_session_id_in_the_redirect_is_an_option(
    dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    _, _, headers = await web.post(url, {"csrf_token": token_of(html), "choice": "accept"})
    assert query_of(headers["Location"]) == {
        "order": ["42"],
        "status": ["completed"],
        "session_id": [sid],
    }


@pytest.mark.parametrize("forgery", ["no token", "wrong token", "no cookie"])
async def test_a_forged_post_is_refused_and_changes_nothing(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser, forgery: str
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    token = token_of(html)
    if forgery == "no cookie":
        async with (
            aiohttp.ClientSession() as stranger,
            stranger.post(
                url, data={"csrf_token": token, "choice": "accept"}, allow_redirects=False
            ) as resp,
        ):
            status, body = resp.status, await resp.text()
    else:
        data = {"choice": "accept"}
        if forgery == "wrong token":
            data["csrf_token"] = token[:-1] + ("0" if token[-1] != "0" else "1")
        status, body, _ = await web.post(url, data)
    assert status == 403 and "Form refused" in body
    assert (await dhmad_client.escrows.get(escrow_id)).status == "pending"
    assert (await dhmad_client.checkout_sessions.get(sid)).status == "pending"
    assert [e["type"] for e in dhmad_emulator.outbox.events] == []


async def test_a_token_is_bound_to_its_session(dhmad_client: DhmadClient, web: Browser) -> None:
    first = await quick_escrow(dhmad_client)
    second = await quick_escrow(dhmad_client)
    _, url_a = await session_url(dhmad_client, first, "accept_pay", BUYER)
    _, url_b = await session_url(dhmad_client, second, "accept_pay", BUYER)
    _, html_a, _ = await web.get(url_a)
    await web.get(url_b)
    status, _, _ = await web.post(url_b, {"csrf_token": token_of(html_a), "choice": "accept"})
    assert status == 403
    assert (await dhmad_client.escrows.get(second)).status == "pending"


async def test_cancel_redirects_with_status_cancelled_and_uses_the_session(
    dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    status, _, headers = await web.post(url, {"csrf_token": token_of(html), "choice": "cancel"})
    assert status == 303
    assert query_of(headers["Location"])["status"] == ["cancelled"]
    assert (await dhmad_client.checkout_sessions.get(sid)).status == "cancelled"
    assert (await dhmad_client.escrows.get(escrow_id)).status == "pending"
    assert (await web.get(url))[0] == 410


async def test_an_expired_session_redirects_with_status_expired(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    _, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)  # the buyer opened the page ...
    await dhmad_emulator.advance(31 * 60)  # ... and came back after the 30 minutes
    status, _, headers = await web.post(url, {"csrf_token": token_of(html), "choice": "accept"})
    assert status == 303 and query_of(headers["Location"])["status"] == ["expired"]
    assert (await dhmad_client.escrows.get(escrow_id)).status == "pending"
    status, html, _ = await web.get(url)
    assert status == 200 and "has expired" in html
    status, _, headers = await web.post(url, {"csrf_token": token_of(html), "choice": "leave"})
    assert status == 303 and query_of(headers["Location"])["status"] == ["expired"]


async def test_a_refused_action_shows_the_business_rule_and_changes_nothing(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    _, first = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, second = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html_second, _ = await web.get(second)  # opened before the first one was paid
    _, html_first, _ = await web.get(first)
    await web.post(first, {"csrf_token": token_of(html_first), "choice": "accept"})
    status, html, _ = await web.post(
        second, {"csrf_token": token_of(html_second), "choice": "accept"}
    )
    assert status == 409 and "no longer pending" in html
    paid = [e for e in dhmad_emulator.outbox.events if e["type"] == "escrow.status.updated"]
    assert len(paid) == 1  # the second page did not pay twice
    status, html, _ = await web.get(second)
    assert status == 200 and 'role="alert"' in html and 'id="action-form"' not in html


async def test_inputs_are_checked_before_anything_changes(
    dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    await _pay(dhmad_client, web, escrow_id)
    _, url = await session_url(dhmad_client, escrow_id, "dispute", BUYER)
    _, html, _ = await web.get(url)
    token = token_of(html)
    status, html, _ = await web.post(url, {"csrf_token": token, "choice": "accept", "note": " "})
    assert status == 400 and "needs a reason" in html
    status, html, _ = await web.post(url, {"csrf_token": token, "choice": "reject"})
    assert status == 400 and "Choose one of the buttons" in html  # dispute has no reject
    assert (await dhmad_client.escrows.get(escrow_id)).dispute_ticket is None
    status, _, _ = await web.post(
        url, {"csrf_token": token, "choice": "accept", "note": "Arrived broken"}
    )
    assert status == 303
    ticket = (await dhmad_client.escrows.get(escrow_id)).dispute_ticket
    assert ticket is not None and ticket.preview_reason == "Arrived broken"


async def _pay(client: DhmadClient, web: Browser, escrow_id: str) -> None:
    _, url = await session_url(client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    status, _, _ = await web.post(url, {"csrf_token": token_of(html), "choice": "accept"})
    assert status == 303


async def test_proof_upload_checks_the_file(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(
        dhmad_client, fulfillment_policy={"type": "purchase_proof_required"}
    )
    await _pay(dhmad_client, web, escrow_id)
    _, url = await session_url(dhmad_client, escrow_id, "submit_proof", SELLER)
    _, html, _ = await web.get(url)
    assert 'enctype="multipart/form-data"' in html and 'type="file"' in html
    token = token_of(html)

    def form(content: bytes | None, content_type: str = "image/jpeg") -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf_token", token)
        data.add_field("choice", "accept")
        data.add_field("note", "Receipt from the shop")
        if content is not None:
            data.add_field("proof", content, filename="receipt.jpg", content_type=content_type)
        return data

    status, html, _ = await web.post(url, form(None))
    assert status == 400 and "Choose a proof file" in html
    status, html, _ = await web.post(url, form(b"MZ\x90\x00", "application/x-msdownload"))
    assert status == 400 and "image or a PDF" in html
    assert (await dhmad_client.escrows.proof(escrow_id)).phase == "waiting_seller_proof"
    status, _, _ = await web.post(url, form(b"\xff\xd8\xff\xe0 a tiny jpeg"))
    assert status == 303
    proof = await dhmad_client.escrows.proof(escrow_id)
    assert proof.phase == "submitted_waiting_buyer_review"
    assert [e["type"] for e in dhmad_emulator.outbox.events][-1] == "escrow.proof.submitted"


@pytest.mark.dhmad_emulator(pages=PageOptions(max_upload_bytes=1024))
async def test_a_too_large_proof_is_refused(dhmad_client: DhmadClient, web: Browser) -> None:
    escrow_id = await quick_escrow(
        dhmad_client, fulfillment_policy={"type": "purchase_proof_required"}
    )
    await _pay(dhmad_client, web, escrow_id)
    _, url = await session_url(dhmad_client, escrow_id, "submit_proof", SELLER)
    _, html, _ = await web.get(url)
    data = aiohttp.FormData()
    data.add_field("csrf_token", token_of(html))
    data.add_field("choice", "accept")
    data.add_field("proof", b"\xff" * 5000, filename="big.jpg", content_type="image/jpeg")
    status, html, _ = await web.post(url, data)
    assert status == 400 and "must be at most 1 KB" in html
    assert (await dhmad_client.escrows.proof(escrow_id)).phase == "waiting_seller_proof"


async def test_titles_and_terms_are_escaped(dhmad_client: DhmadClient, web: Browser) -> None:
    nasty = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    created = await dhmad_client.escrows.create(
        title="Kilim " + nasty,
        amount="120",
        buyer_email=BUYER,
        mode="standard",
        contract_terms="Terms " + nasty,
        estimated_delivery_days=5,
    )
    _, url = await session_url(dhmad_client, created.escrow.id, "sign_contract", BUYER)
    _, html, _ = await web.get(url)
    assert "<script" not in html and "<img" not in html
    assert "Kilim &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;&lt;img src=x" in html
    assert "Terms &lt;script&gt;" in html


@pytest.mark.dhmad_emulator(rate_limit=ServerRateLimitOptions(limit=3))
async def test_pages_do_not_count_against_the_api_rate_limit(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    escrow_id = await quick_escrow(dhmad_client)
    _, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    for _ in range(5):
        assert (await web.get(url))[0] == 200
    assert (await web.get(dhmad_emulator.dashboard_url))[0] == 200
    assert dhmad_emulator.stats()["rateLimited"] == 0
    assert dhmad_emulator.request_count() == 2  # the create and the session, nothing else


async def test_unknown_session_is_a_404_page(dhmad_emulator: Emulator, web: Browser) -> None:
    status, html, headers = await web.get(
        dhmad_emulator.origin + "/checkout/550e8400-e29b-41d4-a716-446655440000"
    )
    assert status == 404 and "not found" in html
    assert headers["Content-Type"].startswith("text/html")


def test_redirect_back_keeps_the_shop_query_and_fragment() -> None:
    assert (
        redirect_back("https://shop.example/done?order=7&status=x#top", {"status": "completed"})
        == "https://shop.example/done?order=7&status=completed#top"
    )
    assert redirect_back("http://localhost:3000/cb", {"status": "expired"}) == (
        "http://localhost:3000/cb?status=expired"
    )


async def test_the_stylesheet_is_served_locally(dhmad_emulator: Emulator, web: Browser) -> None:
    status, css, headers = await web.get(
        dhmad_emulator.origin + "/__emulator__/static/emulator.css"
    )
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert "url(" not in css and "@import" not in css  # nothing fetched from anywhere
