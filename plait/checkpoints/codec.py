"""Node values as JSON through pydantic, rebuilt into the declared types on the way back.

A node's value is a dict of its output fields. It is encoded with a pydantic model built from
the node's declared output types, so ``Literal``, ``int``, nested models and lists come back as
the types the signature declared. Nothing is pickled; a value that no longer validates against
the declared types raises instead of turning into None.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from plait.errors import StoreError
from plait.ir.nodes import Field


@lru_cache(maxsize=4096)
def _model_for(fields: tuple[tuple[str, Any], ...]) -> type[BaseModel]:
    spec = {_safe(name): (type_, ...) for name, type_ in fields}
    aliases = {_safe(name): name for name, _ in fields}
    model = create_model("NodeValue", __config__=ConfigDict(arbitrary_types_allowed=False), **spec)
    model.__plait_aliases__ = aliases
    return model


def _safe(name: str) -> str:
    # pydantic reserves names starting with "model_" and underscores; prefix them.
    return f"f_{name}" if name.startswith(("model_", "_")) else name


class Codec:
    """Encodes and decodes the values of nodes with the given output fields."""

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self.model = _model_for(tuple((f.name, f.type) for f in fields))
        self._aliases = self.model.__plait_aliases__

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Coerce raw values (e.g. an LM's parsed fields) into the declared types; raises ValidationError."""
        obj = self.model.model_validate({_safe(k): v for k, v in values.items()})
        return self._unwrap(obj)

    def encode(self, values: dict[str, Any]) -> bytes:
        obj = self.model.model_construct(**{_safe(k): v for k, v in values.items()})
        return obj.model_dump_json(warnings=False).encode()

    def decode(self, data: bytes, where: str = "a stored value") -> dict[str, Any]:
        try:
            return self._unwrap(self.model.model_validate_json(data))
        except ValidationError as exc:
            raise StoreError(
                f"{where} no longer matches its declared types", found=str(exc).splitlines()[0],
                fix="the node's output types changed since this value was stored; rerun that node "
                "(plait rerun RUN --from NODE) or resume after the edit") from None

    def _unwrap(self, obj: BaseModel) -> dict[str, Any]:
        return {self._aliases[k]: getattr(obj, k) for k in self._aliases}


@lru_cache(maxsize=4096)
def codec_for(fields: tuple[Field, ...]) -> Codec:
    return Codec(fields)
