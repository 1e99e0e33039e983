"""
Type-checked usage of the public API; never executed (``mypy --strict tests/typing/api.py``).

A change that breaks how users are expected to call the SDK fails type checking here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, assert_type

import aiohttp

from dhmad_async import (
    APIResponse,
    APIStatusError,
    AsyncPager,
    DhmadClient,
    DhmadDeveloperClient,
    DhmadError,
    EscrowParams,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    Timeout,
    Unknown,
)
from dhmad_async.batch import BatchOptions
from dhmad_async.models import (
    Balance,
    CheckoutSession,
    CheckoutSessionCreated,
    Contract,
    Currency,
    Escrow,
    EscrowCreated,
    EscrowPage,
    EscrowResult,
    EscrowStatus,
    IdentityVerification,
    Me,
    OAuthToken,
    Proof,
    SignatureStatus,
    UserInfo,
    WebhookEndpoint,
)
from dhmad_async.resources import AuthorizationRequest, code_challenge_s256


async def account_and_escrows(session: aiohttp.ClientSession) -> None:
    """Construct clients every documented way and call the escrow endpoints."""
    client = DhmadClient(
        "sk_sandbox_...",
        base_url=None,
        timeout=Timeout(total=30, connect=5, read=20),
        retry=RetryPolicy(attempts=3),
        rate_limit=RateLimit(requests=50, per=60),
        auth_header="x-api-key",
        session=session,
        user_agent="shop/1.0",
    )
    DhmadClient("sk_live_...", timeout=10.0)
    DhmadClient.from_env()
    async with client:
        assert_type(await client.account.me(), Me)
        assert_type(await client.account.balance(timeout=5), Balance)
        created = await client.escrows.create(
            title="Logo",
            amount=Decimal("1500.505"),
            buyer_email="b@example.com",
            mode="standard",
            contract_terms="...",
            estimated_delivery_days=7,
        )
        assert_type(created, EscrowCreated)
        params = EscrowParams(title="x", amount="10", buyer_email="b@example.com")
        assert_type(await client.escrows.create_from(params), EscrowCreated)
        pager = client.escrows.list(status="pending", role="buyer", limit=50)
        assert_type(pager, AsyncPager[Escrow, EscrowPage])
        async for escrow in pager:
            assert_type(escrow, Escrow)
        async for page in pager.pages():
            assert_type(page, EscrowPage)
        assert_type(await client.escrows.get("id"), Escrow)
        assert_type(await client.escrows.update("id", title="New"), EscrowResult)
        assert_type(await client.escrows.deliver("id"), EscrowResult)
        assert_type(await client.escrows.reject_delivery("id", reason="r"), EscrowResult)
        assert_type(await client.escrows.cancel("id"), EscrowResult)
        assert_type(await client.escrows.contract("id"), Contract)
        assert_type(await client.escrows.proof("id"), Proof)
    await client.aclose()
    await client.close()


async def sessions_identity_oauth(client: DhmadClient) -> None:
    """Checkout sessions, KYC and OAuth helpers."""
    session = await client.checkout_sessions.create(
        "id", action="accept_pay", target_user_email="b@example.com", redirect_url="https://x/y"
    )
    assert_type(session, CheckoutSessionCreated)
    assert_type(await client.checkout_sessions.get(session.session_id), CheckoutSession)
    kyc = await client.identity_verifications.create(email="s@example.com")
    assert_type(kyc, IdentityVerification)
    assert_type(
        await client.identity_verifications.list(email="s@example.com"), list[IdentityVerification]
    )
    request = client.oauth.authorization_url(client_id="cid", redirect_uri="https://x/cb")
    assert_type(request, AuthorizationRequest)
    code = client.oauth.parse_callback("https://x/cb?code=c&state=s", expected_state=request.state)
    assert_type(code, str)
    token = await client.oauth.exchange_code(
        code,
        client_id="cid",
        client_secret="secret",
        redirect_uri="https://x/cb",
        code_verifier=request.code_verifier,
    )
    assert_type(token, OAuthToken)
    assert_type(await client.oauth.userinfo(token.access_token), UserInfo)
    assert_type(code_challenge_s256("v" * 43), str)


async def errors_and_developer() -> None:
    """Error attributes users rely on, and the developer-token client."""
    try:
        await DhmadClient("sk_live_...").account.me()
    except RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
    except APIStatusError as exc:
        assert_type(exc.status, int)
        assert_type(exc.code, str | None)
    except DhmadError as exc:
        assert_type(exc.may_have_succeeded, bool)
    async with DhmadDeveloperClient("token", environment="sandbox") as dev:
        assert_type(await dev.webhooks.create("https://x/hook"), WebhookEndpoint)
        assert_type(await dev.webhooks.list(), list[WebhookEndpoint])
        await dev.webhooks.delete("id")


def retry_statuses_accept_any_int_collection() -> None:
    """A set or frozenset of statuses type-checks (the converter is typed)."""
    RetryPolicy(retry_statuses={500, 502, 503})
    RetryPolicy(retry_statuses=frozenset({503}))


async def options_raw_and_signature(client: DhmadClient, developer: DhmadDeveloperClient) -> None:
    """with_options(), with_raw_response, awaitable lists, signatures, Unknown, to_dict."""
    patient = client.with_options(timeout=120, max_retries=0, extra_headers={"X-Trace": "1"})
    assert_type(patient, DhmadClient)
    slow = client.with_options(rate_limit=RateLimit(requests=10, per=60), retry=RetryPolicy())
    assert_type(await slow.escrows.get("id", timeout=5, extra_headers={"X-A": "b"}), Escrow)
    raw = await client.escrows.with_raw_response.get("id")
    assert_type(raw, APIResponse[Escrow])
    assert_type(raw.status, int)
    assert_type(raw.request_id, str | None)
    assert_type(raw.retries_taken, int)
    assert_type(raw.elapsed, float)
    assert_type(raw.content, bytes)
    assert_type(raw.parse(), Escrow)
    assert_type(await client.escrows.with_raw_response.list(limit=5), APIResponse[EscrowPage])
    assert_type(await client.account.with_raw_response.me(), APIResponse[Me])
    assert_type(await developer.webhooks.with_raw_response.delete("id"), APIResponse[None])
    assert_type(await client.escrows.list(status="paid"), EscrowPage)
    assert_type(await developer.signature.get(), SignatureStatus)
    assert_type(await developer.signature.set(b"\x89PNG..."), SignatureStatus)
    created = await client.escrows.create(
        title="x",
        amount=1,
        buyer_email="b@example.com",
        mode=Unknown("escrow_plus"),
        currency=Currency.EUR,
        auto_sign=True,
        check_signature=developer,
    )
    assert_type(created.escrow.status, EscrowStatus | str)
    assert_type(created.to_dict(), dict[str, Any])
    assert_type(created._request_id, str | None)
    DhmadClient("sk_live_...", developer_token="devtok")
    client.escrows.create_many([], options=BatchOptions(settle=1.0), max_sends=2)
