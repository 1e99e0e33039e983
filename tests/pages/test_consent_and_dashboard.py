"""The OAuth sign-in/consent page and the dashboard over HTTP (the browser tests click them)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import aiohttp
import pytest
from pages_support import BUYER, Browser, query_of, quick_escrow, session_url, token_of

from dhmad_async import DhmadClient
from dhmad_async.testing import Emulator
from dhmad_async.testing._common import loads

CALLBACK = "http://127.0.0.1/callback"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B


def authorize_url(emu: Emulator, **extra: str) -> str:
    client_id, _ = emu.oauth_client
    params = {
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": "st-123",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{emu.root_url}/oauth/authorize?{urlencode(params)}"


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


async def test_authorize_shows_the_seeded_users_and_the_scopes(
    dhmad_emulator: Emulator, dhmad_client: DhmadClient, web: Browser
) -> None:
    await quick_escrow(dhmad_client)  # its buyer and seller are invitees without accounts
    status, html, headers = await web.get(authorize_url(dhmad_emulator))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in headers
    users = re.findall(r'name="user" value="([^"]+)"', html)
    assert users == sorted([dhmad_emulator.user_email, "seller@example.com", BUYER])
    assert f'value="{dhmad_emulator.user_email}" checked' in html
    assert "Your e-mail address" in html and "<code>openid</code>" in html


@pytest.mark.parametrize(
    ("drop", "error"),
    [("state", "invalid_request"), ("client_id", "invalid_client"), ("redirect_uri", None)],
)
async def test_malformed_authorize_requests_still_answer_json(
    dhmad_emulator: Emulator, web: Browser, drop: str, error: str | None
) -> None:
    url = authorize_url(dhmad_emulator)
    url = re.sub(rf"([?&]){drop}=[^&]*&?", r"\1", url)
    status, body, headers = await web.get(url)
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert loads(body)["error"] == (error or "invalid_request")


async def test_approve_redirects_with_code_and_state_and_pkce_is_checked(
    dhmad_emulator: Emulator, web: Browser, dhmad_client: DhmadClient
) -> None:
    await quick_escrow(dhmad_client)
    _, html, _ = await web.get(authorize_url(dhmad_emulator))
    form = {**hidden_fields(html), "user": "seller@example.com", "decision": "approve"}
    status, _, headers = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", form)
    assert status == 303
    query = query_of(headers["Location"])
    assert headers["Location"].startswith(CALLBACK + "?")
    assert query["state"] == ["st-123"] and query["code"][0].startswith("code_")
    client_id, secret = dhmad_emulator.oauth_client
    async with aiohttp.ClientSession() as http:
        token_body = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
            "client_id": client_id,
            "client_secret": secret,
        }
        # PKCE at the token endpoint: without the verifier the code is refused.
        async with http.post(f"{dhmad_emulator.root_url}/oauth/token", json=token_body) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"


async def test_deny_redirects_with_access_denied_and_state(
    dhmad_emulator: Emulator, web: Browser
) -> None:
    _, html, _ = await web.get(authorize_url(dhmad_emulator))
    form = {**hidden_fields(html), "decision": "deny"}
    status, _, headers = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", form)
    assert status == 303
    assert query_of(headers["Location"]) == {"error": ["access_denied"], "state": ["st-123"]}
    assert dhmad_emulator.store.t["oauth_codes"] == {}


async def test_a_forged_consent_is_refused_and_issues_no_code(
    dhmad_emulator: Emulator, web: Browser
) -> None:
    _, html, _ = await web.get(authorize_url(dhmad_emulator))
    fields = hidden_fields(html)
    forged = {**fields, "csrf_token": "f" * 64, "user": dhmad_emulator.user_email}
    status, body, _ = await web.post(
        f"{dhmad_emulator.root_url}/oauth/authorize", {**forged, "decision": "approve"}
    )
    assert status == 403 and "Form refused" in body
    # A token taken from the page is bound to its state: changing the state voids it.
    moved = {**fields, "state": "other", "user": dhmad_emulator.user_email, "decision": "approve"}
    status, _, _ = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", moved)
    assert status == 403
    assert dhmad_emulator.store.t["oauth_codes"] == {}


async def test_approve_without_a_known_user_asks_again(
    dhmad_emulator: Emulator, web: Browser
) -> None:
    _, html, _ = await web.get(authorize_url(dhmad_emulator))
    form = {**hidden_fields(html), "user": "nobody@example.com", "decision": "approve"}
    status, html, _ = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", form)
    assert status == 400 and "Pick the user" in html
    form = {**hidden_fields(html), "other_user": "not-an-email", "decision": "approve"}
    status, html, _ = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", form)
    assert status == 400
    assert dhmad_emulator.store.t["oauth_codes"] == {}
    form = {**hidden_fields(html), "other_user": "New.User@Example.com", "decision": "approve"}
    status, _, headers = await web.post(f"{dhmad_emulator.root_url}/oauth/authorize", form)
    assert status == 303 and "code" in query_of(headers["Location"])
    assert dhmad_emulator.store.user("new.user@example.com") is not None


async def test_the_emulator_hooks_still_skip_the_page(
    dhmad_emulator: Emulator, web: Browser
) -> None:
    status, _, headers = await web.get(authorize_url(dhmad_emulator, emulator_user=BUYER))
    assert status == 302 and "code" in query_of(headers["Location"])
    status, _, headers = await web.get(authorize_url(dhmad_emulator, emulator_deny="1"))
    assert status == 302 and query_of(headers["Location"])["error"] == ["access_denied"]


async def test_dashboard_shows_escrows_sessions_deliveries_and_the_window(
    dhmad_emulator: Emulator,
    dhmad_client: DhmadClient,
    dhmad_webhook_receiver: object,
    web: Browser,
) -> None:
    escrow_id = await quick_escrow(dhmad_client, title="Vase <b>bold</b>")
    sid, url = await session_url(dhmad_client, escrow_id, "accept_pay", BUYER)
    _, html, _ = await web.get(url)
    await web.post(url, {"csrf_token": token_of(html), "choice": "accept"})
    await dhmad_emulator.wait_for_deliveries()
    status, html, headers = await web.get(dhmad_emulator.dashboard_url)
    assert status == 200 and "Content-Security-Policy" in headers
    assert f'data-escrow-id="{escrow_id}"' in html and f'data-session-id="{sid}"' in html
    assert "Vase &lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    delivery = dhmad_emulator.outbox.deliveries[-1]
    assert delivery.signature and f'title="{delivery.signature}"' in html
    assert f'data-event-id="{delivery.event_id}"' in html
    window = re.search(r'id="rate-window"[^>]*data-in-window="(\d+)" data-limit="(\d+)"', html)
    assert window is not None and int(window.group(2)) == 100
    assert "<script" not in html
    status, _, headers = await web.get(dhmad_emulator.control_url)
    assert status == 302 and headers["Location"] == "/__emulator__/"
