"""Run items: normalize what users pass (dicts, DSPy Examples, pydantic models) and validate it
against the pipeline's inputs before any LM call. A bad item fails alone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from plait.checkpoints.codec import UnstorableValue, codec_for
from plait.errors import InputError
from plait.ir.nodes import Node
from plait.ir.types import type_name
from plait.runtime.executor import ItemState
from plait.runtime.values import PLAIN_DATA

_ITEM_SHAPE = "a dict like {'question': ...}"
_ITEM_FIX = "make each item a dict (or a dspy.Example / pydantic model) of the pipeline's inputs"


def item_source(data: Any) -> Iterable[Any]:
    """A dataset as given (a list, or any iterable, a generator included: read once, in order);
    a single mapping is one item."""
    if isinstance(data, (Mapping, BaseModel)) or hasattr(data, "inputs") and hasattr(data, "toDict"):
        return [data]
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise InputError(f"run() expects a dataset (a list of dicts) or one dict, got {type(data).__name__}",
                         fix="pass [{'field': value, ...}, ...]")
    return data


def check_ids(ids: Sequence[str] | None, count: int) -> None:
    if ids is not None and (len(ids) != count or len(set(ids)) != len(ids)):
        raise InputError("ids= must give one unique id per item", expected=f"{count} unique ids",
                         found=f"{len(ids)} ids, {len(set(ids))} unique", fix="pass distinct ids, or none")


def encoded_items(input_node: Node, data: Iterable[Any], ids: Sequence[str] | None,
                  strict: bool = False) -> Iterator[tuple[ItemState, bytes]]:
    """Each item validated as it is reached: (its state, its inputs' JSON). Item ids are ``ids``
    (checked by the caller) or the positions."""
    for position, raw in enumerate(data):
        state = ItemState(ids[position] if ids is not None else str(position), position, {})
        try:
            state.inputs, blob = stored_item(input_node, state.item_id,
                                             validate_item(input_node, state.item_id, raw, strict))
        except InputError as exc:
            state.status, state.error, blob = "failed", exc, b"{}"
        yield state, blob


def validate_item(input_node: Node, item_id: str, raw: Any, strict: bool = False) -> dict[str, Any]:
    fields = _as_dict(item_id, raw)
    declared = {f.name: f for f in input_node.outputs}
    missing = [n for n in declared if n not in fields]
    if missing:
        raise InputError(
            f"item {item_id} has no field '{missing[0]}'", node=input_node.id, field=missing[0],
            field_kind="input", source=input_node.source, expected=f"the fields {', '.join(declared)}",
            found=f"the fields {', '.join(map(str, fields)) or '(none)'}",
            fix=f"add '{missing[0]}' to every item, or rename the pipeline's input to match the data")
    try:
        return codec_for(input_node.outputs).validate({n: fields[n] for n in declared}, strict=strict)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        expected = type_name(declared[name].type) if name in declared else "the declared types"
        lax = " (strict validation is on: no conversion between kinds)" if strict else ""
        raise InputError(
            f"item {item_id}: field '{name}' has the wrong type ({err['msg']}){lax}", node=input_node.id,
            field=name, field_kind="input", source=input_node.source, expected=expected,
            found=f"{fields.get(name)!r} ({type(fields.get(name)).__name__})",
            fix="fix the item's value, or change the type annotation of forward()'s parameter") from None


def stored_item(input_node: Node, item_id: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """(the inputs as the store gives them back, their JSON); InputError if a value cannot be stored."""
    try:
        return codec_for(input_node.outputs).stored(inputs)
    except UnstorableValue as exc:
        declared = input_node.output(exc.field)
        raise InputError(
            f"item {item_id}: field '{exc.field}' cannot be stored ({exc.reason})", node=input_node.id,
            field=exc.field, field_kind="input", source=input_node.source,
            expected=f"a value of type {type_name(declared.type) if declared else 'the declared one'} with a JSON form",
            found=f"{exc.value!r}"[:200] + f" ({type(exc.value).__name__})",
            fix=f"pass plain data ({PLAIN_DATA}), or declare the field's precise type so that pydantic "
            "converts it") from None


def item_fields(raw: Any) -> dict[str, Any]:
    """The fields of a dict, a DSPy Example or a pydantic model (InputError for anything else)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, BaseModel):
        return raw.model_dump()
    if hasattr(raw, "toDict"):  # dspy.Example
        return dict(raw.toDict())
    raise InputError(f"an item is a {type(raw).__name__}, not a mapping of fields", expected=_ITEM_SHAPE,
                     found=repr(raw)[:100], fix=_ITEM_FIX)


def _as_dict(item_id: str, raw: Any) -> dict[str, Any]:
    try:
        return item_fields(raw)
    except InputError:
        pass
    raise InputError(f"item {item_id} is a {type(raw).__name__}, not a mapping of fields",
                     expected=_ITEM_SHAPE, found=repr(raw)[:100], fix=_ITEM_FIX)
