"""The notebook displays: the plan as SVG, HTML for pipelines and runs (escaped), status colours,
run.to_pandas() and run.node_table()."""

from __future__ import annotations

import re
import sys

import pytest

import plait
from plait.demo.pipeline import PeopleQA
from plait.display.layout import layout
from plait.display.status import COLOURS, UNKNOWN_COLOUR, item_cells, node_statuses
from plait.display.svg import DEFAULT_OP_COLOUR, plan_svg
from plait.ir.nodes import Field, Node, Op, Port, Ref
from plait.ir.plan import Plan
from tests.programs import Diamond, echo_answer

EVIL = "<script>alert('x')</script>"


def drawn_nodes(svg: str) -> dict[str, str]:
    """{node id: status} of every node group in the SVG."""
    return dict(re.findall(r'<g class="plait-node" data-node="([^"]*)" data-op="[^"]*" data-status="([^"]*)">', svg))


def evil_lm():
    def answer(task):
        if "bad" in str(task.inputs.get("question", "")):
            return f"no fields at all {EVIL}"
        return {name: f"{EVIL}{name}" for name in task.output_fields}
    return plait.ScriptedLM(answer)


def test_layers_put_producers_above_consumers():
    plan = plait.compile(Diamond()).plan
    assert plan.layers() == [["inputs"], ["diamond.root"], ["diamond.left", "diamond.right"],
                             ["diamond.join"], ["diamond.final"], ["outputs"]]


def test_the_svg_draws_every_node_and_edge_without_overlap():
    plan = plait.compile(Diamond()).plan
    svg = plan_svg(plan)
    assert set(drawn_nodes(svg)) == {n.id for n in plan.nodes}
    edges = re.findall(r'class="plait-edge" data-from="([^"]*)" data-to="([^"]*)"', svg)
    assert sorted(edges) == sorted((p, n.id) for n in plan.nodes for p in plan.predecessors(n.id))
    rects = [tuple(map(float, r)) for r in re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx="6"', svg)]
    for i, (x, y, w, h) in enumerate(rects):
        for x2, y2, w2, h2 in rects[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "two node boxes overlap"
    assert "predict" in svg and "step tests.programs:join" in svg and "question: str -&gt; a: str" not in svg


def test_a_pipeline_shows_graph_prompt_state_and_text_form_all_escaped():
    compiled = plait.compile(Diamond()).update("diamond.final", instructions=f"Answer {EVIL} now",
                                               demos=[{"text": EVIL, "answer": "a&b"}])
    page = compiled._repr_html_()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "Answer &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; now" in page
    assert set(drawn_nodes(page)) == {n.id for n in compiled.plan.nodes}
    assert "prompt state" in page and "<details><summary>text form</summary><pre>plan diamond" in page
    assert str(compiled.graph()) == plan_svg(compiled.plan)


def test_a_run_shows_counts_graph_and_items_escaped(tmp_path):
    compiled = plait.compile(plait.Predict("question -> answer"))
    run = compiled.run([{"question": "one"}, {"question": f"bad {EVIL}"}], store=str(tmp_path / "r.db"),
                       lm=evil_lm(), parse_retries=0)
    page = run._repr_html_()
    assert "<script" not in page and page.count("&lt;script&gt;") >= 2  # an output and an error
    assert f"run {run.id}: failed" in page
    for label in ("items", "LM calls", "tokens", "cost", "wall time"):
        assert f">{label}</td>" in page
    assert "2 (1 done, 1 failed)" in page
    assert drawn_nodes(page) == {"inputs": "done", "predict": "failed", "outputs": "done"}
    assert f'fill="{COLOURS["failed"]}"' in page and "1 failed, 1 done" in page


def test_status_counts_over_items_and_unfinished_items_stand_at_their_frontier():
    plan = plait.compile(Diamond()).plan
    records = {("a", "diamond.root"): "ok", ("a", "diamond.left"): "ok", ("a", "diamond.right"): "retrying",
               ("b", "diamond.root"): "failed"}
    cells = item_cells(plan, records, "a", "running")
    assert cells["diamond.right"] == "running" and cells["diamond.join"] == "not reached"
    statuses = node_statuses(plan, records, [("a", "interrupted"), ("b", "failed"), ("c", "done")])
    assert statuses["diamond.root"].counts == {"done": 2, "failed": 1}
    assert statuses["diamond.root"].status == "failed"
    assert statuses["diamond.left"].counts == {"done": 2, "not reached": 1}
    assert statuses["inputs"].counts == {"done": 3}
    stopped = item_cells(plan, {("s", "diamond.root"): "ok", ("s", "diamond.left"): "running"}, "s", "interrupted")
    assert stopped["diamond.left"] == stopped["diamond.right"] == "interrupted"  # the run is no longer running it
    waiting = item_cells(plan, {("w", "diamond.root"): "ok"}, "w", "waiting")
    assert waiting["diamond.left"] == waiting["diamond.right"] == "waiting"


def test_unknown_ops_and_statuses_are_drawn_generically():
    """A newer op (one this plait has no style for) and a status this code never heard of still draw."""
    nodes = [Node("inputs", Op.INPUT, outputs=(Field("q", str),)),
             Node("ask", "translate", inputs=(Port("q", str, Ref("inputs", "q")),), outputs=(Field("a", str),)),
             Node("outputs", Op.OUTPUT, inputs=(Port("a", str, Ref("ask", "a")),))]
    plan = Plan("p", nodes)
    assert 'data-node="ask" data-op="translate"' in plan_svg(plan) and DEFAULT_OP_COLOUR in plan_svg(plan)
    statuses = node_statuses(plan, {("i", "ask"): "waiting", ("j", "ask"): "paused"}, [("i", "waiting"), ("j", "x")])
    assert statuses["ask"].status == "waiting"
    svg = plan_svg(plan, statuses)
    assert drawn_nodes(svg)["ask"] == "waiting" and COLOURS["waiting"] in svg
    alone = node_statuses(plan, {("j", "ask"): "paused"}, [("j", "x")])
    assert alone["ask"].status == "paused" and UNKNOWN_COLOUR in plan_svg(plan, alone)


def test_to_pandas_has_a_row_per_item_and_node_table_a_row_per_node(tmp_path):
    compiled = plait.compile(Diamond())
    items = [{"question": "q1"}, {"question": "q2"}, {"question": "q3"}]
    run = compiled.run(items, store=str(tmp_path / "r.db"), lm=plait.ScriptedLM(echo_answer))
    frame = run.to_pandas()
    assert list(frame.columns) == ["item", "status", "error", "answer"]
    assert list(frame["status"]) == ["done"] * 3 and frame["answer"][0] == run.outputs[0].answer
    nodes = run.node_table().set_index("node")
    assert list(nodes.index) == ["diamond.root", "diamond.left", "diamond.right", "diamond.join", "diamond.final"]
    assert nodes.loc["diamond.root", "lm_calls"] == 3 and nodes.loc["diamond.join", "steps"] == 3
    assert nodes["lm_calls"].sum() == run.stats.lm_calls
    again = plait.resume(run.id, store=str(tmp_path / "r.db"), lm=plait.ScriptedLM(echo_answer))
    assert again.node_table()["replayed"].tolist() == [3] * 5 and again.node_table()["lm_calls"].sum() == 0


def test_to_pandas_keeps_failed_items_with_their_error():
    compiled = plait.compile(plait.Predict("question -> answer"))
    run = compiled.run([{"question": "ok"}, {"question": "bad"}], store=False, lm=evil_lm(), parse_retries=0)
    frame = run.to_pandas()
    assert list(frame["status"]) == ["done", "failed"]
    assert frame["answer"][0] == f"{EVIL}answer" and frame["answer"].isna().tolist() == [False, True]
    assert "cannot be parsed" in frame["error"][1] and frame["error"].isna().tolist() == [True, False]
    assert run.node_table()["failed_nodes"].tolist() == [1]


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch):
    run = plait.compile(plait.Predict("question -> answer")).run(
        [{"question": "x"}], store=False, lm=plait.ScriptedLM(echo_answer))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(plait.PlaitError) as caught:
        run.to_pandas()
    message = str(caught.value)
    assert message.startswith("run.to_pandas() needs pandas, which is not installed")
    assert "pip install 'plait[notebook]'" in message and "run.items" in message


def test_a_run_stopped_by_its_budget_shows_where_each_item_stopped():
    compiled = plait.compile(Diamond())
    run = compiled.run([{"question": f"q{i}"} for i in range(4)], store=False, lm=plait.ScriptedLM(echo_answer),
                       budget=plait.Budget(lm_calls=7), concurrency=1)
    assert run.status == "stopped"
    statuses = drawn_nodes(str(run.graph()))
    assert statuses["diamond.root"] == "interrupted" and "running" not in statuses.values()
    assert "the run&#x27;s budget of 7 LM calls is reached" in run._repr_html_()


def test_a_run_waiting_on_a_person_shows_the_question_node_waiting(tmp_path):
    from tests.human_programs import Reviewed, draft_lm

    run = plait.compile(Reviewed()).run([{"topic": "cats"}], store=str(tmp_path / "runs.db"), lm=draft_lm())
    assert run.status == "waiting"
    statuses = drawn_nodes(str(run.graph()))
    assert statuses["reviewed.review"] == "waiting" and statuses["reviewed.write"] == "done"
    assert "waiting" in run._repr_html_()


def test_the_html_displays_carry_one_stylesheet_scoped_to_the_display():
    compiled = plait.compile(Diamond())
    page = compiled._repr_html_()
    sheets = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(sheets) == 1
    selectors = [rule.split("{")[0].strip() for rule in sheets[0].split("}") if "{" in rule]
    assert selectors and all(part.strip().startswith(".plait-display") for s in selectors for part in s.split(","))
    assert "<td style=" not in page and '<div class="plait-scroll"><svg' in page


def test_edges_that_skip_ranks_are_routed_through_the_gaps_between_boxes():
    plan = plait.compile(PeopleQA()).plan
    drawing = layout(plan, {n.id: 120.0 for n in plan.nodes}, 40.0)
    for (source, target), route in drawing.routes.items():
        assert route[0] == (drawing.boxes[source].centre_x, drawing.boxes[source].bottom)
        assert route[-1] == (drawing.boxes[target].centre_x, drawing.boxes[target].y)
        for (x, top), (x_again, bottom) in zip(route[1:-1:2], route[2:-1:2]):  # a rank the edge passes
            assert x == x_again and bottom - top == 40.0
            assert not any(b.x <= x <= b.x + b.width and b.y < bottom and top < b.bottom for b in drawing.boxes.values())
    assert len(drawing.routes[("inputs", "people_qa.answer")]) == 6, "inputs -> answer passes two ranks"
