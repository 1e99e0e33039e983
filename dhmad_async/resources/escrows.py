"""
Escrows: ``/api/v1/escrows``: create, list, read, update, deliver, reject, cancel, contract, proof.

The endpoints, modes and who may move an escrow are summarised in docs/dhmad-api.md.

:class:`EscrowParams` holds and validates the parameters of a create call; the
batch module reuses it, so one set of rules guards both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._pagination import AsyncPager
from dhmad_async._serialization import response_parser
from dhmad_async.models import (
    Contract,
    Currency,
    CurrencyCode,
    Escrow,
    EscrowCreated,
    EscrowMode,
    EscrowModeName,
    EscrowPage,
    EscrowResult,
    EscrowStatus,
    EscrowStatusName,
    FulfillmentPolicy,
    PartyRole,
    Proof,
    Unknown,
)
from dhmad_async.resources._base import (
    ExtraHeaders,
    InvalidParamsError,
    Resource,
    Violations,
    path_id,
    raw_first_page,
    raw_method,
)

if TYPE_CHECKING:
    from dhmad_async._client import DhmadDeveloperClient
    from dhmad_async.batch import BatchJournal, BatchOptions, BatchProgress, BatchRun

__all__ = [
    "CurrencyArg",
    "EscrowParams",
    "Escrows",
    "EscrowsWithRawResponse",
    "ModeArg",
    "RoleArg",
    "StatusArg",
]


# The documented values of create and list; the enums are the one list of them.
MODES: Final = tuple(EscrowMode)
CURRENCIES: Final = tuple(Currency)
STATUSES: Final = tuple(EscrowStatus)
ROLES: Final = ("seller", "buyer")

#: ``mode=``: a documented mode, its :class:`EscrowMode` member, or ``Unknown("…")``.
ModeArg: TypeAlias = EscrowModeName | EscrowMode | Unknown
#: ``currency=``: a documented currency, its :class:`Currency` member, or ``Unknown("…")``.
CurrencyArg: TypeAlias = CurrencyCode | Currency | Unknown
#: ``status=`` of a list: a documented status, its :class:`EscrowStatus` member, or ``Unknown``.
StatusArg: TypeAlias = EscrowStatusName | EscrowStatus | Unknown
#: ``role=`` of a list: ``"seller"``, ``"buyer"`` or ``Unknown("…")``.
RoleArg: TypeAlias = PartyRole | Unknown

_parse_created = response_parser(EscrowCreated)
_parse_result = response_parser(EscrowResult)
_parse_page = response_parser(EscrowPage)
_parse_escrow = response_parser(Escrow, key="escrow")
_parse_contract = response_parser(Contract, key="contract")
_parse_proof = response_parser(Proof, key="proof")

#: What ``check_signature=`` takes: False (no check), True (with the client's
#: ``developer_token``), or a developer client to ask.
SignatureCheck: TypeAlias = "bool | DhmadDeveloperClient"
# Minimum ledger amounts in TND, per mode (docs/dhmad-api.md#escrow-modes).
_MIN_TND: Final = {"standard": Decimal(5), "quick": Decimal(5), "instant": Decimal("0.01")}
_PROOF_POLICY_TYPE: Final = "purchase_proof_required"
# The proof guide's "default bounds 6–72 h"; the platform may configure others,
# which is why `validate=False` exists.
_PROOF_HOURS: Final = (6, 72)


def _wire_policy(policy: FulfillmentPolicy | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(policy, FulfillmentPolicy):
        wire: dict[str, Any] = {
            "type": policy.type,
            "proofUploadDeadlineHours": policy.proof_upload_deadline_hours,
            "buyerReviewDeadlineHours": policy.buyer_review_deadline_hours,
            "allowedProofTypes": list(policy.allowed_proof_types) or None,
        }
    else:
        aliases = {
            "proof_upload_deadline_hours": "proofUploadDeadlineHours",
            "buyer_review_deadline_hours": "buyerReviewDeadlineHours",
            "allowed_proof_types": "allowedProofTypes",
        }
        wire = {aliases.get(key, key): value for key, value in policy.items()}
    return {key: value for key, value in wire.items() if value is not None}


@attrs.frozen(kw_only=True)
class EscrowParams:
    """
    The parameters of ``POST /escrows``, in Python names.

    :meth:`validate` checks the documented rules — what each mode requires and
    forbids (docs/dhmad-api.md#escrow-modes), lengths, minimum amounts — and
    :meth:`to_wire` gives the camelCase body.
    """

    title: str
    amount: Decimal | int | str
    buyer_email: str
    mode: ModeArg = "standard"
    currency: CurrencyArg = "TND"
    seller_email: str | None = None
    estimated_delivery_days: int | None = None
    contract_terms: str | None = None
    auto_sign: bool | None = None
    developer_fee_percentage: Decimal | int | str | None = None
    fulfillment_policy: FulfillmentPolicy | Mapping[str, Any] | None = None
    description: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EscrowParams:
        """Build from a dict with snake_case or camelCase keys; unknown keys are an error."""
        names = {field.name for field in attrs.fields(cls)}
        camel = {_camel(name): name for name in names}
        values: dict[str, Any] = {}
        unknown = []
        for key, value in data.items():
            name = key if key in names else camel.get(key)
            if name is None:
                unknown.append(key)
            else:
                values[name] = value
        if unknown:
            raise InvalidParamsError(
                "escrow", dict.fromkeys(unknown, "is not a create-escrow parameter")
            )
        missing = [name for name in ("title", "amount", "buyer_email") if name not in values]
        if missing:
            raise InvalidParamsError("escrow", dict.fromkeys(missing, "is required"))
        return cls(**values)

    def validate(self) -> None:
        """Raise :class:`InvalidParamsError` naming every broken rule; return if all hold."""
        v = Violations("escrow")
        mode = self.mode
        v.choice("mode", mode, MODES)
        v.text("title", self.title, min_len=1, max_len=200)
        v.email("buyer_email", self.buyer_email)
        v.choice("currency", self.currency, CURRENCIES)
        # The minimum applies to amountTnd after the FX lock; we can check it
        # only for TND escrows, the server checks the others.
        minimum = _MIN_TND.get(mode) if self.currency == "TND" else None
        v.money("amount", self.amount, minimum=minimum)
        if self.seller_email is not None:
            v.email("seller_email", self.seller_email)
            if mode == "instant":
                v.add(
                    "seller_email",
                    "must not be sent with mode='instant' (you are always the seller)",
                )
        if self.estimated_delivery_days is None:
            if mode in ("standard", "quick"):
                v.add(
                    "estimated_delivery_days",
                    f"is required with mode={mode!r} (only instant escrows default it to 1 day)",
                )
        else:
            v.whole("estimated_delivery_days", self.estimated_delivery_days, minimum=1)
        if self.contract_terms is not None:
            if mode in ("quick", "instant"):
                v.add(
                    "contract_terms",
                    f"must not be sent with mode={mode!r} (only standard escrows have a contract)",
                )
            else:
                v.text("contract_terms", self.contract_terms, min_len=1, max_len=10_000)
        elif mode == "standard":
            v.add(
                "contract_terms",
                "is required with mode='standard' (both parties sign these terms before payment)",
            )
        if self.auto_sign is not None:
            if not isinstance(self.auto_sign, bool):
                v.add("auto_sign", "must be True or False")
            elif self.auto_sign and mode in ("quick", "instant"):
                v.add(
                    "auto_sign",
                    f"is not allowed with mode={mode!r}"
                    " (only standard escrows have a contract to sign)",
                )
            elif self.auto_sign and self.seller_email is not None:
                v.add("auto_sign", "only applies when you are the seller (omit seller_email)")
        if self.developer_fee_percentage is not None:
            fee = v.percentage("developer_fee_percentage", self.developer_fee_percentage)
            if fee is not None and fee > 0 and self.seller_email is None:
                # Observed client code sends 0 on instant escrows; a real fee
                # needs a third-party seller (create page). A bounds error already
                # recorded for the field wins (Violations keeps the first).
                v.add(
                    "developer_fee_percentage",
                    "only applies when the seller is a third party (set seller_email)",
                )
        if self.fulfillment_policy is not None:
            self._validate_policy(v)
        if self.description is not None:
            v.text("description", self.description, max_len=2000)
        v.raise_if_any()

    def _validate_policy(self, v: Violations) -> None:
        if self.mode != "quick":
            v.add(
                "fulfillment_policy",
                "is only valid with mode='quick' (purchase proof is a quick-escrow feature)",
            )
            return
        if not isinstance(self.fulfillment_policy, FulfillmentPolicy | Mapping):
            v.add("fulfillment_policy", "must be a FulfillmentPolicy or a mapping")
            return
        wire = _wire_policy(self.fulfillment_policy)
        if wire.get("type") != _PROOF_POLICY_TYPE:
            v.add("fulfillment_policy.type", f"must be {_PROOF_POLICY_TYPE!r}")
        low, high = _PROOF_HOURS
        for key, name in (
            ("proofUploadDeadlineHours", "proof_upload_deadline_hours"),
            ("buyerReviewDeadlineHours", "buyer_review_deadline_hours"),
        ):
            if key in wire:
                v.whole(f"fulfillment_policy.{name}", wire[key], minimum=low, maximum=high)

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON body; unset optional fields are left out."""
        body: dict[str, Any] = {
            "title": self.title,
            "amount": _exact(self.amount),
            "currency": self.currency,
            "buyerEmail": self.buyer_email.strip(),
            "mode": self.mode,
        }
        optional = {
            "sellerEmail": self.seller_email.strip() if self.seller_email else None,
            "estimatedDeliveryDays": self.estimated_delivery_days,
            "contractTerms": self.contract_terms,
            # Sent only when true: the docs forbid the field on quick and instant
            # escrows, and false is the server's default anyway.
            "autoSign": True if self.auto_sign is True else None,
            "developerFeePercentage": (
                None
                if self.developer_fee_percentage is None
                else _exact(self.developer_fee_percentage)
            ),
            "fulfillmentPolicy": (
                None if self.fulfillment_policy is None else _wire_policy(self.fulfillment_policy)
            ),
            # Not documented on create (only on update): sent only when the caller gave it.
            "description": self.description,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _exact(value: Decimal | int | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value).strip())


class Escrows(Resource):
    """Create, list, read, update and move escrows through their life cycle."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> EscrowsWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return EscrowsWithRawResponse(Escrows(self._raw_client()))

    async def create(
        self,
        *,
        title: str,
        amount: Decimal | int | str,
        buyer_email: str,
        mode: ModeArg = "standard",
        currency: CurrencyArg = "TND",
        seller_email: str | None = None,
        estimated_delivery_days: int | None = None,
        contract_terms: str | None = None,
        auto_sign: bool | None = None,
        developer_fee_percentage: Decimal | int | str | None = None,
        fulfillment_policy: FulfillmentPolicy | Mapping[str, Any] | None = None,
        description: str | None = None,
        validate: bool = True,
        check_signature: SignatureCheck = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowCreated:
        """
        ``POST /escrows``: create an escrow (201).

        The documented rules are checked first; on a broken rule
        :class:`InvalidParamsError` (a ``ValueError``) names each field and
        nothing is sent. ``validate=False`` leaves the checks to the server.
        A create that may have reached the server is never retried blindly:
        its error has ``may_have_succeeded = True``. ``auto_sign`` is sent only
        when True, and ``description`` only when given (the create page does
        not say whether the server accepts it; the update page does).

        ``check_signature`` (with ``auto_sign=True``): ask first whether the
        developer account has a signature configured, since without one the
        server refuses the escrow. ``True`` asks with the client's
        ``developer_token`` (``DhmadClient(developer_token=...)``), or pass a
        :class:`~dhmad_async.DhmadDeveloperClient`. No signature raises
        :class:`InvalidParamsError` on ``auto_sign`` and the escrow is not sent.
        The check costs one ``GET`` from the same rate budget.
        """
        params = EscrowParams(
            title=title,
            amount=amount,
            buyer_email=buyer_email,
            mode=mode,
            currency=currency,
            seller_email=seller_email,
            estimated_delivery_days=estimated_delivery_days,
            contract_terms=contract_terms,
            auto_sign=auto_sign,
            developer_fee_percentage=developer_fee_percentage,
            fulfillment_policy=fulfillment_policy,
            description=description,
        )
        return await self.create_from(
            params,
            validate=validate,
            check_signature=check_signature,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def create_from(
        self,
        params: EscrowParams,
        *,
        validate: bool = True,
        check_signature: SignatureCheck = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowCreated:
        """``POST /escrows`` from an :class:`EscrowParams` (options as :meth:`create`)."""
        if validate:
            params.validate()
        if check_signature is not False and params.auto_sign is True:
            await self._require_signature(check_signature, timeout)
        return await self._client._request(
            "POST",
            "/escrows",
            json=params.to_wire(),
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_created,
        )

    async def _require_signature(self, check: SignatureCheck, timeout: TimeoutArg) -> None:
        """Raise unless the developer account has a signature for ``auto_sign``."""
        from dhmad_async._client import DhmadDeveloperClient

        if check is True:
            status = await self._client._signature_status(timeout=timeout)
        elif isinstance(check, DhmadDeveloperClient):
            status = await check.signature.get(timeout=timeout)
        else:
            raise InvalidParamsError(
                "escrow", {"check_signature": "must be True, False or a DhmadDeveloperClient"}
            )
        if not status.has_signature:
            raise InvalidParamsError(
                "escrow",
                {
                    "auto_sign": "needs a signature configured for the developer account, and"
                    " none is: upload one with DhmadDeveloperClient.signature.set(...) or in"
                    " the dashboard (the escrow was not sent)"
                },
            )

    def create_many(
        self,
        items: Iterable[object],
        *,
        journal: BatchJournal | str | Path | None = None,
        concurrency: int = 8,
        on_progress: Callable[[BatchProgress], object] | None = None,
        options: BatchOptions | None = None,
        max_sends: int | None = None,
        settle: float | None = None,
        clock_skew: float | None = None,
        page_size: int | None = None,
        max_scan_pages: int | None = None,
        if_not_found: Literal["resend_if_proven", "resend", "review"] | None = None,
        associated_email: str | None = None,
        max_pause: float | None = None,
        durable: bool | None = None,
        claim_poll: float | None = None,
    ) -> BatchRun:
        """
        Create many escrows, journalled and resumable (see ``dhmad_async.batch``).

        ``await`` the result for a ``BatchReport`` (one outcome per item, in
        input order) or ``async for`` it for outcomes as they finish. The
        tuning fields are those of :class:`~dhmad_async.batch.BatchOptions`:
        pass ``options=`` or name fields here (a field named here wins).
        """
        from dhmad_async.batch._protocols import EscrowsBinding
        from dhmad_async.batch._runner import BatchOptions, create_many

        given: dict[str, Any] = {
            "max_sends": max_sends,
            "settle": settle,
            "clock_skew": clock_skew,
            "page_size": page_size,
            "max_scan_pages": max_scan_pages,
            "if_not_found": if_not_found,
            "associated_email": associated_email,
            "max_pause": max_pause,
            "durable": durable,
            "claim_poll": claim_poll,
        }
        chosen = attrs.evolve(
            options or BatchOptions(), **{k: v for k, v in given.items() if v is not None}
        )
        client = self._client
        return create_many(
            EscrowsBinding(self, client.clock, client.max_connections),
            items,
            journal=journal,
            concurrency=concurrency,
            on_progress=on_progress,
            options=chosen,
        )

    def list(
        self,
        *,
        status: StatusArg | None = None,
        role: RoleArg | None = None,
        limit: int = 20,
        page: int = 1,
        until_stable: bool = False,
        max_passes: int = 3,
        drift_warnings: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> AsyncPager[Escrow, EscrowPage]:
        """
        ``GET /escrows``, newest first: ``async for escrow in …``, ``.pages()``, or ``await``.

        ``await client.escrows.list(...)`` answers the first page (an
        :class:`~dhmad_async.models.EscrowPage`); iterating fetches each page
        in turn, with every filter sent on every page, and stops after the last.

        The list is numbered by page, so escrows created or removed while it is
        read shift the pages: iteration skips an escrow it already yielded
        (counted in ``pager.duplicates``) and notes a ``total`` that changed
        (``pager.total_changes``), with a :class:`~dhmad_async.PaginationDriftWarning`
        unless ``drift_warnings=False``. ``until_stable=True`` then reads again
        from page 1, yielding only escrows not yet seen, until one whole pass
        sees no drift: every escrow that existed throughout that pass has been
        yielded exactly once. A quiet list costs one pass (``pages`` requests);
        each pass with drift costs one more, and after ``max_passes`` passes
        :class:`~dhmad_async.PaginationError` is raised.
        """
        v = Violations("list parameters")
        v.whole("limit", limit, minimum=1, maximum=100)
        v.whole("page", page, minimum=1)
        v.whole("max_passes", max_passes, minimum=1)
        if role is not None:
            v.choice("role", role, ROLES)
        if status is not None:
            v.choice("status", status, STATUSES)
        if until_stable and page != 1:
            v.add("page", "must be 1 with until_stable=True (each pass reads from page 1)")
        v.raise_if_any()

        async def fetch(number: int) -> EscrowPage:
            params = {"status": status, "role": role, "page": number, "limit": limit}
            return await self._client._request(
                "GET",
                "/escrows",
                params=params,
                timeout=timeout,
                extra_headers=extra_headers,
                parse=_parse_page,
            )

        return AsyncPager(
            fetch,
            items=_page_escrows,
            pagination=_page_info,
            item_key=_escrow_id,
            first_page=page,
            page_size=limit,
            until_stable=until_stable,
            max_passes=max_passes,
            drift_warnings=drift_warnings,
        )

    async def get(
        self,
        escrow_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> Escrow:
        """``GET /escrows/:id``: one escrow, for its creator or a party."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}"
        return await self._client._request(
            "GET", path, timeout=timeout, extra_headers=extra_headers, parse=_parse_escrow
        )

    async def update(
        self,
        escrow_id: str,
        *,
        title: str | None = None,
        amount: Decimal | int | str | None = None,
        amount_currency: Literal["TND"] | None = None,
        description: str | None = None,
        estimated_delivery_days: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowResult:
        """
        ``PUT /escrows/:id``: edit a pending escrow; at least one field.

        The API reads an updated ``amount`` as TND, whatever currency the escrow
        was created in, so a new amount is refused unless it comes with
        ``amount_currency="TND"``: ``update(id, amount=Decimal("120"),
        amount_currency="TND")``. On a USD or EUR escrow, convert the amount to
        TND first; otherwise 120 USD would silently become 120 TND. Nothing is
        sent when a rule is broken. The contract terms cannot be changed here
        (the endpoint does not list them).
        """
        v = Violations("escrow update")
        body: dict[str, Any] = {}
        if title is not None:
            v.text("title", title, min_len=1, max_len=200)
            body["title"] = title
        if amount_currency is not None and amount_currency != "TND":
            v.add(
                "amount_currency",
                f"must be 'TND': the API takes an updated amount in TND only "
                f"(got {amount_currency!r}); convert the amount to TND first",
            )
        elif amount_currency is not None and amount is None:
            v.add("amount_currency", "only applies together with amount")
        if amount is not None:
            body["amount"] = v.money("amount", amount)
            if amount_currency is None:
                v.add(
                    "amount",
                    "is read by the API as TND, whatever currency the escrow was created in;"
                    " pass amount_currency='TND' to confirm this amount is in TND"
                    " (convert a USD or EUR amount to TND first)",
                )
        if description is not None:
            v.text("description", description, max_len=2000)
            body["description"] = description
        if estimated_delivery_days is not None:
            v.whole("estimated_delivery_days", estimated_delivery_days, minimum=1)
            body["estimatedDeliveryDays"] = estimated_delivery_days
        if not body:
            v.add(
                "fields", "give at least one of title, amount, description, estimated_delivery_days"
            )
        v.raise_if_any()
        path = f"/escrows/{path_id('escrow_id', escrow_id)}"
        return await self._client._request(
            "PUT",
            path,
            json=body,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_result,
        )

    async def deliver(
        self,
        escrow_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowResult:
        """
        ``POST /escrows/:id/deliver``: the seller marks a paid escrow delivered.

        Instant escrows complete at once. A quick escrow with proof answers
        409 (``ConflictError``, code ``PROOF_NOT_ACCEPTED``) until proof is accepted.
        """
        return await self._transition(escrow_id, "deliver", None, timeout, extra_headers)

    async def reject_delivery(
        self,
        escrow_id: str,
        *,
        reason: str | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowResult:
        """``POST /escrows/:id/reject-delivery``: the buyer sends it back to ``paid``."""
        if reason is not None and not isinstance(reason, str):
            raise InvalidParamsError("reject delivery", {"reason": "must be a string"})
        body = {"reason": reason} if reason is not None else {}
        return await self._transition(escrow_id, "reject-delivery", body, timeout, extra_headers)

    async def cancel(
        self,
        escrow_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> EscrowResult:
        """``POST /escrows/:id/cancel``: either party cancels a pending escrow."""
        return await self._transition(escrow_id, "cancel", None, timeout, extra_headers)

    async def _transition(
        self,
        escrow_id: str,
        action: str,
        body: dict[str, Any] | None,
        timeout: TimeoutArg,
        extra_headers: ExtraHeaders,
    ) -> EscrowResult:
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/{action}"
        return await self._client._request(
            "POST",
            path,
            json=body,
            timeout=timeout,
            extra_headers=extra_headers,
            parse=_parse_result,
        )

    async def contract(
        self,
        escrow_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> Contract:
        """``GET /escrows/:id/contract``: standard escrows only, for a party; others answer 404."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/contract"
        return await self._client._request(
            "GET", path, timeout=timeout, extra_headers=extra_headers, parse=_parse_contract
        )

    async def proof(
        self,
        escrow_id: str,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> Proof:
        """``GET /escrows/:id/proof``: proof status of a quick escrow with purchase proof."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/proof"
        return await self._client._request(
            "GET", path, timeout=timeout, extra_headers=extra_headers, parse=_parse_proof
        )


def _page_escrows(page: EscrowPage) -> list[Escrow]:
    return page.escrows


def _page_info(page: EscrowPage) -> Any:
    return page.pagination


def _escrow_id(escrow: Escrow) -> str:
    return escrow.id


class EscrowsWithRawResponse:
    """
    ``client.escrows.with_raw_response``: each call answers an APIResponse.

    ``list(...)`` answers its first page (``await``-ing the pager); read later
    pages with ``page=``. ``create_many`` has no raw form (it is many calls).
    """

    __slots__ = (
        "cancel",
        "contract",
        "create",
        "create_from",
        "deliver",
        "get",
        "list",
        "proof",
        "reject_delivery",
        "update",
    )

    def __init__(self, escrows: Escrows) -> None:
        self.create = raw_method(escrows.create)
        self.create_from = raw_method(escrows.create_from)
        self.list = raw_first_page(escrows.list)
        self.get = raw_method(escrows.get)
        self.update = raw_method(escrows.update)
        self.deliver = raw_method(escrows.deliver)
        self.reject_delivery = raw_method(escrows.reject_delivery)
        self.cancel = raw_method(escrows.cancel)
        self.contract = raw_method(escrows.contract)
        self.proof = raw_method(escrows.proof)
