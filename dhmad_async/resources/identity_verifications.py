"""Pre-account identity verification (KYC), snake_case on the wire."""

from __future__ import annotations

from collections.abc import Mapping

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser
from dhmad_async.models import IdentityVerification, IdentityVerificationList
from dhmad_async.resources._base import ExtraHeaders, Resource, Violations, path_id, raw_method
from dhmad_async.resources.checkout_sessions import check_redirect_url

__all__ = ["IdentityVerifications", "IdentityVerificationsWithRawResponse"]

_parse_verification = response_parser(IdentityVerification)
_parse_list = response_parser(IdentityVerificationList)


def _parse_verifications(data: object) -> list[IdentityVerification]:
    return list(_parse_list(data).verifications)


class IdentityVerifications(Resource):
    """Start a KYC for a future user's e-mail, and follow it; no association needed."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> IdentityVerificationsWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return IdentityVerificationsWithRawResponse(IdentityVerifications(self._raw_client()))

    async def create(
        self,
        *,
        email: str,
        external_user_id: str | None = None,
        redirect_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> IdentityVerification:
        """
        ``POST /identity-verifications``. Re-posting while one is pending returns it (200).

        ``metadata`` values are strings of at most 500 characters and are not
        sent back in webhooks; ``external_user_id`` is.
        """
        v = Violations("identity verification")
        v.email("email", email)
        if external_user_id is not None:
            v.text("external_user_id", external_user_id, min_len=1, max_len=500)
        if redirect_url is not None:
            check_redirect_url(v, "redirect_url", redirect_url)
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                v.add("metadata", "must be a mapping of string keys to string values")
            else:
                for key, value in metadata.items():
                    v.text(f"metadata.{key}", value, max_len=500)
        v.raise_if_any()
        # The server lowercases e-mails (documented); doing it here keeps lists consistent.
        body: dict[str, object] = {"email": email.strip().lower()}
        if external_user_id is not None:
            body["external_user_id"] = external_user_id
        if redirect_url is not None:
            body["redirect_url"] = redirect_url
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return await self._client._request(
            "POST",
            "/identity-verifications",
            json=body,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_verification,
        )

    async def get(
        self,
        verification_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> IdentityVerification:
        """``GET /identity-verifications/:id``."""
        path = f"/identity-verifications/{path_id('verification_id', verification_id)}"
        return await self._client._request(
            "GET", path, timeout=timeout, extra_headers=extra_headers, parse=_parse_verification
        )

    async def list(
        self,
        *,
        email: str,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> list[IdentityVerification]:
        """``GET /identity-verifications?email=``: newest first, at most 20, not paginated."""
        v = Violations("identity verification list")
        v.email("email", email)
        v.raise_if_any()
        return await self._client._request(
            "GET",
            "/identity-verifications",
            params={"email": email.strip().lower()},
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_verifications,
        )


class IdentityVerificationsWithRawResponse:
    """``client.identity_verifications.with_raw_response``: each call answers an APIResponse."""

    __slots__ = ("create", "get", "list")

    def __init__(self, verifications: IdentityVerifications) -> None:
        self.create = raw_method(verifications.create)
        self.get = raw_method(verifications.get)
        self.list = raw_method(verifications.list)
