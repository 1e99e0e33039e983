"""Account: ``GET /me`` (the key and its developer account) and ``GET /balance``."""

from __future__ import annotations

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser
from dhmad_async.models import Balance, Me
from dhmad_async.resources._base import ExtraHeaders, Resource, raw_method

__all__ = ["Account", "AccountWithRawResponse"]

_parse_me = response_parser(Me)
_parse_balance = response_parser(Balance, key="balance")


class Account(Resource):
    """The API key, its developer account, and the associated user's balance."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> AccountWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return AccountWithRawResponse(Account(self._raw_client()))

    async def me(
        self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT, extra_headers: ExtraHeaders = None
    ) -> Me:
        """``GET /me``: the key (incl. its ``rate_limit``) and developer; no association needed."""
        return await self._client._request(
            "GET", "/me", timeout=timeout, extra_headers=extra_headers, parse=_parse_me
        )

    async def balance(
        self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT, extra_headers: ExtraHeaders = None
    ) -> Balance:
        """``GET /balance``: available, pending and in-escrow funds (needs association)."""
        return await self._client._request(
            "GET", "/balance", timeout=timeout, extra_headers=extra_headers, parse=_parse_balance
        )


class AccountWithRawResponse:
    """``client.account.with_raw_response``: each call answers an APIResponse."""

    __slots__ = ("balance", "me")

    def __init__(self, account: Account) -> None:
        self.me = raw_method(account.me)
        self.balance = raw_method(account.balance)
