"""OAuth (§5), identity verifications (§2.14–§2.16, §3.9) and the emulator CLI."""

from __future__ import annotations

import argparse
from urllib.parse import parse_qs, urlsplit

from emulator_support import Raw

from dhmad_async.testing import ApiOptions, Emulator
from dhmad_async.testing._cli import register

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B


async def test_oauth_code_flow_with_pkce(raw: Raw) -> None:
    """authorize redirects with code+state; token needs the verifier; userinfo works."""
    client_id, secret = raw.emu.oauth_client
    redirect = "https://example.com/callback"
    params = {
        "client_id": client_id,
        "redirect_uri": redirect,
        "response_type": "code",
        "state": "xyz",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        # The consent page is for browsers; this hook consents as the primary user.
        "emulator_user": raw.emu.user_email,
    }
    status, _, headers = await raw.call(
        "GET", "/oauth/authorize", key=None, base=raw.emu.root_url, params=params
    )
    assert status == 302
    query = parse_qs(urlsplit(headers["Location"]).query)
    assert query["state"] == ["xyz"]
    token_body = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": redirect,
        "client_id": client_id,
        "client_secret": secret,
        "code_verifier": "wrong",
    }
    status, body, _ = await raw.call(
        "POST", "/oauth/token", json=token_body, key=None, base=raw.emu.root_url
    )
    assert status == 400 and body["error"] == "invalid_grant"  # the code is now used up
    status, _, headers = await raw.call(
        "GET", "/oauth/authorize", key=None, base=raw.emu.root_url, params=params
    )
    token_body["code"] = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
    token_body["code_verifier"] = VERIFIER
    status, body, _ = await raw.call(
        "POST", "/oauth/token", json=token_body, key=None, base=raw.emu.root_url
    )
    assert status == 200 and body["token_type"] == "Bearer" and body["id_token"].count(".") == 2
    status, info, _ = await raw.call(
        "GET", "/oauth/userinfo", key=body["access_token"], base=raw.emu.root_url
    )
    assert status == 200 and info["email"] == raw.emu.user_email
    plain = dict(params, code_challenge_method="plain")
    status, body, _ = await raw.call(
        "GET", "/oauth/authorize", key=None, base=raw.emu.root_url, params=plain
    )
    assert status == 400 and body["error"] == "invalid_request"


async def test_identity_auto_approve_and_pending_switch(raw: Raw) -> None:
    """Sandbox auto-approves by default; with the switch off a re-POST returns 200 existing."""
    status, body, _ = await raw.call(
        "POST", "/identity-verifications", json={"email": "Kyc@Example.com"}
    )
    assert status == 201 and body["kyc_status"] == "approved" and body["email"] == "kyc@example.com"
    status, got, _ = await raw.call("GET", f"/identity-verifications/{body['id']}")
    assert status == 200 and "message" not in got
    status, listed, _ = await raw.call(
        "GET", "/identity-verifications", params={"email": "kyc@example.com"}
    )
    assert [v["id"] for v in listed["verifications"]] == [body["id"]]
    status, err, _ = await raw.call("GET", "/identity-verifications")
    assert (status, err["message"]) == (400, "email query parameter is required")
    status, err, _ = await raw.call("GET", "/identity-verifications/nope")
    assert (status, err["message"]) == (400, "Invalid verification ID")


async def test_identity_pending_mode(raw: Raw) -> None:
    """With kyc_auto_approve=False records stay pending until decided through control."""
    async with Emulator(api=ApiOptions(kyc_auto_approve=False)) as emu:
        other = Raw(emu, raw.session)
        status, first, _ = await other.call(
            "POST", "/identity-verifications", json={"email": "p@example.com"}
        )
        assert status == 201 and first["kyc_status"] == "pending"
        status, again, _ = await other.call(
            "POST", "/identity-verifications", json={"email": "p@example.com"}
        )
        assert status == 200 and again["id"] == first["id"]
        decided = await emu.decide_verification(first["id"], "approve")
        linked = await emu.link_verification(first["id"])
        assert decided["kyc_status"] == "approved" and linked["claim_status"] == "linked"
        assert [e["type"] for e in emu.outbox.events] == [
            "identity.verification.updated",
            "identity.verification.linked",
        ]


def test_cli_registers_emulator_command() -> None:
    """register() adds an `emulator` sub-command with --port."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["emulator", "--port", "8123"])
    assert args.port == 8123 and callable(args.handler)
