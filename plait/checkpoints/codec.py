"""Node values as JSON through pydantic, rebuilt into the declared types on the way back.

A node's value is a dict of its output fields. It is validated and encoded against the node's
declared output types (a TypedDict of them), so ``Literal``, ``int``, nested models and lists come
back as the types the signature declared. Nothing is pickled.

Every value that validates round-trips (DESIGN.md contract 9): NaN and the infinities are written
as JSON's usual ``NaN`` / ``Infinity`` constants (not ``null``), and a lone UTF-16 surrogate
(``"\\ud800"``, what ``json.loads`` makes of a legal escape) as its ``\\ud800`` escape; a high and a
low surrogate side by side therefore read back as the one character they make, as JSON reads them.
A value that has no JSON form raises :class:`UnstorableValue` before anything is written, and a
stored value that does not read back raises :class:`StoreError`, never turning into None.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, SchemaSerializer, to_jsonable_python
from typing_extensions import TypedDict

from plait.errors import StoreError
from plait.ir.nodes import Field
from plait.ir.types import type_name


class UnstorableValue(ValueError):
    """A validated value with no JSON form (an object pydantic cannot serialize, a tuple dict key):
    raised before the store is touched, so that only that item fails."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"field '{field}' holds a value that cannot be stored as JSON: {reason}")
        self.field, self.value, self.reason = field, value, reason


def json_utf8(obj: Any, *, sort_keys: bool = False, separators: tuple[str, str] = (",", ":")) -> bytes:
    """JSON as UTF-8 bytes, a lone surrogate written as its ``\\uXXXX`` escape (json.loads reads it
    back). Everything else is plain UTF-8, so bytes (and hashes) of ordinary values are unchanged.
    ``sort_keys`` and ``separators`` as json.dumps's: a loop entry's bytes keep the form they have."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=sort_keys, separators=separators)
    # A surrogate can only sit inside a JSON string, where backslashreplace's \udXXX is its escape.
    return text.encode("utf-8", "backslashreplace")


class Codec:
    """Validates, encodes and decodes the values of nodes with the given output fields."""

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self.fields = fields
        # TypedDict's functional form takes any key ('model_x', '_y'): no renaming, and a plain dict back.
        self.adapter: TypeAdapter = TypeAdapter(TypedDict("NodeValue", {f.name: f.type for f in fields}))
        # Floats write NaN/inf as constants; pydantic's default would write null.
        self.serializer = SchemaSerializer(self.adapter.core_schema, {"ser_json_inf_nan": "constants"})
        # ...except inside a nested model, or a value typed Any, which serialize with their own config.
        self.own_configs = bool(_schema_types(self.adapter.core_schema) - _PLAIN_SCHEMAS)
        # Every field a plain str (most LM outputs): validating and reading back are identities there.
        self.str_names = tuple(f.name for f in fields) if fields and all(f.type is str for f in fields) else None

    def validate(self, values: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """Coerce raw values (an item, an LM's parsed fields) into the declared types; raises
        ValidationError. ``strict``: refuse conversions between JSON kinds (see :meth:`check_strict`)."""
        if strict:
            self.check_strict(values)
        elif self._plain_strs(values):  # what pydantic returns for them: the declared fields, unchanged
            return {name: values[name] for name in self.str_names}
        return self.adapter.validate_python(values)

    def check_strict(self, values: dict[str, Any]) -> None:
        """pydantic's strict mode on the values' JSON form: "7" is no int, True and 7.0 are no int,
        1 is no bool, "7.5" is no float; a datetime's ISO string, an enum's value and a model's
        object are their types' JSON forms and pass, like the objects themselves."""
        try:
            plain = to_jsonable_python(values, fallback=repr)  # an object with no JSON form fails in encode()
        except ValueError:  # a lone surrogate in a dict key, which encode() refuses with a clear message
            return
        # The check is about kinds, not text: a lone surrogate (which pydantic's JSON parser refuses) becomes '?'.
        form = json.dumps(plain, ensure_ascii=False).encode("utf-8", "replace")
        self.adapter.validate_json(form, strict=True)

    def encode(self, values: dict[str, Any]) -> bytes:
        """The values' JSON; raises UnstorableValue for a value with no JSON form."""
        try:
            data = self.serializer.to_json(values, warnings=False)
        except PydanticSerializationError:  # a lone surrogate, or an object with no JSON form
            return self._encode_faithfully(values)
        # pydantic's JSON is exact unless it holds a null that may be a NaN or inf (written so by a nested
        # model's own config) or U+FFFD (it replaces a lone surrogate in a dict key): those take the exact path.
        if (self.own_configs and b"null" in data) or _REPLACEMENT in data:
            return self._encode_faithfully(values)
        return data

    def stored(self, values: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """(the values as every replay will see them, their JSON): encoded and read back before
        anything is stored, so that a run goes on with exactly what resume and the cache give back.
        UnstorableValue if they have no JSON form or it does not read back."""
        data = self.encode(values)
        if len(values) == len(self.fields) and self._plain_strs(values):  # JSON strings read back as they were
            return {name: values[name] for name in self.str_names}, data
        try:
            return self.decode(data), data
        except StoreError as exc:
            name = exc.field or (self.fields[0].name if self.fields else "?")
            raise UnstorableValue(name, values.get(name), f"it does not read back ({exc.summary})") from None

    def _plain_strs(self, values: dict[str, Any]) -> bool:
        """Are the fields all str, and is each given as an exact str that UTF-8 can encode (no lone
        surrogate, which is stored as its escape and could pair up with a neighbour on the way back)?"""
        return self.str_names is not None and all(
            type(v := values.get(name)) is str and (v.isascii() or is_utf8(v)) for name in self.str_names)

    def _encode_faithfully(self, values: dict[str, Any]) -> bytes:
        try:  # JSON-mode Python keeps non-finite floats as floats; json.dumps writes them as NaN/Infinity
            data = json_utf8(self.serializer.to_python(values, mode="json", warnings=False))
        except (PydanticSerializationError, TypeError, ValueError):
            raise self._unstorable(values) from None
        if _REPLACEMENT in data and _surrogate_key(values) is not None:
            raise self._unstorable(values)
        return data

    def _unstorable(self, values: dict[str, Any]) -> UnstorableValue:
        """Which field cannot be stored, and why."""
        if (key := _surrogate_key(values)) is not None:
            field = next(name for name, value in values.items() if _surrogate_key(value) is not None)
            return UnstorableValue(field, key, f"the dict key {key!r} holds a lone surrogate, which pydantic "
                                   "cannot write as a key")
        for f in self.fields:
            one = codec_for((f,))
            try:
                json_utf8(one.serializer.to_python({f.name: values.get(f.name)}, mode="json", warnings=False))
            except (PydanticSerializationError, TypeError, ValueError) as exc:
                return UnstorableValue(f.name, values.get(f.name), str(exc).splitlines()[0][:200])
        return UnstorableValue(self.fields[0].name if self.fields else "?", values, "unknown")

    def decode(self, data: bytes, where: str = "a stored value") -> dict[str, Any]:
        """The stored values, in their declared types; StoreError if they do not read back."""
        try:
            return self.adapter.validate_json(data)
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "json_invalid":
                raise self._mismatch(where, data, exc) from None
        try:  # pydantic's JSON parser refuses a lone surrogate's escape; json.loads reads it
            plain = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"{where} is not readable JSON", found=f"{exc}; {data[:120]!r}",
                             fix="the store is damaged: recompute the node into a new store, or restore the "
                             "store from a backup") from None
        try:
            return self.adapter.validate_python(plain)
        except ValidationError as exc:
            raise self._mismatch(where, data, exc) from None

    def _mismatch(self, where: str, data: bytes, exc: ValidationError) -> StoreError:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        declared = {f.name: f.type for f in self.fields}
        path = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("input", "") is None:
            fix = ("a null where a value is required is how plait stored NaN and infinities before it wrote them "
                   "as such; what it was is lost: recompute that node (plait rerun RUN --from NODE; "
                   "a new run recomputes it by itself)")
        else:
            fix = ("the node's declared types changed since this value was stored: rerun that node "
                   "(plait rerun RUN --from NODE), or resume with the edited pipeline")
        return StoreError(f"{where} does not match its declared types ({path}: {err['msg']})",
                          field=name if name in declared else None,
                          expected=type_name(declared[name]) if name in declared else None,
                          found=f"{data[:200]!r}", fix=fix)


_REPLACEMENT = "\ufffd".encode()
# Core schemas whose JSON follows the codec's own config (so NaN is NaN); any other (a model, a dataclass,
# Any, a custom serializer) may write a non-finite float as null.
_PLAIN_SCHEMAS = frozenset({
    "str", "int", "float", "bool", "none", "nullable", "list", "dict", "tuple", "set", "frozenset", "literal",
    "enum", "datetime", "date", "time", "timedelta", "decimal", "uuid", "bytes", "url", "complex", "union",
    "tagged-union", "default", "typed-dict", "typed-dict-field", "definitions", "definition-ref",
    "lax-or-strict", "json-or-python"})


def _schema_types(schema: Any) -> set[str]:
    """Every core schema type in a (JSON-like) pydantic core schema."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("type"), str):
            found.add(schema["type"])
        for value in schema.values():
            found |= _schema_types(value)
    elif isinstance(schema, (list, tuple)):
        for value in schema:
            found |= _schema_types(value)
    return found


def _surrogate_key(value: Any) -> str | None:
    """The first dict key, at any depth, that holds a lone surrogate."""
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not is_utf8(key):
                return key
            if (found := _surrogate_key(item)) is not None:
                return found
    elif isinstance(value, (list, tuple, set, frozenset)):
        return next((found for item in value if (found := _surrogate_key(item)) is not None), None)
    return None


def is_utf8(text: str) -> bool:
    """False for a str holding a lone surrogate (valid in Python, not in UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=4096)
def codec_for(fields: tuple[Field, ...]) -> Codec:
    return Codec(fields)
