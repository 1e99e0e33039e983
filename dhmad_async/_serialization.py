"""
The one cattrs converter that turns DHMAD JSON into attrs models and back. Pure: no I/O.

What it knows about the wire:

- field names are camelCase, except on classes marked ``__dhmad_wire_case__ = "snake"``
  (identity verifications, OAuth); a field may also name its wire key with
  ``attrs.field(metadata={"wire": "..."})``;
- an ``id`` field also accepts Mongo's ``_id`` (nested users, get-escrow);
- datetimes are ISO 8601 with or without milliseconds, ``Z`` or an offset, and
  always come out timezone-aware (a naive value is taken as UTC — INF);
- money is :class:`decimal.Decimal` both ways; ints, Decimals (the client parses
  JSON with ``parse_float=Decimal``), floats (via ``str``) and strings are accepted;
- open enums (:class:`enum.StrEnum` subclasses) map known values to members and
  keep unknown values as plain ``str``;
- unions of ``str`` with one attrs class (``seller: str | UserRef | None``,
  ``contract.escrow: str | Escrow | None``) take a string id, an object or null;
- a ``null`` where a list is declared reads as an empty list (the
  documented examples only show filled arrays; ``null`` for "none" is common in Mongo APIs);
- unknown fields are never an error: models deriving from
  :class:`~dhmad_async.models.WireModel` keep them in ``extra``, and
  :func:`unstructure` writes them back;
- :func:`structure_response` also removes a ``{"data": …}`` envelope and the
  ``{"<resource>": …}`` envelope most endpoints answer with.

Speed matters (the request-overhead benchmark): :func:`structure` first tries a
fast function generated once per model (:func:`fast_structurer`), which sets the
attributes directly and accepts only the shapes the lenient converter would turn
into exactly the same model; on anything else it steps aside and the cattrs
converter (hooks generated once per class by ``make_dict_structure_fn``) builds
the model or reports every problem. Any caller of :func:`structure` (responses,
webhook events, batch journals) gets the fast path.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from dhmad_async._errors import ResponseValidationError

if TYPE_CHECKING:  # pragma: no cover
    # cattrs is imported when the lenient converter is first needed (an unexpected
    # shape, an error report, unstructure): most processes never need it.
    import cattrs

__all__ = [
    "make_converter",
    "response_parser",
    "structure",
    "structure_response",
    "unstructure",
    "unwrap_envelopes",
    "wire_name",
]

T = TypeVar("T")

#: Class attribute that marks a model as snake_case on the wire.
WIRE_CASE_ATTR = "__dhmad_wire_case__"
#: Class attribute that marks a model whose raw body must not ride on errors (secrets).
REDACT_ATTR = "__dhmad_redact_body__"
#: The attribute of :class:`~dhmad_async.models.WireModel` holding undeclared keys.
EXTRA_FIELD = "extra"
#: The generic envelope key (``{"data": {...}}``) some API pages show.
DATA_ENVELOPE = "data"
#: At most this many flattened cattrs messages go into an error's text.
_MAX_MESSAGES = 5
# Epoch numbers above this are milliseconds, not seconds (year 5138 in seconds).
_EPOCH_MS_THRESHOLD = 100_000_000_000

_UTC = dt.UTC
_NONE_TYPE = type(None)


def _camel(name: str) -> str:
    """Return the camelCase form of a snake_case attribute name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(cls: type[Any], field: attrs.Attribute[Any]) -> str:
    """Return the JSON key of ``field`` of the attrs class ``cls``."""
    explicit = field.metadata.get("wire")
    if explicit is not None:
        return str(explicit)
    if getattr(cls, WIRE_CASE_ATTR, "camel") == "snake":
        return field.name
    return _camel(field.name)


# --- simple types --------------------------------------------------------------------------


def _structure_decimal(value: Any, _: type[Any]) -> Decimal:
    # Exact types first: this hook runs for every money field of every response.
    kind = type(value)
    if kind is Decimal:
        result: Decimal = value
    elif kind is int:
        return Decimal(value)
    elif kind is str:
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            # No value in the message: bodies may carry secrets.
            raise ValueError("not a decimal number") from None
    elif kind is float:
        # str() gives the shortest repr (1500.5, not 1500.49999...), the value the
        # server most likely wrote.
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return Decimal(str(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        return Decimal(int(value))
    else:
        raise TypeError("expected a number")
    if not result.is_finite():
        raise ValueError("not a finite number")
    return result


def _structure_datetime(value: Any, _: type[Any]) -> dt.datetime:
    if type(value) is str:
        try:
            # Python 3.11's fromisoformat takes "Z", offsets and any fraction length.
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 datetime") from None
    elif isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # INF: not seen in the docs; accept epoch seconds or milliseconds defensively.
        seconds = float(value)
        if abs(seconds) >= _EPOCH_MS_THRESHOLD:
            seconds /= 1000
        return dt.datetime.fromtimestamp(seconds, _UTC)
    else:
        raise TypeError("expected an ISO 8601 string")
    if parsed.tzinfo is None:
        # INF (REFERENCE §1.10): timestamps are UTC; a missing offset means UTC.
        return parsed.replace(tzinfo=_UTC)
    return parsed


def _unstructure_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    text = value.astimezone(_UTC).isoformat()
    return text[:-6] + "Z"  # "+00:00" → "Z", the form the API sends


def _structure_str(value: Any, _: type[Any]) -> str:
    if type(value) is str:
        return value
    # IDs are opaque strings (REFERENCE §1.10); accept a number, refuse objects so a
    # changed shape is reported instead of becoming "{'_id': ...}".
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError("expected a string")


def _structure_bool(value: Any, _: type[Any]) -> bool:
    if value is True or value is False:
        return value
    raise TypeError("expected a boolean")


def _structure_int(value: Any, _: type[Any]) -> int:
    kind = type(value)
    if kind is int:
        return typing.cast(int, value)
    if kind is Decimal or kind is float:
        # JSON "14.0" parsed with parse_float=Decimal is still a count.
        if value == int(value):
            return int(value)
        raise ValueError("not a whole number")
    if kind is str:
        try:
            return int(value)
        except ValueError:
            raise ValueError("not a whole number") from None
    raise TypeError("expected an integer")


def _structure_any(value: Any, _: type[Any]) -> Any:
    return value


# --- open enums ----------------------------------------------------------------------------


def _is_open_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.StrEnum)


def _open_enum_hook(cls: type[enum.StrEnum]) -> Callable[[Any, Any], Any]:
    members: Mapping[str, enum.StrEnum] = cls._value2member_map_  # type: ignore[assignment]

    def structure_open_enum(value: Any, _: Any) -> Any:
        if type(value) is not str and not isinstance(value, str):
            raise TypeError("expected a string")
        # An unknown value is kept as the plain str (forward compatibility).
        return members.get(value, value)

    return structure_open_enum


# --- unions --------------------------------------------------------------------------------


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def _is_handled_union(tp: Any) -> bool:
    args = _union_args(tp)
    if args is None:
        return False
    rest = [arg for arg in args if arg is not _NONE_TYPE and arg is not str]
    if str not in args:
        return False
    return len(rest) == 1 and (_is_open_enum(rest[0]) or attrs.has(rest[0]))


def _union_hook_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    args = _union_args(tp) or ()
    optional = _NONE_TYPE in args
    (other,) = [arg for arg in args if arg is not _NONE_TYPE and arg is not str]
    if _is_open_enum(other):
        enum_hook = _open_enum_hook(other)

        def structure_open(value: Any, _: Any) -> Any:
            if value is None and optional:
                return None
            return enum_hook(value, other)

        return structure_open

    object_hook = converter.get_structure_hook(other)

    def structure_id_or_object(value: Any, _: Any) -> Any:
        # e.g. seller: a string id on create, a user object on list/get, or null
        # (REFERENCE §2.3, §7 item 10).
        if value is None and optional:
            return None
        if type(value) is str:
            return value
        if isinstance(value, Mapping):
            return object_hook(value, other)
        raise TypeError("expected a string id or an object")

    return structure_id_or_object


def _is_optional(tp: Any) -> bool:
    args = _union_args(tp)
    return args is not None and len(args) == 2 and _NONE_TYPE in args


def _optional_hook_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs' own Optional handling dispatches on every call; resolving the inner
    # hook once roughly halves the cost of a typical escrow.
    (inner_type,) = [arg for arg in typing.get_args(tp) if arg is not _NONE_TYPE]
    inner = converter.get_structure_hook(inner_type)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure_optional


def _union_unstructure_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    def unstructure_union(value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return value.value
        if value is None or type(value) is str:
            return value
        return converter.unstructure(value)

    return unstructure_union


# --- attrs classes -------------------------------------------------------------------------


def _is_list_type(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _declared_fields(cls: type[Any]) -> list[attrs.Attribute[Any]]:
    """
    The fields of ``cls`` that come from the wire.

    Not ``extra``, and not the ``init=False`` bookkeeping of
    :class:`~dhmad_async.models.WireModel` (``_request_id``).
    """
    return [f for f in attrs.fields(cls) if f.name != EXTRA_FIELD and f.init]


def _bookkeeping_overrides(cls: type[Any]) -> dict[str, Any]:
    """cattrs overrides that keep ``extra`` and the ``init=False`` fields off the wire."""
    from cattrs.gen import override

    return {
        f.name: override(omit=True)
        for f in attrs.fields(cls)
        if f.name == EXTRA_FIELD or not f.init
    }


def _attrs_structure_factory(cls: type[Any], converter: cattrs.Converter) -> Callable[..., Any]:
    from cattrs.gen import make_dict_structure_fn, override

    fields = _declared_fields(cls)
    keeps_extra = any(f.name == EXTRA_FIELD for f in attrs.fields(cls))
    overrides: dict[str, Any] = {
        f.name: override(rename=wire_name(cls, f)) for f in fields if wire_name(cls, f) != f.name
    }
    overrides.update(_bookkeeping_overrides(cls))
    base = make_dict_structure_fn(cls, converter, **overrides)
    hints = typing.get_type_hints(cls)
    # Wire keys of non-optional list fields: a null there means "none".
    list_keys = tuple(wire_name(cls, f) for f in fields if _is_list_type(hints.get(f.name)))
    id_field = next((f for f in fields if f.name == "id"), None)
    mongo_id = id_field is not None and wire_name(cls, id_field) == "id"
    known = frozenset(wire_name(cls, f) for f in fields) | ({"_id"} if mongo_id else set())

    def structure_model(data: Any, cl: Any) -> Any:
        # Runs for every object of every response: plain loops and C-level set checks.
        if type(data) is not dict:
            return base(data, cl)  # cattrs reports what is wrong with it
        if mongo_id and "id" not in data and "_id" in data:
            # Mongo-style "_id" is accepted wherever "id" is (REFERENCE §1.5, §2.4, §2.5).
            data = {**data, "id": data["_id"]}
        for key in list_keys:
            if key in data and data[key] is None:
                data = {**data, key: []}
        obj = base(data, cl)
        if keeps_extra and not known.issuperset(data):
            # Frozen, so set it the way attrs itself does.
            unknown = {key: value for key, value in data.items() if key not in known}
            object.__setattr__(obj, EXTRA_FIELD, unknown)
        return obj

    return structure_model


def _attrs_unstructure_factory(cls: type[Any], converter: cattrs.Converter) -> Callable[..., Any]:
    from cattrs.gen import make_dict_unstructure_fn, override

    fields = _declared_fields(cls)
    keeps_extra = any(f.name == EXTRA_FIELD for f in attrs.fields(cls))
    overrides: dict[str, Any] = {
        f.name: override(rename=wire_name(cls, f)) for f in fields if wire_name(cls, f) != f.name
    }
    overrides.update(_bookkeeping_overrides(cls))
    base = make_dict_unstructure_fn(cls, converter, **overrides)
    if not keeps_extra:
        return base

    def unstructure_model(obj: Any) -> Any:
        data = base(obj)
        extra = getattr(obj, EXTRA_FIELD)
        if extra:
            # Declared fields win over a stale duplicate in extra.
            data = {**extra, **data}
        return data

    return unstructure_model


# --- the fast path ------------------------------------------------------------------------
#
# For each attrs model, plain Python source is generated once that reads the dict the
# client decoded and sets the attributes directly: no cattrs dispatch, no per-field
# try/except bookkeeping, no keyword-argument dict. It accepts only the shapes the
# lenient converter turns into exactly the same model (same values, same types, same
# ``extra``); anything else -- a missing required key, a list where an object was
# expected, a value a simple hook refuses -- raises, and :func:`structure` then runs
# the lenient converter on the whole body, which builds the model or reports every
# problem. So the fast path can only be faster, never more or less lenient.


class _NotFast(Exception):
    """Strictly private: this body (or this class) is for the lenient converter."""


_MISSING: Any = object()


class _FastBuilder:
    """Generates the fast structuring function of one attrs class (and of its nested ones)."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_NotFast": _NotFast,
            "_MISSING": _MISSING,
            "_Decimal": Decimal,
            "_fromiso": dt.datetime.fromisoformat,
            "_UTC": _UTC,
            "_s_str": _structure_str,
            "_s_int": _structure_int,
            "_s_bool": _structure_bool,
            "_s_dec": _structure_decimal,
            "_s_dt": _structure_datetime,
            "_new": object.__new__,
        }
        self._counter = 0

    def name(self, prefix: str, value: Any) -> str:
        """Put ``value`` in the generated code's namespace under a fresh name."""
        self._counter += 1
        key = f"{prefix}{self._counter}"
        self.namespace[key] = value
        return key

    def convert(self, tp: Any, var: str, pad: str, *, field_level: bool = False) -> list[str]:
        """Lines that turn the decoded value in ``var`` into a ``tp`` in place, or raise."""
        if tp is str:
            return [f"{pad}if type({var}) is not str: {var} = _s_str({var}, None)"]
        if tp is bool:
            return [f"{pad}if {var} is not True and {var} is not False: raise _NotFast"]
        if tp is int:
            return [f"{pad}if type({var}) is not int: {var} = _s_int({var}, None)"]
        if tp is Decimal:
            return [
                f"{pad}if type({var}) is _Decimal:",
                f"{pad}    if not {var}.is_finite(): raise _NotFast",
                f"{pad}else: {var} = _s_dec({var}, None)",
            ]
        if tp is dt.datetime:
            return [
                f"{pad}if type({var}) is str:",
                f"{pad}    {var} = _fromiso({var})",
                f"{pad}    if {var}.tzinfo is None: {var} = {var}.replace(tzinfo=_UTC)",
                f"{pad}else: {var} = _s_dt({var}, None)",
            ]
        if tp is Any:
            return []
        if _is_open_enum(tp):
            members = self.name("_members", tp._value2member_map_)
            return [
                f"{pad}if type({var}) is not str: raise _NotFast",
                f"{pad}{var} = {members}.get({var}, {var})",
            ]
        if attrs.has(tp):
            fast = self.name("_fast", _fast_function(tp))
            return [
                f"{pad}if type({var}) is not dict: raise _NotFast",
                f"{pad}{var} = {fast}({var})",
            ]
        if _is_list_type(tp):
            (item_type,) = typing.get_args(tp) or (Any,)
            lines = []
            if field_level:
                # A null array reads as empty (see the module docstring).
                lines.append(f"{pad}if {var} is None: {var} = []")
                lines.append(f"{pad}elif type({var}) is not list: raise _NotFast")
            else:
                lines.append(f"{pad}if type({var}) is not list: raise _NotFast")
            item_lines = self.convert(item_type, "x", "    ")
            if item_lines:
                item_fn = self.function("_item", "x", [*item_lines, "    return x"])
                lines.append(f"{pad}else: {var} = [{item_fn}(x) for x in {var}]")
            else:
                lines.append(f"{pad}else: {var} = list({var})")
            return lines
        origin = typing.get_origin(tp)
        if origin is dict and typing.get_args(tp) == (str, Any):
            return [
                f"{pad}if type({var}) is not dict: raise _NotFast",
                f"{pad}{var} = {{(k if type(k) is str else _s_str(k, None)): x"
                f" for k, x in {var}.items()}}",
            ]
        args = _union_args(tp)
        if args is not None:
            optional = _NONE_TYPE in args
            rest = [arg for arg in args if arg is not _NONE_TYPE]
            if optional and len(rest) == 1:
                inner = self.convert(rest[0], var, pad + "    ", field_level=False)
                return [f"{pad}if {var} is not None:", *inner] if inner else []
            if str in rest and len(rest) == 2:
                (other,) = [arg for arg in rest if arg is not str]
                none_case = [f"{pad}if {var} is None: pass"] if optional else []
                if _is_open_enum(other):
                    members = self.name("_members", other._value2member_map_)
                    return [
                        *none_case,
                        f"{pad}{'el' if optional else ''}if type({var}) is str:"
                        f" {var} = {members}.get({var}, {var})",
                        f"{pad}else: raise _NotFast",
                    ]
                if attrs.has(other):
                    fast = self.name("_fast", _fast_function(other))
                    return [
                        *none_case,
                        f"{pad}{'el' if optional else ''}if type({var}) is str: pass",
                        f"{pad}elif type({var}) is dict: {var} = {fast}({var})",
                        f"{pad}else: raise _NotFast",
                    ]
        raise _NotFast(f"no fast path for {tp!r}")

    def function(self, prefix: str, arg: str, body: list[str]) -> str:
        """Compile ``def <fresh name>(arg): body`` into the namespace; return its name."""
        self._counter += 1
        name = f"{prefix}{self._counter}"
        source = "\n".join([f"def {name}({arg}):", *body])
        exec(compile(source, f"<dhmad fast structure {name}>", "exec"), self.namespace)
        return name


def _slot_setters(cls: type[Any]) -> dict[str, Any]:
    """Each slot of ``cls`` (and its bases) -> the slot descriptor's ``__set__``."""
    setters: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, types.MemberDescriptorType):
                setters[name] = value.__set__
    return setters


def _build_fast_function(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    """
    Generate the fast structuring function of the attrs class ``cls``.

    Raises :class:`_NotFast` for a class it cannot build exactly like the lenient
    converter does (validators, converters, post-init hooks, a field type it does
    not know, no slots): such classes always take the lenient path.
    """
    if any(
        hasattr(cls, hook)
        for hook in ("__attrs_post_init__", "__attrs_pre_init__", "__attrs_init__")
    ):
        raise _NotFast("init hooks")
    every = attrs.fields(cls)
    setters = _slot_setters(cls)
    if set(setters) - {"__weakref__"} != {f.name for f in every}:
        raise _NotFast("not a plain slotted class")
    hints = typing.get_type_hints(cls)
    builder = _FastBuilder()
    fields = _declared_fields(cls)
    keeps_extra = any(f.name == EXTRA_FIELD for f in every)
    id_field = next((f for f in fields if f.name == "id"), None)
    mongo_id = id_field is not None and wire_name(cls, id_field) == "id"
    known = frozenset(wire_name(cls, f) for f in fields) | ({"_id"} if mongo_id else set())
    cls_name = builder.name("_cls", cls)
    body = [f"    o = _new({cls_name})"]
    for field in every:
        if field.validator is not None or field.converter is not None:
            raise _NotFast("validators and converters")
        setter = builder.name("_set", setters[field.name])
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                raise _NotFast("factory taking self")
            missing = f"{builder.name('_factory', default.factory)}()"
        elif default is attrs.NOTHING:
            missing = ""
        else:
            missing = builder.name("_default", default)
        if field.name == EXTRA_FIELD or not field.init:
            if field.name != EXTRA_FIELD:
                if not missing:
                    raise _NotFast("init=False field without a default")
                body.append(f"    {setter}(o, {missing})")
            continue
        tp = hints.get(field.name, field.type)
        key = repr(wire_name(cls, field))
        args = _union_args(tp)
        mongo = field.name == "id" and mongo_id  # "_id" is accepted wherever "id" is
        if default is None and args is not None and _NONE_TYPE in args:
            # Missing and null are the same here: both mean None.
            if mongo:
                body.append(f"    v = d.get({key}, _MISSING)")
                body.append("    if v is _MISSING: v = d.get('_id')")
            else:
                body.append(f"    v = d.get({key})")
            body += builder.convert(tp, "v", "    ", field_level=True)
        else:
            body.append(f"    v = d.get({key}, _MISSING)")
            if mongo:
                body.append("    if v is _MISSING: v = d.get('_id', _MISSING)")
            body.append(
                f"    if v is _MISSING: v = {missing}"
                if missing
                else "    if v is _MISSING: raise _NotFast"
            )
            convert = builder.convert(tp, "v", "        ", field_level=True)
            if convert:
                body += ["    else:", *convert]
        body.append(f"    {setter}(o, v)")
    if keeps_extra:
        known_name = builder.name("_known", known)
        setter = builder.name("_set", setters[EXTRA_FIELD])
        body += [
            f"    if {known_name}.issuperset(d): {setter}(o, {{}})",
            f"    else: {setter}(o, {{k: x for k, x in d.items() if k not in {known_name}}})",
        ]
    body.append("    return o")
    name = builder.function(f"structure_{cls.__name__}_", "d", body)
    fn: Callable[[dict[str, Any]], Any] = builder.namespace[name]
    return fn


#: attrs class -> its fast function, or None once it is known not to have one.
_FAST: dict[Any, Callable[[dict[str, Any]], Any] | None] = {}


def _fast_function(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    """The cached fast function of ``cls``; raises :class:`_NotFast` if it has none."""
    if cls in _FAST:
        fast = _FAST[cls]
        if fast is None:
            raise _NotFast(f"no fast path for {cls!r}")
        return fast
    # A class nested in itself (directly or not) would recurse while it is built: the
    # trampoline looks the finished function up at call time.
    _FAST[cls] = lambda d: _FAST[cls](d)  # type: ignore[misc]
    try:
        fast = _build_fast_function(cls)
    except Exception as exc:
        # Not built: this class always takes the lenient path.
        _FAST[cls] = None
        raise _NotFast(f"no fast path for {cls!r}") from exc
    _FAST[cls] = fast
    return fast


def fast_structurer(cls: type[Any]) -> Callable[[dict[str, Any]], Any] | None:
    """
    The generated fast structuring function of the attrs class ``cls``, or None.

    It takes a decoded JSON object (a ``dict``) and returns the model, exactly
    as the lenient converter would, or raises on anything it does not handle.
    :func:`structure` uses it first; use :func:`structure`, not this.
    """
    if not attrs.has(cls):
        _FAST[cls] = None
        return None
    try:
        return _fast_function(cls)
    except _NotFast:
        return None


def make_converter() -> cattrs.Converter:
    """Build a new converter configured for the DHMAD wire format."""
    import cattrs

    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    # Simple types first, as cattrs' docs advise; factories for composite types last.
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    converter.register_structure_hook(Any, _structure_any)
    converter.register_unstructure_hook(Decimal, lambda value: value)
    converter.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    converter.register_structure_hook_factory(_is_open_enum, _open_enum_hook)
    converter.register_unstructure_hook_func(_is_open_enum, lambda value: value.value)
    converter.register_structure_hook_factory(
        _is_optional, lambda tp: _optional_hook_factory(tp, converter)
    )
    converter.register_structure_hook_factory(
        _is_handled_union, lambda tp: _union_hook_factory(tp, converter)
    )
    converter.register_unstructure_hook_factory(
        _is_handled_union, lambda tp: _union_unstructure_factory(tp, converter)
    )
    converter.register_structure_hook_factory(
        attrs.has, lambda cls: _attrs_structure_factory(cls, converter)
    )
    converter.register_unstructure_hook_factory(
        attrs.has, lambda cls: _attrs_unstructure_factory(cls, converter)
    )
    return converter


_CONVERTER_CACHE: list[cattrs.Converter] = []
# Class → hook; saves the converter's dispatch on every call.
_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {}


def _converter() -> cattrs.Converter:
    """The module's lenient converter, built on first use (most bodies never need it)."""
    if not _CONVERTER_CACHE:
        _CONVERTER_CACHE.append(make_converter())
    return _CONVERTER_CACHE[0]


def __getattr__(name: str) -> Any:
    # ``_CONVERTER`` is built lazily; the name still works for code that reads it.
    if name == "_CONVERTER":
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _format_exception(exc: BaseException, tp: type[Any] | None) -> str:
    # Like cattrs.v.format_exception, but never echoes the exception text: it may
    # contain a value from the body, and bodies may carry secrets.
    name = getattr(tp, "__name__", None) or (repr(tp) if tp is not None else None)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError | TypeError):
        return f"invalid value for type, expected {name}" if name else "invalid value"
    if isinstance(exc, AttributeError):
        return "expected a mapping"
    return f"invalid value ({type(exc).__name__})"


def structure(data: object, cls: type[T]) -> T:
    """Build a ``cls`` from decoded JSON, or raise ``ResponseValidationError``."""
    fast = _FAST.get(cls, _MISSING)
    if fast is _MISSING:
        fast = fast_structurer(cls)
    if fast is not None and type(data) is dict:
        try:
            return typing.cast(T, fast(data))
        except Exception:
            pass  # an unexpected shape: the lenient converter decides, and reports
    return _structure_lenient(data, cls)


def _structure_lenient(data: object, cls: type[T]) -> T:
    """:func:`structure` through the cattrs converter: every shape it accepts, every error."""
    hook = _HOOKS.get(cls)
    if hook is None:
        hook = _HOOKS[cls] = _converter().get_structure_hook(cls)
    try:
        return typing.cast(T, hook(data, cls))
    except Exception as exc:
        import cattrs

        errors = cattrs.transform_error(exc, format_exception=_format_exception)
        name = getattr(cls, "__name__", repr(cls))
        shown = "; ".join(errors[:_MAX_MESSAGES])
        if len(errors) > _MAX_MESSAGES:
            shown += f"; and {len(errors) - _MAX_MESSAGES} more"
        body = None if getattr(cls, REDACT_ATTR, False) else data
        raise ResponseValidationError(
            f"Response does not match {name}: {shown}", body=body, errors=errors
        ) from exc


_SHAPES: dict[Any, tuple[frozenset[str], frozenset[str]]] = {}


def _envelope_shape(cls: type[Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(every wire key, the required wire keys) of an attrs class; empty for other types."""
    shape = _SHAPES.get(cls)
    if shape is None:
        every: frozenset[str] = frozenset()
        required: frozenset[str] = frozenset()
        if attrs.has(cls):
            fields = _declared_fields(cls)
            every = frozenset(wire_name(cls, f) for f in fields)
            required = frozenset(wire_name(cls, f) for f in fields if f.default is attrs.NOTHING)
        shape = _SHAPES[cls] = (every, required)
    return shape


def unwrap_envelopes(data: Any, cls: type[Any], *, key: str | None = None) -> Any:
    """
    Remove the envelopes around a response body before it is structured into ``cls``.

    - ``{"data": X}``: X is used when the body does not fit ``cls`` by itself
      (its required keys, or the ``key`` envelope, are missing) and ``data``
      is not a field of ``cls``. The API overview shows bodies wrapped this
      way, the endpoint pages do not; both are accepted.
    - ``{key: X}`` (e.g. ``{"escrow": {...}}``): X, when present.
    """
    if isinstance(data, Mapping) and DATA_ENVELOPE in data:
        inner = data[DATA_ENVELOPE]
        every, required = _envelope_shape(cls)
        if key is not None:
            fits = key in data
        elif required:
            fits = required <= data.keys()
        else:
            fits = any(name in data for name in every)
        if not fits and DATA_ENVELOPE not in every and isinstance(inner, Mapping | list):
            data = inner
    if key is not None and isinstance(data, Mapping) and key in data:
        data = data[key]
    return data


def structure_response(data: object, cls: type[T], *, key: str | None = None) -> T:
    """:func:`structure` a response body after :func:`unwrap_envelopes`."""
    return structure(unwrap_envelopes(data, cls, key=key), cls)


def response_parser(cls: type[T], *, key: str | None = None) -> Callable[[object], T]:
    """A one-argument :func:`structure_response` for ``cls``: what the client's ``parse=`` takes."""
    return functools.partial(structure_response, cls=cls, key=key)


def unstructure(obj: Any) -> Any:
    """
    Turn a model into JSON-ready data: wire keys, ``Decimal`` kept, datetimes as ISO 8601 Z.

    The keys a model kept in ``extra`` are written back, so
    ``structure(unstructure(model), type(model)) == model``.
    """
    return _converter().unstructure(obj)
