"""A layered layout of a plan with routed edges, by grandalf's Sugiyama layout (what graphviz's
``dot`` does: rank the nodes, order each rank to reduce crossings, place them by Brandes and Köpf).

An edge that skips ranks goes through one thin placeholder per rank it crosses, which the layout
places between the boxes of that rank like a node; the edge runs straight down through each
placeholder and bends only in the gaps between ranks, where there are no boxes. So no edge crosses
a box other than its own two ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

from plait.ir.plan import Plan

GAP_X, GAP_Y, MARGIN = 28.0, 44.0, 16.0
LANE = 8.0  # the width a passing edge takes in a rank: it keeps GAP_X clear on both sides

Point = tuple[float, float]


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


@dataclass(frozen=True)
class Drawing:
    """Each node's box, and each edge's route: (source id, target id) -> the points it passes, from
    the source's bottom to the target's top; consecutive points alternate between a gap between
    ranks (draw a curve) and a rank it passes (draw a vertical line)."""

    boxes: dict[str, Box]
    routes: dict[tuple[str, str], list[Point]]


class _View:
    """What grandalf reads (w, h) and writes (xy, the centre; an edge's path) for a vertex or edge."""

    def __init__(self, w: float = 0.0, h: float = 0.0) -> None:
        self.w, self.h, self.xy, self.path = w, h, (0.0, 0.0), []

    def setpath(self, points: list[Point]) -> None:
        self.path = points


def layout(plan: Plan, widths: dict[str, float], height: float, top: float = MARGIN) -> Drawing:
    """Boxes and routes for every node and edge; everything starts at x >= MARGIN and y >= top."""
    vertices = {n.id: Vertex(n.id) for n in plan.nodes}
    for node_id, vertex in vertices.items():
        vertex.view = _View(widths[node_id], height)
    edges = [Edge(vertices[p], vertices[n.id]) for n in plan.nodes for p in plan.predecessors(n.id)]
    for edge in edges:
        edge.view = _View()
    left = 0.0
    for component in Graph(list(vertices.values()), edges).C:
        _place(component, height)
        left = _shift_right(component, left) + GAP_X
    boxes = {node_id: _box(v.view, top) for node_id, v in vertices.items()}
    routes = {(e.v[0].data, e.v[1].data): _route(e, boxes, height, top) for e in edges}
    return _moved(Drawing(boxes, routes), MARGIN - min((b.x for b in boxes.values()), default=MARGIN))


def _place(component, height: float) -> None:
    sugiyama = SugiyamaLayout(component)
    sugiyama.xspace, sugiyama.yspace = GAP_X, GAP_Y
    sugiyama.dw, sugiyama.dh = LANE, height  # the placeholders' size, set before they are made
    sugiyama.init_all(roots=[v for v in component.sV if not v.e_in()])
    sugiyama.draw()


def _shift_right(component, left: float) -> float:
    """Move a connected component so its left edge is at ``left``; return its right edge."""
    views = [v.view for v in component.sV]
    dx = left - min(v.xy[0] - v.w / 2 for v in views)
    for v in views:
        v.xy = (v.xy[0] + dx, v.xy[1])
    for e in component.sE:
        e.view.path = [(x + dx, y) for x, y in e.view.path]
    return max(v.xy[0] + v.w / 2 for v in views)


def _box(view: _View, top: float) -> Box:
    x, y = view.xy
    return Box(x - view.w / 2, top + y - view.h / 2, view.w, view.h)


def _route(edge: Edge, boxes: dict[str, Box], height: float, top: float) -> list[Point]:
    source, target = boxes[edge.v[0].data], boxes[edge.v[1].data]
    points = [(source.centre_x, source.bottom)]
    for x, y in edge.view.path[1:-1]:  # the placeholders' centres, one per rank passed
        points += [(x, top + y - height / 2), (x, top + y + height / 2)]
    return [*points, (target.centre_x, target.y)]


def _moved(drawing: Drawing, dx: float) -> Drawing:
    boxes = {nid: Box(b.x + dx, b.y, b.width, b.height) for nid, b in drawing.boxes.items()}
    routes = {key: [(x + dx, y) for x, y in points] for key, points in drawing.routes.items()}
    return Drawing(boxes, routes)


def canvas(drawing: Drawing) -> tuple[float, float]:
    """Width and height that hold every box and edge with a margin."""
    xs = [b.x + b.width for b in drawing.boxes.values()] + [x for r in drawing.routes.values() for x, _ in r]
    ys = [b.bottom for b in drawing.boxes.values()]
    return max(xs, default=0.0) + MARGIN, max(ys, default=0.0) + MARGIN
