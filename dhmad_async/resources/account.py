"""Account: ``GET /me`` and ``GET /balance`` (REFERENCE §2.1–2.2)."""

from __future__ import annotations

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser
from dhmad_async.models import Balance, Me
from dhmad_async.resources._base import Resource

__all__ = ["Account"]


class Account(Resource):
    """The API key, its developer account, and the associated user's balance."""

    __slots__ = ()

    async def me(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Me:
        """``GET /me``: the key (incl. its ``rate_limit``) and developer; no association needed."""
        return await self._client._request("GET", "/me", timeout=timeout, parse=response_parser(Me))

    async def balance(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Balance:
        """``GET /balance``: available, pending and in-escrow funds (needs association)."""
        return await self._client._request(
            "GET", "/balance", timeout=timeout, parse=response_parser(Balance, key="balance")
        )
