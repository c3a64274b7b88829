"""A plan drawn as SVG from the layered layout of ``layout.py`` (grandalf; no graphviz binary).

Each node is a ``<g class="plait-node" data-node=ID data-op=OP data-status=STATUS>`` holding a
rectangle styled by its op (``styles.py``) and up to four lines: the node id, its op (and signature or step function), its types
(inputs -> outputs) and, for a run, its status counts. Every user string is escaped. Each edge is a
``<g class="plait-edge" data-from=ID data-to=ID>`` whose path follows the layout's route around the
other boxes.
"""

from __future__ import annotations

import html
from pathlib import Path

from plait.display.layout import MARGIN, Box, Point, canvas, layout
from plait.display.status import NodeStatus, by_urgency, colour_of
from plait.display.styles import DEFAULT_STYLE, style_of
from plait.ir.nodes import Node, Op
from plait.ir.types import type_name

CHAR_WIDTH, LINE_HEIGHT, PAD = 7.2, 16.0, 8.0  # 12px monospace: every glyph is ~0.6em wide
MAX_CHARS = 56
DEFAULT_OP_COLOUR = DEFAULT_STYLE.fill  # an op this module does not know (a newer plait's)
BOLD = ' font-weight="bold"'
FONT = "font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px"


class Graph:
    """A drawn plan: shows itself in Jupyter, saves to a file, and ``str()`` is the SVG text."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.svg)

    def __str__(self) -> str:
        return self.svg


def plan_svg(plan, statuses: dict[str, NodeStatus] | None = None) -> str:
    """The plan as an SVG document; with ``statuses`` nodes are coloured by their run status."""
    labels = {n.id: node_lines(n, statuses.get(n.id) if statuses else None) for n in plan.nodes}
    widths = {nid: max(len(line) for line in lines) * CHAR_WIDTH + 2 * PAD for nid, lines in labels.items()}
    height = (3 + (statuses is not None)) * LINE_HEIGHT + PAD
    legend = _legend(statuses) if statuses else []
    drawing = layout(plan, widths, height, top=MARGIN + (LINE_HEIGHT + 4 if legend else 0))
    boxes = drawing.boxes
    width, full_height = canvas(drawing)
    width = max(width, MARGIN + sum(_LEGEND_STEP + len(s) * CHAR_WIDTH for s in legend))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plait-graph" width="{width:.0f}" '
             f'height="{full_height:.0f}" viewBox="0 0 {width:.0f} {full_height:.0f}" style="{FONT}">',
             f"<title>{_esc(f'plan {plan.name}')}</title>"]
    parts += _legend_svg(legend)
    parts += [_edge(route, *ends) for ends, route in drawing.routes.items()]
    parts += [_node(n, boxes[n.id], labels[n.id], statuses.get(n.id) if statuses else None) for n in plan.nodes]
    return "\n".join([*parts, "</svg>"])


def node_lines(node: Node, status: NodeStatus | None) -> list[str]:
    lines = [node.id, _what(node), _types(node)]
    if status is not None:
        lines.append(status.summary() or "not reached")
    return [_clip(line) for line in lines]


def _what(node: Node) -> str:
    return style_of(node).label(node)


def _types(node: Node) -> str:
    ins = ", ".join(f"{p.name}: {type_name(p.type)}" for p in node.inputs)
    outs = ", ".join(f"{f.name}: {type_name(f.type)}" for f in node.outputs)
    if node.op is Op.INPUT:  # the plan's entry has no inputs to list
        return f"-> {outs}"
    return f"{ins} -> {outs}" if outs else f"{ins} ->"


def _clip(line: str) -> str:
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def _node(node: Node, box: Box, lines: list[str], status: NodeStatus | None) -> str:
    op, style = getattr(node.op, "value", str(node.op)), style_of(node)
    state = status.status if status is not None else ""
    fill = colour_of(state) if status is not None else style.fill
    dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
    tip = "\n".join([node.id, _what(node), _types(node), *([status.summary()] if status else [])])
    text = "".join(
        f'<tspan x="{box.x + PAD:.1f}" y="{box.y + PAD / 2 + LINE_HEIGHT * (i + 1) - 3:.1f}"'
        f'{BOLD if i == 0 else ""}>{_esc(line)}</tspan>' for i, line in enumerate(lines))
    return (f'<g class="plait-node" data-node="{_esc(node.id)}" data-op="{_esc(op)}" data-status="{_esc(state)}">'
            f"<title>{_esc(tip)}</title>"
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="{style.radius:g}" '
            f'fill="{fill}" stroke="#455a64" stroke-width="{style.stroke_width:g}"{dash}/><text fill="#212121">{text}</text></g>')


def _edge(route: list[Point], source_id: str, target_id: str) -> str:
    """A path through the route: a curve across each gap between ranks (vertical at both ends, so it
    stays in the gap), a straight line down through each rank it passes; an arrowhead at the end."""
    (x0, y0), *rest = route
    steps = [f"M{x0:.1f},{y0:.1f}"]
    for i, (x, y) in enumerate(rest):
        last = i == len(rest) - 1
        y = y - 6 if last else y  # the arrowhead covers the last 6 units
        if i % 2 == 0:
            px, py = route[i]
            bend = (y - py) / 2
            steps.append(f"C{px:.1f},{py + bend:.1f} {x:.1f},{y - bend:.1f} {x:.1f},{y:.1f}")
        else:
            steps.append(f"L{x:.1f},{y:.1f}")
    x2, y2 = route[-1]
    return (f'<g class="plait-edge" data-from="{_esc(source_id)}" data-to="{_esc(target_id)}">'
            f'<path d="{" ".join(steps)}" fill="none" stroke="#78909c" stroke-width="1.2"/>'
            f'<polygon points="{x2 - 4:.1f},{y2 - 7:.1f} {x2 + 4:.1f},{y2 - 7:.1f} {x2:.1f},{y2:.1f}" fill="#78909c"/></g>')


def _legend(statuses: dict[str, NodeStatus]) -> list[str]:
    return by_urgency({s.status for s in statuses.values()})


_LEGEND_STEP = 36.0  # a swatch, its gap to the word, and the space before the next one


def _legend_svg(legend: list[str]) -> list[str]:
    parts, x = [], MARGIN
    for status in legend:
        parts.append(f'<rect x="{x:.1f}" y="{MARGIN - 10:.1f}" width="12" height="12" rx="2" fill="{colour_of(status)}" '
                     f'stroke="#455a64"/><text x="{x + 16:.1f}" y="{MARGIN:.1f}" fill="#212121">{_esc(status)}</text>')
        x += _LEGEND_STEP + len(status) * CHAR_WIDTH
    return parts


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)
