"""Models for webhook endpoint and signature management. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import attrs

from dhmad_async.models._common import WireModel
from dhmad_async.models._enums import WebhookEventType

__all__ = ["SignatureStatus", "WebhookEndpoint", "WebhookEndpointList", "WebhookEndpointResult"]


@attrs.frozen(kw_only=True)
class WebhookEndpoint(WireModel):
    """A webhook configuration; ``secret`` only on create/regenerate, never in repr."""

    __dhmad_redact_body__: ClassVar[bool] = True

    id: str
    url: str
    events: list[WebhookEventType | str]
    is_active: bool
    created_at: dt.datetime
    #: The signing secret.
    secret: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class WebhookEndpointResult(WireModel):
    """Response of create/update/regenerate: a message and the webhook."""

    __dhmad_redact_body__: ClassVar[bool] = True

    message: str
    webhook: WebhookEndpoint


@attrs.frozen(kw_only=True)
class WebhookEndpointList(WireModel):
    """Response of listing webhooks; the shape ``{"webhooks": [...]}`` is INF."""

    webhooks: list[WebhookEndpoint] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class SignatureStatus(WireModel):
    """
    Response of ``GET``/``PUT /developer/signature``.

    The image itself is never sent back; ``message`` comes only with ``PUT``.
    """

    has_signature: bool
    message: str | None = None
