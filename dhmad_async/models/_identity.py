"""Models for pre-account identity verifications, snake_case on the wire.

Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import attrs

from dhmad_async.models._common import WireModel
from dhmad_async.models._enums import ClaimStatus, KycStatus

__all__ = ["IdentityVerification", "IdentityVerificationList"]


@attrs.frozen(kw_only=True)
class IdentityVerification(WireModel):
    """A pre-account KYC record."""

    __dhmad_wire_case__: ClassVar[str] = "snake"

    id: str
    email: str
    #: Your id for the user, ``None`` when you gave none.
    external_user_id: str | None
    kyc_status: KycStatus | str
    #: ``in_progress`` and ``completed`` seen; others UNKNOWN (``None``: no session).
    didit_session_status: str | None
    needs_admin_review: bool
    claim_status: ClaimStatus | str
    #: ``None`` until the user registers (``claim_status`` ``"linked"``).
    linked_user_id: str | None
    linked_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Default 90 days after creation.
    expires_at: dt.datetime
    verification_email_sent: bool
    #: ``None`` when no e-mail was sent (the sandbox may approve at once).
    verification_email_sent_at: dt.datetime | None
    #: Only on the create response.
    message: str | None = None
    # Not in the examples (the docs say metadata is stored); kept if it ever comes back.
    redirect_url: str | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class IdentityVerificationList(WireModel):
    """Response of ``GET /identity-verifications?email=``: newest first, at most 20."""

    __dhmad_wire_case__: ClassVar[str] = "snake"

    verifications: list[IdentityVerification]
