"""
Batch items: normalise what callers pass, key and fingerprint it, and read CSV / JSON Lines.

Pure apart from :func:`read_items`, which reads one local file.
"""

from __future__ import annotations

import collections
import csv
import difflib
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from dhmad_async.resources import EscrowParams, InvalidParamsError

__all__ = [
    "BatchItem",
    "PreparedItem",
    "UnreadableItem",
    "auto_key",
    "group_key",
    "known_columns",
    "normalise_title",
    "prepare_items",
    "read_items",
]

# Keys a mapping item may carry besides the escrow parameters.
_KEY_FIELDS = ("external_key", "externalKey")
_INT_FIELDS = frozenset({"estimated_delivery_days", "estimatedDeliveryDays"})
_BOOL_FIELDS = frozenset({"auto_sign", "autoSign"})
_JSON_FIELDS = frozenset({"fulfillment_policy", "fulfillmentPolicy"})
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})


@attrs.frozen
class BatchItem:
    """One item of a batch: the escrow parameters and an optional caller key (e.g. an order id)."""

    params: EscrowParams
    external_key: str | None = None


@attrs.frozen
class UnreadableItem:
    """A line or row of an input file that could not be read; it becomes a ``failed`` outcome."""

    message: str


@attrs.frozen
class PreparedItem:
    """
    A normalised item: its position, key, fingerprints and wire body, or why it is invalid.

    ``fingerprint`` identifies the exact request body. ``match_key`` (the group key)
    covers only what every documented escrow view shows: the normalised title and
    the amount. Items with the same ``match_key`` may be indistinguishable on the
    server (the documented list shows no emails, currency or mode), so they are
    sent one at a time.
    """

    position: int
    key: str
    params: EscrowParams | None
    wire: dict[str, Any] | None
    fingerprint: str
    match_key: str
    error: str | None = None


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, Decimals as plain strings (500 == 500.00)."""

    def default(value: object) -> object:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=default)


def _digest(text: str, size: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def normalise_title(title: object) -> str:
    """
    The one normal form of a title, for grouping items and for matching escrows.

    Unicode NFKC, case-folded, whitespace runs collapsed to one space and trimmed.
    Coarser than the server is likely to be (INF: it may trim, the docs do not say):
    two titles equal here can only cost a review, while two titles the server treats
    as equal but we did not would hide an escrow and cause a resend.
    """
    text = unicodedata.normalize("NFKC", str(title or ""))
    return " ".join(text.casefold().split())


def amount_text(amount: object) -> str:
    """The amount as a normalised decimal string (``500`` for ``500.00``), ``""`` if absent."""
    if amount is None:
        return ""
    return format(Decimal(str(amount)).normalize(), "f")


def group_key(wire: Mapping[str, Any]) -> str:
    """The identity group of a request body: normalised title and amount, hashed."""
    return _digest(
        canonical_json([normalise_title(wire.get("title")), amount_text(wire.get("amount"))])
    )


def auto_key(fingerprint: str, occurrence: int) -> str:
    """
    The key of an item without ``external_key``: its content and its occurrence index.

    ``occurrence`` counts earlier items with the same content, so removing or
    inserting other items never changes a key, and identical items stay
    interchangeable (``n`` of them mean ``n`` escrows).
    """
    return "auto-" + _digest(f"{fingerprint}#{occurrence}", 20)


def _split_key(item: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    data = dict(item)
    key: str | None = None
    for name in _KEY_FIELDS:
        if name in data:
            value = data.pop(name)
            if value is not None and str(value).strip():
                key = str(value).strip()
    return key, data


def prepare_items(items: Iterable[object]) -> list[PreparedItem]:
    """
    Normalise and validate every item before anything is sent.

    Each bad item gets its own message; duplicate caller keys are rejected
    (the second and later ones), because a key names one escrow.
    """
    prepared: list[PreparedItem] = []
    seen: set[str] = set()
    occurrences: collections.Counter[str] = collections.Counter()
    for position, item in enumerate(items):
        key: str | None = None
        params: EscrowParams | None = None
        error: str | None = None
        try:
            if isinstance(item, UnreadableItem):
                error = item.message
            elif isinstance(item, BatchItem):
                params, key = item.params, item.external_key
            elif isinstance(item, EscrowParams):
                params = item
            elif isinstance(item, Mapping):
                key, data = _split_key(item)
                params = EscrowParams.from_mapping(data)
            else:
                error = (
                    f"item {position} is a {type(item).__name__}, not EscrowParams, "
                    "BatchItem or a mapping"
                )
            if params is not None:
                params.validate()
        except (InvalidParamsError, TypeError, ValueError) as exc:
            error = str(exc)
        wire: dict[str, Any] | None = None
        if params is not None and error is None:
            try:
                wire = params.to_wire()
            except (ArithmeticError, TypeError, ValueError) as exc:  # pragma: no cover
                error = f"cannot encode item: {exc}"
        body = canonical_json(wire) if wire is not None else f"invalid:{position}"
        fingerprint = _digest(body)
        match_key = group_key(wire) if wire is not None else ""
        if key is None:
            key = auto_key(fingerprint, occurrences[fingerprint])
            occurrences[fingerprint] += 1
        elif key in seen and error is None:
            error = f"external_key {key!r} appears more than once in this batch"
        seen.add(key)
        prepared.append(
            PreparedItem(
                position=position,
                key=key,
                params=params if error is None else None,
                wire=wire if error is None else None,
                fingerprint=fingerprint,
                match_key=match_key,
                error=error,
            )
        )
    return prepared


def _coerce_csv_value(name: str, value: str) -> Any:
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value  # validation names the field
    if name in _BOOL_FIELDS:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value, parse_float=Decimal)
        except ValueError:
            return value
    return value


def known_columns() -> tuple[str, ...]:
    """The columns an input file may have: every create parameter (snake_case) and the key."""
    return (*(field.name for field in attrs.fields(EscrowParams)), "external_key")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check_header(path: Path, header: list[str] | None) -> None:
    """Refuse an unknown, empty or repeated column before any row is read (or sent)."""
    if not header:
        raise ValueError(f"{path.name}: no header row (the first row names the columns)")
    known = known_columns()
    accepted = {*known, *(_camel(name) for name in known)}
    seen: set[str] = set()
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            raise ValueError(f"{path.name}: column {number} has no name in the header row")
        if name not in accepted:
            close = difflib.get_close_matches(name, sorted(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{path.name}: unknown column {name!r}{hint}; known columns: {', '.join(known)}"
            )
        if name in seen:
            raise ValueError(f"{path.name}: column {name!r} appears twice in the header row")
        seen.add(name)


def _read_csv(path: Path) -> list[object]:
    items: list[object] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        _check_header(path, list(reader.fieldnames) if reader.fieldnames is not None else None)
        for row in reader:
            # Empty cells mean "not given", so optional parameters can share one sheet.
            item = {
                name.strip(): _coerce_csv_value(name.strip(), value)
                for name, value in row.items()
                if name is not None and value is not None and value.strip() != ""
            }
            items.append(item)
    return items


def _read_jsonl(path: Path) -> list[object]:
    items: list[object] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                # Money must never pass through float.
                value = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                items.append(UnreadableItem(f"line {number}: not valid JSON ({exc.msg})"))
                continue
            if not isinstance(value, dict):
                items.append(UnreadableItem(f"line {number}: expected a JSON object"))
                continue
            items.append(value)
    return items


def read_items(path: str | Path) -> list[object]:
    """
    Read items from ``.csv`` or ``.jsonl``/``.ndjson``/``.json`` (JSON Lines); does file I/O.

    A CSV header naming a column that is not a create parameter (a typo such as
    ``buyer_emial``) raises ValueError naming it and the known columns: no row is read.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return _read_csv(file)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(file)
    raise ValueError(f"{file.name}: unknown input format (use .csv or .jsonl)")
