"""
Escrows: ``/api/v1/escrows`` (REFERENCE §2.3–2.11).

:class:`EscrowParams` holds and validates the parameters of a create call; the
batch module reuses it, so one set of rules guards both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._pagination import AsyncPager
from dhmad_async._serialization import response_parser
from dhmad_async.models import (
    Contract,
    Currency,
    Escrow,
    EscrowCreated,
    EscrowMode,
    EscrowPage,
    EscrowResult,
    FulfillmentPolicy,
    Proof,
)
from dhmad_async.resources._base import (
    InvalidParamsError,
    Resource,
    Violations,
    path_id,
)

if TYPE_CHECKING:
    from dhmad_async.batch import BatchRun

__all__ = ["EscrowParams", "Escrows"]


# The documented values (REFERENCE §2.3-2.4); the enums are the one list of them.
MODES: Final = tuple(EscrowMode)
CURRENCIES: Final = tuple(Currency)
ROLES: Final = ("seller", "buyer")
# REFERENCE §2.3/§3.3: minimum ledger amounts in TND.
_MIN_TND: Final = {"standard": Decimal(5), "quick": Decimal(5), "instant": Decimal("0.01")}
_PROOF_POLICY_TYPE: Final = "purchase_proof_required"
# REFERENCE §3.5: "default bounds 6–72 h"; the platform may configure others,
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
    The parameters of ``POST /escrows``, in Python names (REFERENCE §2.3).

    :meth:`validate` checks the documented rules — mode rules of §3.3,
    lengths, minimum amounts — and :meth:`to_wire` gives the camelCase body.
    """

    title: str
    amount: Decimal | int | str
    buyer_email: str
    mode: str = "standard"
    currency: str = "TND"
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
        if mode not in MODES:
            v.add("mode", f"must be one of {', '.join(MODES)} (got {mode!r})")
        v.text("title", self.title, min_len=1, max_len=200)
        v.email("buyer_email", self.buyer_email)
        if self.currency not in CURRENCIES:
            v.add("currency", f"must be one of {', '.join(CURRENCIES)} (got {self.currency!r})")
        # The minimum applies to amountTnd after the FX lock; we can check it
        # only for TND escrows, the server checks the others.
        minimum = _MIN_TND.get(mode) if self.currency == "TND" else None
        v.money("amount", self.amount, minimum=minimum)
        if self.seller_email is not None:
            v.email("seller_email", self.seller_email)
            if mode == "instant":
                v.add(
                    "seller_email",
                    "must not be sent with mode='instant' (you are always the seller, §3.3)",
                )
        if self.estimated_delivery_days is None:
            if mode in ("standard", "quick"):
                v.add("estimated_delivery_days", f"is required with mode={mode!r} (§3.3)")
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
            v.add("contract_terms", "is required with mode='standard' (§3.3)")
        if self.auto_sign is not None:
            if not isinstance(self.auto_sign, bool):
                v.add("auto_sign", "must be True or False")
            elif self.auto_sign and mode in ("quick", "instant"):
                v.add("auto_sign", f"is not allowed with mode={mode!r} (§3.3)")
            elif self.auto_sign and self.seller_email is not None:
                v.add("auto_sign", "only applies when you are the seller (omit seller_email)")
        if self.developer_fee_percentage is not None:
            fee = v.percentage("developer_fee_percentage", self.developer_fee_percentage)
            if fee is not None and fee > 0 and self.seller_email is None:
                # Observed client code sends 0 on instant escrows; a real fee
                # needs a third-party seller (§2.3). A bounds error already
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
            v.add("fulfillment_policy", "is only valid with mode='quick' (§3.5)")
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

    async def create(
        self,
        *,
        title: str,
        amount: Decimal | int | str,
        buyer_email: str,
        mode: Literal["standard", "quick", "instant"] | str = "standard",
        currency: str = "TND",
        seller_email: str | None = None,
        estimated_delivery_days: int | None = None,
        contract_terms: str | None = None,
        auto_sign: bool | None = None,
        developer_fee_percentage: Decimal | int | str | None = None,
        fulfillment_policy: FulfillmentPolicy | Mapping[str, Any] | None = None,
        description: str | None = None,
        validate: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> EscrowCreated:
        """
        ``POST /escrows``: create an escrow (REFERENCE §2.3).

        The documented rules are checked first; on a broken rule
        :class:`InvalidParamsError` (a ``ValueError``) names each field and
        nothing is sent. ``validate=False`` leaves the checks to the server.
        A create that may have reached the server is never retried blindly:
        its error has ``may_have_succeeded = True``. ``auto_sign`` is sent only
        when True, and ``description`` only when given (the create page does
        not say whether the server accepts it; the update page does).
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
        return await self.create_from(params, validate=validate, timeout=timeout)

    async def create_from(
        self,
        params: EscrowParams,
        *,
        validate: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> EscrowCreated:
        """``POST /escrows`` from an :class:`EscrowParams`."""
        if validate:
            params.validate()
        return await self._client._request(
            "POST",
            "/escrows",
            json=params.to_wire(),
            timeout=timeout,
            parse=response_parser(EscrowCreated),
        )

    def create_many(
        self,
        items: Iterable[object],
        *,
        journal: Any = None,
        concurrency: int = 8,
        on_progress: Callable[[Any], object] | None = None,
        **options: Any,
    ) -> BatchRun:
        """
        Create many escrows, journalled and resumable (see ``dhmad_async.batch``).

        ``await`` the result for a ``BatchReport`` (one outcome per item, in
        input order) or ``async for`` it for outcomes as they finish.
        ``options`` are :class:`~dhmad_async.batch.BatchOptions` fields.
        """
        from dhmad_async.batch._protocols import EscrowsBinding
        from dhmad_async.batch._runner import BatchOptions, create_many

        client = self._client
        return create_many(
            EscrowsBinding(self, client.clock, client.max_connections),
            items,
            journal=journal,
            concurrency=concurrency,
            on_progress=on_progress,
            options=BatchOptions(**options),
        )

    def list(
        self,
        *,
        status: str | None = None,
        role: Literal["seller", "buyer"] | None = None,
        limit: int = 20,
        page: int = 1,
    ) -> AsyncPager[Escrow, EscrowPage]:
        """
        ``GET /escrows``, newest first: ``async for escrow in …`` or ``.pages()``.

        Every filter is sent with every page; iteration stops after the last page.
        """
        v = Violations("list parameters")
        v.whole("limit", limit, minimum=1, maximum=100)
        v.whole("page", page, minimum=1)
        if role is not None and role not in ROLES:
            v.add("role", f"must be 'seller' or 'buyer' (got {role!r})")
        if status is not None and not (isinstance(status, str) and status):
            v.add("status", "must be a status string such as 'pending'")
        v.raise_if_any()

        async def fetch(number: int) -> EscrowPage:
            params = {"status": status, "role": role, "page": number, "limit": limit}
            return await self._client._request(
                "GET", "/escrows", params=params, parse=response_parser(EscrowPage)
            )

        return AsyncPager(
            fetch,
            items=lambda result: result.escrows,
            pagination=lambda result: result.pagination,
            item_key=lambda escrow: escrow.id,
            first_page=page,
            page_size=limit,
        )

    async def get(self, escrow_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Escrow:
        """``GET /escrows/:id`` (REFERENCE §2.5)."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}"
        return await self._client._request(
            "GET", path, timeout=timeout, parse=response_parser(Escrow, key="escrow")
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
    ) -> EscrowResult:
        """
        ``PUT /escrows/:id``: edit a pending escrow; at least one field (REFERENCE §2.6).

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
            "PUT", path, json=body, timeout=timeout, parse=response_parser(EscrowResult)
        )

    async def deliver(
        self, escrow_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> EscrowResult:
        """
        ``POST /escrows/:id/deliver``: the seller marks a paid escrow delivered (§2.7).

        Instant escrows complete at once. A quick escrow with proof answers
        409 (``ConflictError``, code ``PROOF_NOT_ACCEPTED``) until proof is accepted.
        """
        return await self._transition(escrow_id, "deliver", None, timeout)

    async def reject_delivery(
        self,
        escrow_id: str,
        *,
        reason: str | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> EscrowResult:
        """``POST /escrows/:id/reject-delivery``: the buyer sends it back to ``paid`` (§2.8)."""
        if reason is not None and not isinstance(reason, str):
            raise InvalidParamsError("reject delivery", {"reason": "must be a string"})
        body = {"reason": reason} if reason is not None else {}
        return await self._transition(escrow_id, "reject-delivery", body, timeout)

    async def cancel(
        self, escrow_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> EscrowResult:
        """``POST /escrows/:id/cancel``: cancel a pending escrow (§2.9)."""
        return await self._transition(escrow_id, "cancel", None, timeout)

    async def _transition(
        self, escrow_id: str, action: str, body: dict[str, Any] | None, timeout: TimeoutArg
    ) -> EscrowResult:
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/{action}"
        return await self._client._request(
            "POST", path, json=body, timeout=timeout, parse=response_parser(EscrowResult)
        )

    async def contract(
        self, escrow_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> Contract:
        """``GET /escrows/:id/contract``: standard escrows only; others answer 404 (§2.10)."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/contract"
        return await self._client._request(
            "GET", path, timeout=timeout, parse=response_parser(Contract, key="contract")
        )

    async def proof(self, escrow_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Proof:
        """``GET /escrows/:id/proof``: proof status of a quick escrow with proof (§2.11)."""
        path = f"/escrows/{path_id('escrow_id', escrow_id)}/proof"
        return await self._client._request(
            "GET", path, timeout=timeout, parse=response_parser(Proof, key="proof")
        )
