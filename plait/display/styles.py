"""How each op is drawn: ``STYLES[op]`` gives its fill, its outline (corner radius, dash, stroke
width), its label in the SVG and its row in the notebook's prompt-state table. An op this code
does not know (a newer plait's) gets ``DEFAULT_STYLE``; ``tests/unit/test_op_rules.py`` checks that
every op has its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plait.ir.nodes import Node, Op

PROMPT_COLUMNS = ["instructions", "demos", "adapter", "lm", "settings", "provenance"]


def _op(node: Node) -> str:
    return getattr(node.op, "value", str(node.op))


def _plain_row(node: Node) -> list[Any]:
    return ["", "", "", "", "", ""]


@dataclass(frozen=True)
class OpStyle:
    fill: str
    radius: float = 6.0  # the rectangle's corner radius: its shape
    dash: str | None = None  # stroke-dasharray: a node that waits (a person)
    stroke_width: float = 1.0  # a heavier outline: a node that repeats (a loop)
    label: Callable[[Node], str] = _op  # the line under the node id
    prompt_row: Callable[[Node], list[Any]] = _plain_row  # the PROMPT_COLUMNS cells of the node


def _signature_label(node: Node) -> str:
    sig = node.params.signature
    return f"{_op(node)} {sig.__name__}" if sig.__name__ != "StringSignature" else _op(node)


def _predict_row(node: Node) -> list[Any]:
    p = node.params
    settings = ", ".join(f"{k}={v!r}" for k, v in p.settings.items())
    provenance = ", ".join(f"{k}={v}" for k, v in p.provenance.items())
    return [p.instructions, len(p.demos), p.adapter or "(the LM's)", p.lm or "(default)", settings, provenance]


def _loop_label(node: Node) -> str:
    tools = node.params.tools
    return f"loop[tools: {', '.join(t.name for t in tools)}]" if tools else "loop"


def _retrieve_label(node: Node) -> str:
    return f"retrieve[{node.params.method}, k={node.params.k}]"


def _retrieve_row(node: Node) -> list[Any]:
    corpus = node.params.corpus
    where = corpus["path"] if "path" in corpus else f"{len(corpus.get('records', ()))} inline passages"
    return [f"{where} (index {node.params.index_key})", "", "", "", "", ""]


STYLES: dict[Op, OpStyle] = {
    Op.INPUT: OpStyle("#eceff1", radius=14.0),
    Op.PREDICT: OpStyle("#e8eaf6", label=_signature_label, prompt_row=_predict_row),
    Op.STEP: OpStyle("#e0f2f1", radius=2.0, label=lambda n: f"step {n.params.path}",
                     prompt_row=lambda n: [f"{n.params.path} (version {n.params.version})", "", "", "", "", ""]),
    Op.HUMAN: OpStyle("#fce4ec", dash="5,3", label=_signature_label,
                      prompt_row=lambda n: [n.params.question, "", "", "", "", ""]),
    Op.LOOP: OpStyle("#ede7f6", stroke_width=2.5, label=_loop_label,
                     prompt_row=lambda n: [f"max_iters={n.params.max_iters}", "", "", "", "", ""]),
    Op.RETRIEVE: OpStyle("#fff3e0", radius=2.0, label=_retrieve_label, prompt_row=_retrieve_row),
    Op.OUTPUT: OpStyle("#eceff1", radius=14.0),
}
DEFAULT_STYLE = OpStyle("#fff8e1")  # an op this module does not know (a newer plait's)


def style_of(node: Node) -> OpStyle:
    return STYLES.get(node.op, DEFAULT_STYLE)
