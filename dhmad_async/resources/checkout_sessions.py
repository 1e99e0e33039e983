"""Checkout sessions: hosted pages where a buyer or seller acts, then comes back to you."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser
from dhmad_async.models import (
    CheckoutAction,
    CheckoutActionName,
    CheckoutSession,
    CheckoutSessionCreated,
    Unknown,
)
from dhmad_async.resources._base import ExtraHeaders, Resource, Violations, path_id, raw_method

__all__ = ["CheckoutSessions", "CheckoutSessionsWithRawResponse"]

#: The documented checkout actions.
ACTIONS: Final = tuple(CheckoutAction)


def check_redirect_url(v: Violations, field: str, value: object) -> None:
    """An absolute http(s) URL; whether it is allowed is the dashboard's setting."""
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        v.add(field, "must be an absolute http(s) URL registered in the dashboard")


_parse_created = response_parser(CheckoutSessionCreated)
_parse_session = response_parser(CheckoutSession, key="session")


class CheckoutSessions(Resource):
    """Create a session for one party and action, and read its status."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> CheckoutSessionsWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return CheckoutSessionsWithRawResponse(CheckoutSessions(self._raw_client()))

    async def create(
        self,
        escrow_id: str,
        *,
        action: CheckoutActionName | CheckoutAction | Unknown,
        target_user_email: str,
        redirect_url: str,
        metadata: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> CheckoutSessionCreated:
        """
        ``POST /escrows/:id/sessions``: a short-lived hosted URL for ``target_user_email``.

        A business-rule refusal (already signed, wrong party, …) raises
        :class:`~dhmad_async.BadRequestError` with ``code`` and ``user_message``;
        show ``user_message`` instead of redirecting.
        """
        v = Violations("checkout session")
        v.choice("action", action, ACTIONS)
        v.email("target_user_email", target_user_email)
        check_redirect_url(v, "redirect_url", redirect_url)
        if metadata is not None and not isinstance(metadata, Mapping):
            v.add("metadata", "must be a mapping of your own keys and values")
        v.raise_if_any()
        body: dict[str, Any] = {
            "action": action,
            "targetUserEmail": target_user_email.strip(),
            "redirectUrl": redirect_url,
        }
        if metadata is not None:
            body["metadata"] = dict(metadata)
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/sessions"
        return await self._client._request(
            "POST",
            path,
            json=body,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_created,
        )

    async def get(
        self,
        session_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> CheckoutSession:
        """``GET /sessions/:id``: status of a session of this developer account."""
        path = f"/sessions/{path_id('session_id', session_id)}"
        return await self._client._request(
            "GET", path, timeout=timeout, extra_headers=extra_headers, parse=_parse_session
        )


class CheckoutSessionsWithRawResponse:
    """``client.checkout_sessions.with_raw_response``: each call answers an APIResponse."""

    __slots__ = ("create", "get")

    def __init__(self, sessions: CheckoutSessions) -> None:
        self.create = raw_method(sessions.create)
        self.get = raw_method(sessions.get)
