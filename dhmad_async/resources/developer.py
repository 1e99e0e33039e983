"""
Webhook management with a developer token: ``/api/developer/webhooks``.

Only ``POST /api/developer/webhooks`` is documented (DOC). The list, get and
delete paths are inferred (INF); the update method is unknown (PUT or PATCH:
``method=`` picks, default PUT); the regenerate path is inferred as
``POST /:id/regenerate-secret``. Confirm against the sandbox.

Two lists of events, on purpose: :data:`SUBSCRIBABLE_EVENTS` is what the
Webhooks API accepts in ``events`` (what ``create``/``update`` check against),
while :class:`~dhmad_async.models.WebhookEventType` is every event the SDK
parses, the purchase-proof events included, which that list does not name.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any, Final, Literal, TypeAlias, cast

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser, structure, unwrap_envelopes
from dhmad_async.models import (
    SubscribableEventName,
    Unknown,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointResult,
    WebhookEventType,
)
from dhmad_async.resources._base import ExtraHeaders, Resource, Violations, path_id, raw_method

__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "SUBSCRIBABLE_EVENTS",
    "EventArg",
    "WebhookEndpoints",
    "WebhookEndpointsWithRawResponse",
]

# An update must never become another verb: a DELETE here deleted the webhook.
_UPDATE_METHODS: Final = frozenset({"PUT", "PATCH"})

#: The ``events`` a webhook endpoint may subscribe to: exactly the Webhooks API's
#: documented list. The purchase-proof events (``escrow.proof.*``) are not in it,
#: although the SDK parses them (:class:`~dhmad_async.models.WebhookEventType`).
SUBSCRIBABLE_EVENTS: Final[tuple[SubscribableEventName, ...]] = typing.get_args(
    SubscribableEventName
)
#: What an endpoint created without ``events=`` receives: DHMAD's documented default.
DEFAULT_WEBHOOK_EVENTS: Final[tuple[SubscribableEventName, ...]] = ("escrow.status.updated",)
# Events the SDK parses but the API does not list as subscribable.
_UNLISTED_EVENTS: Final = frozenset(e.value for e in WebhookEventType) - set(SUBSCRIBABLE_EVENTS)

#: One entry of ``events=``: a name of :data:`SUBSCRIBABLE_EVENTS`, its
#: :class:`WebhookEventType` member, or ``Unknown("…")`` to ask for an event the
#: documented list does not name (a proof event, or one added after this SDK
#: version); the server decides whether it takes it.
EventArg: TypeAlias = SubscribableEventName | WebhookEventType | Unknown


def _check(v: Violations, url: object, events: Sequence[EventArg] | None) -> None:
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://"))
    ):
        v.add("url", "must be an absolute URL (HTTPS in production)")
    if events is None:
        return
    if isinstance(events, str) or not all(isinstance(e, str) and e for e in events):
        v.add("events", "must be a list of event names such as 'escrow.status.updated'")
        return
    if not events:
        v.add(
            "events",
            "must name at least one event (leave events out for the default,"
            " escrow.status.updated only)",
        )
    for event in events:
        if not isinstance(event, Unknown) and event in _UNLISTED_EVENTS:
            v.add(
                "events",
                f"{str(event)!r} is not in the Webhooks API's list of subscribable events"
                " (the purchase-proof events are named only in the proof guide); to ask"
                f" the server anyway, pass dhmad_async.Unknown({str(event)!r})",
            )
        else:
            v.choice("events", event, SUBSCRIBABLE_EVENTS)


_parse_webhook = response_parser(WebhookEndpoint, key="webhook")
_parse_result = response_parser(WebhookEndpointResult)


def _parse_created(data: object) -> WebhookEndpoint:
    return _parse_result(data).webhook


def _discard(data: object) -> None:
    """The delete answer carries only a message."""


def _parse_webhook_list(data: object) -> list[WebhookEndpoint]:
    data = unwrap_envelopes(data, WebhookEndpointList)
    if isinstance(data, list):  # the shape is undocumented; accept a bare array too
        data = {"webhooks": data}
    return list(structure(data, WebhookEndpointList).webhooks)


class WebhookEndpoints(Resource):
    """Create, list, read, update, rotate and delete webhook endpoints (max 2 per account)."""

    __slots__ = ()

    #: The events ``create``/``update`` accept by name (see :data:`SUBSCRIBABLE_EVENTS`).
    SUBSCRIBABLE_EVENTS: Final = SUBSCRIBABLE_EVENTS
    #: What ``create(url)`` without ``events`` subscribes to.
    DEFAULT_EVENTS: Final = DEFAULT_WEBHOOK_EVENTS

    @property
    def with_raw_response(self) -> WebhookEndpointsWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return WebhookEndpointsWithRawResponse(WebhookEndpoints(self._raw_client()))

    async def create(
        self,
        url: str,
        *,
        events: Sequence[EventArg] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> WebhookEndpoint:
        """
        Register ``url``; the returned endpoint carries the signing ``secret`` (shown once).

        **Without** ``events`` **the endpoint receives** ``escrow.status.updated``
        **only**: nothing is sent for ``events``, and that is DHMAD's documented
        default (:data:`DEFAULT_WEBHOOK_EVENTS`). To receive more, name them:
        ``events=SUBSCRIBABLE_EVENTS`` subscribes to every event the Webhooks API
        lists (``contract.signed``, ``escrow.updated``, the cancellation, delivery
        and identity events, …).

        Each event must be one of :data:`SUBSCRIBABLE_EVENTS` (a name or its
        :class:`~dhmad_async.models.WebhookEventType` member); anything else raises
        :class:`~dhmad_async.InvalidParamsError` and nothing is sent. The
        purchase-proof events (``escrow.proof.*``) are not in the API's list: pass
        ``Unknown("escrow.proof.required")`` to ask for one deliberately, and poll
        ``escrows.proof()`` rather than count on it arriving. The answer's
        ``events`` is what the server subscribed, which may differ from the request.
        At most two endpoints per developer account.
        """
        v = Violations("webhook")
        if url is None:
            v.add("url", "is required")
        _check(v, url, events)
        v.raise_if_any()
        body: dict[str, Any] = {"url": url}
        if events is not None:
            body["events"] = list(events)
        return await self._client._request(
            "POST",
            "/developer/webhooks",
            json=body,
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_created,
        )

    async def list(
        self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT, extra_headers: ExtraHeaders = None
    ) -> list[WebhookEndpoint]:
        """All endpoints of the developer account (secrets are never listed)."""
        return await self._client._request(
            "GET",
            "/developer/webhooks",
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_webhook_list,
        )

    async def get(
        self,
        webhook_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> WebhookEndpoint:
        """One endpoint by id."""
        path = f"/developer/webhooks/{path_id('webhook_id', webhook_id)}"
        return await self._client._request(
            "GET",
            path,
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_webhook,
        )

    async def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[EventArg] | None = None,
        is_active: bool | None = None,
        method: Literal["PUT", "PATCH"] = "PUT",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> WebhookEndpoint:
        """
        Change the URL, the events or the active flag (at least one).

        ``events`` replaces the subscription and is checked as in :meth:`create`.
        ``is_active`` must be a real ``bool`` and ``method`` ``"PUT"`` or
        ``"PATCH"`` (which one the server takes is not documented).
        """
        v = Violations("webhook update")
        _check(v, url, events)
        verb = method.upper() if isinstance(method, str) else method
        if verb not in _UPDATE_METHODS:
            v.add("method", f"must be 'PUT' or 'PATCH' (got {method!r})")
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if events is not None:
            body["events"] = list(events)
        if is_active is not None:
            v.boolean("is_active", is_active)
            body["isActive"] = is_active
        if not body:
            v.add("fields", "give at least one of url, events, is_active")
        v.raise_if_any()
        path = f"/developer/webhooks/{path_id('webhook_id', webhook_id)}"
        return await self._client._request(
            str(verb),
            path,
            json=body,
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_webhook,
        )

    async def regenerate_secret(
        self,
        webhook_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> WebhookEndpoint:
        """
        A new signing secret; the old one stops working at once.

        Give the receiver both secrets (``WebhookVerifier(secrets=[new, old])``)
        before calling this, then drop the old one.
        """
        path = f"/developer/webhooks/{path_id('webhook_id', webhook_id)}/regenerate-secret"
        return await self._client._request(
            "POST",
            path,
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_webhook,
        )

    async def delete(
        self,
        webhook_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> None:
        """Delete an endpoint permanently."""
        path = f"/developer/webhooks/{path_id('webhook_id', webhook_id)}"
        answer: Any = await self._client._request(
            "DELETE",
            path,
            base="root",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_discard,
        )
        # None; the APIResponse on the raw-response view (its parse() gives the body).
        return cast(None, answer)


class WebhookEndpointsWithRawResponse:
    """``developer.webhooks.with_raw_response``: each call answers an APIResponse."""

    __slots__ = ("create", "delete", "get", "list", "regenerate_secret", "update")

    def __init__(self, webhooks: WebhookEndpoints) -> None:
        self.create = raw_method(webhooks.create)
        self.list = raw_method(webhooks.list)
        self.get = raw_method(webhooks.get)
        self.update = raw_method(webhooks.update)
        self.regenerate_secret = raw_method(webhooks.regenerate_secret)
        self.delete = raw_method(webhooks.delete)
