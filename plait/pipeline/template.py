"""f-strings on traced values: ``f"Question: {pred.answer}"`` in ``forward`` becomes a pure STEP
node that fills the template when the pipeline runs, with the f-string's source line.

While tracing, formatting a symbol (an f-string, ``str.format``, ``str()``, ``+`` with a str)
gives a placeholder token instead of text; the string built around it flows through ``forward``
like any other. When such a string reaches a module call, a step or ``forward``'s result, its
tokens are turned back into a template (``"Question: {v0}"``) whose holes are wired to the
symbols. The node is pure (StepParams.pure): recomputed on replay, never journaled, since
filling a template costs less than recording it.

Tokens carry a nonce per trace, so no text a user writes can be taken for one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from plait.hashing import code_version
from plait.ir.nodes import Field, Node, Op, Port, Ref, StepParams
from plait.ir.source import SourceLoc, user_source

_TOKEN = re.compile(r"\x00plait:([0-9a-f]{16}):(\d+)\x00")
TEXT_OUTPUT = "output"


def fill(template: str, **values: Any) -> str:
    """The run-time half: the template with each hole (``{v0}``, ``{v1:>8}``) filled."""
    return template.format(**values)


FILL_PATH = f"{__name__}:fill"
FILL_VERSION = code_version(fill)


@dataclass(frozen=True)
class Hole:
    """One formatted symbol: what it refers to, its format spec, and the line that formatted it."""

    ref: Ref
    type: Any
    spec: str
    source: SourceLoc | None


class Placeholders:
    """The tokens one trace has handed out, and the holes they stand for."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.holes: list[Hole] = []

    def token(self, ref: Ref, type_: Any, spec: str) -> str:
        self.holes.append(Hole(ref, type_, spec, user_source()))
        return f"\x00plait:{self.nonce}:{len(self.holes) - 1}\x00"

    def holds_token(self, value: Any) -> bool:
        """Does ``value``, or anything inside a list, tuple, set or dict of it, carry a token?"""
        if isinstance(value, str):
            return any(m.group(1) == self.nonce for m in _TOKEN.finditer(value))
        if isinstance(value, dict):
            return any(self.holds_token(k) or self.holds_token(v) for k, v in value.items())
        if isinstance(value, (list, tuple, set, frozenset)):
            return any(self.holds_token(v) for v in value)
        return False

    def template(self, text: str) -> tuple[str, list[Hole]]:
        """``text`` as a str.format template with holes v0, v1, ... and the holes, in order."""
        parts: list[str] = []
        holes: list[Hole] = []
        last = 0
        for match in _TOKEN.finditer(text):
            if match.group(1) != self.nonce:
                continue
            hole = self.holes[int(match.group(2))]
            parts += [_escaped(text[last:match.start()]), "{v%d%s}" % (len(holes), f":{hole.spec}" if hole.spec else "")]
            holes.append(hole)
            last = match.end()
        parts.append(_escaped(text[last:]))
        return "".join(parts), holes


def _escaped(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def fill_node(node_id: str, template: str, holes: list[Hole]) -> Node:
    """The pure STEP node that fills ``template``; its source is the line of the first hole."""
    ports = (Port("template", str, const=template),
             *(Port(f"v{i}", hole.type, ref=hole.ref) for i, hole in enumerate(holes)))
    params = StepParams(fill, FILL_PATH, FILL_VERSION, reusable=True, pure=True)
    return Node(node_id, Op.STEP, ports, (Field(TEXT_OUTPUT, str),), params, holes[0].source)
