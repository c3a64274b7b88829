"""A layered layout of a plan: one row per topological generation, producers above consumers.

Within a row, nodes are ordered by the mean position of their producers (the barycenter
heuristic), which keeps most edges short and uncrossed on the small DAGs pipelines are.
"""

from __future__ import annotations

from dataclasses import dataclass

from plait.ir.plan import Plan

GAP_X, GAP_Y, MARGIN = 28.0, 44.0, 16.0


@dataclass(frozen=True)
class Box:
    """A node's rectangle: top-left corner and size, in SVG user units."""

    x: float
    y: float
    width: float
    height: float

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


def layout(plan: Plan, widths: dict[str, float], height: float, top: float = MARGIN) -> dict[str, Box]:
    """Each node's box, given each node's width and the common height; all boxes start at x >= MARGIN."""
    centres: dict[str, float] = {}
    boxes: dict[str, Box] = {}
    for row, layer in enumerate(plan.layers()):
        ordered = sorted(layer, key=lambda nid: _barycenter(plan, nid, centres, layer.index(nid)))
        x = -(sum(widths[n] for n in ordered) + GAP_X * (len(ordered) - 1)) / 2
        for node_id in ordered:
            boxes[node_id] = Box(x, top + row * (height + GAP_Y), widths[node_id], height)
            centres[node_id] = boxes[node_id].centre_x
            x += widths[node_id] + GAP_X
    shift = MARGIN - min((b.x for b in boxes.values()), default=MARGIN)
    return {nid: Box(b.x + shift, b.y, b.width, b.height) for nid, b in boxes.items()}


def _barycenter(plan: Plan, node_id: str, centres: dict[str, float], fallback: int) -> tuple[float, int]:
    placed = [centres[p] for p in plan.predecessors(node_id) if p in centres]
    return (sum(placed) / len(placed) if placed else 0.0, fallback)


def canvas(boxes: dict[str, Box]) -> tuple[float, float]:
    """Width and height that hold every box with a margin."""
    width = max((b.x + b.width for b in boxes.values()), default=0.0) + MARGIN
    height = max((b.bottom for b in boxes.values()), default=0.0) + MARGIN
    return width, height
