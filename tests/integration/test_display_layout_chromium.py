"""Branching pipelines drawn by headless Chromium: no edge passes through a box other than its own
two ends, and no text reaches outside the picture (each text's getBBox against the SVG's viewBox).

Pipelines: the demo's (its inputs feed nodes of three ranks), a diamond, and a fan-out of five
branches merged by a step, one branch with long field names; the run display adds a status line
and a legend."""

from __future__ import annotations

import plait
from plait.demo.pipeline import PeopleQA
from tests.integration.test_display_chromium import CHROMIUM, pytestmark, render  # noqa: F401
from tests.programs import Diamond, echo_answer

# For every drawn graph: its viewBox, its boxes, its texts' bounding boxes and points along each edge.
GEOMETRY = """<script>
const rect = r => [r.x.baseVal.value, r.y.baseVal.value, r.width.baseVal.value, r.height.baseVal.value];
const graphs = [...document.querySelectorAll("svg.plait-graph")].map(svg => {
  const vb = svg.viewBox.baseVal;
  const boxes = Object.fromEntries([...svg.querySelectorAll("g.plait-node")].map(
    g => [g.dataset.node, rect(g.querySelector("rect"))]));
  const texts = [...svg.querySelectorAll("text")].map(t => {
    const b = t.getBBox(); return {text: t.textContent, box: [b.x, b.y, b.width, b.height]}; });
  const edges = [...svg.querySelectorAll("g.plait-edge")].map(g => {
    const path = g.querySelector("path"), length = path.getTotalLength(), points = [];
    for (let d = 0; d <= length; d += 1) { const p = path.getPointAtLength(d); points.push([p.x, p.y]); }
    return {from: g.dataset.from, to: g.dataset.to, points};
  });
  return {name: svg.closest("[data-case]").dataset.case, view: [vb.x, vb.y, vb.width, vb.height], boxes, texts, edges};
});
const out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(graphs);
document.body.appendChild(out);
</script>"""


@plait.step
def merge(a: str, b: str, c: str, d: str, e: str) -> str:
    """Join the five branches."""
    return "|".join([a, b, c, d, e])


class FanOut(plait.Module):
    """Five branches from one question, merged by a step, then answered."""

    def __init__(self):
        self.b1 = plait.Predict("question -> a")
        self.b2 = plait.Predict("question -> b")
        self.b3 = plait.Predict("question, a_rather_long_context_field_name -> c_an_equally_long_output_name")
        self.b4 = plait.Predict("question -> d")
        self.b5 = plait.Predict("question -> e")
        self.final = plait.Predict("text, question -> answer")

    def forward(self, question: str, a_rather_long_context_field_name: str):
        b3 = self.b3(question=question, a_rather_long_context_field_name=a_rather_long_context_field_name)
        parts = merge(self.b1(question=question).a, self.b2(question=question).b, b3.c_an_equally_long_output_name,
                      self.b4(question=question).d, self.b5(question=question).e)
        return self.final(text=parts, question=question)


def inside(point: list[float], box: list[float], margin: float = 0.5) -> bool:
    x, y, w, h = box
    return x + margin < point[0] < x + w - margin and y + margin < point[1] < y + h - margin


def check_graph(graph: dict) -> None:
    name, boxes = graph["name"], graph["boxes"]
    assert graph["edges"], f"{name}: no edges drawn"
    for edge in graph["edges"]:
        for node_id, box in boxes.items():
            if node_id in (edge["from"], edge["to"]):
                continue
            hits = [p for p in edge["points"] if inside(p, box)]
            assert not hits, f"{name}: edge {edge['from']} -> {edge['to']} crosses {node_id} at {hits[0]}"
    vx, vy, vw, vh = graph["view"]
    for text in graph["texts"]:
        x, y, w, h = text["box"]
        assert vx <= x and x + w <= vx + vw and vy <= y and y + h <= vy + vh, \
            f"{name}: {text['text']!r} at {text['box']} is clipped by the viewBox {graph['view']}"


def test_branching_graphs_route_edges_around_boxes_and_clip_no_text(tmp_path):
    fan = plait.compile(FanOut())
    run = fan.run([{"question": "q", "a_rather_long_context_field_name": "c"}], store=str(tmp_path / "r.db"),
                  lm=plait.ScriptedLM(echo_answer))
    cases = {"demo": plait.compile(PeopleQA())._repr_html_(), "diamond": plait.compile(Diamond())._repr_html_(),
             "fan-out": fan._repr_html_(), "fan-out run": run._repr_html_()}
    page = "".join(f'<div data-case="{name}">{shown}</div>' for name, shown in cases.items())
    graphs = render(f"<html><body>{page}{GEOMETRY}</body></html>", tmp_path)
    assert sorted(g["name"] for g in graphs) == sorted(cases)
    for graph in graphs:
        check_graph(graph)
    edges = sum(len(fan.plan.predecessors(n.id)) for n in fan.plan.nodes)
    assert len(next(g for g in graphs if g["name"] == "fan-out")["edges"]) == edges
