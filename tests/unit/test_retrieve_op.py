"""Retrieval is an op of its own (RETRIEVE): saved, loaded, printed, diffed, keyed, verified, drawn
and run by its rules; plans saved when it was a step still load."""

import asyncio
import json
import warnings
from pathlib import Path

import pytest

import plait
from plait.display.styles import STYLES
from plait.errors import NodeError, PlanError
from plait.ir.nodes import Op, RetrieveParams, StepParams
from plait.runtime.nodes import NodeRunner
from tests.human_programs import Reviewed
from tests.loop_programs import Counter

FACTS = [{"id": "paris", "text": "Paris is the capital of France."},
         {"id": "lima", "text": "Lima is the capital of Peru."},
         {"id": "andes", "text": "The Andes run through Peru and Chile."}]
OLD_PLAN = Path(__file__).parent / "data" / "plan_retrieval_as_step.json"  # saved by plait before RETRIEVE


class Rag(plait.Module):
    def __init__(self, corpus=FACTS, k=2, index_dir=None):
        self.retrieve = plait.Retrieve(corpus, k=k, index_dir=index_dir)

    def forward(self, question: str):
        return self.retrieve(query=question)


@pytest.fixture(autouse=True)
def index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAIT_INDEX_DIR", str(tmp_path / "indexes"))


def test_retrieve_lowers_to_a_retrieve_node_with_its_search_settings():
    node = plait.compile(Rag()).plan.node("rag.retrieve")
    assert node.op is Op.RETRIEVE and isinstance(node.params, RetrieveParams)
    assert (node.params.method, node.params.k) == ("bm25", 2)
    assert node.params.corpus["records"][1] == {"id": "lima", "text": "Lima is the capital of Peru."}
    assert node.params.index_key == node.params.search.index_key


def test_the_printed_retrieve_node_shows_its_method_k_corpus_and_index():
    compiled = plait.compile(Rag())
    lines = repr(compiled).splitlines()
    head = next(i for i, line in enumerate(lines) if "rag.retrieve =" in line)
    assert lines[head].startswith("  rag.retrieve = retrieve[bm25, k=2](query=inputs.question) -> (passages: list[str]")
    key = compiled.plan.node("rag.retrieve").params.index_key
    assert lines[head + 1:head + 3] == ["      corpus: 3 inline passages", f"      index: {key}"]


def test_save_and_load_keep_the_op_its_spec_and_its_key(tmp_path):
    compiled = plait.compile(Rag())
    compiled.save(tmp_path / "plan.json")
    saved = next(n for n in json.loads((tmp_path / "plan.json").read_text())["nodes"] if n["id"] == "rag.retrieve")
    assert saved["op"] == "retrieve" and saved["params"]["spec"]["k"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing changed since the save: no warning
        loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert loaded == compiled and repr(loaded) == repr(compiled)
    assert loaded(question="capital of Peru").ids == ["lima", "paris"]


def test_a_plan_saved_with_retrieval_as_a_step_loads_as_a_retrieve_node_and_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the corpus and k are unchanged: no 'changed since saved' warning
        loaded = plait.CompiledPipeline.load(OLD_PLAN)
    node = loaded.plan.node("old_rag.retrieve")
    assert json.loads(OLD_PLAN.read_text())["nodes"][1]["op"] == "step"
    assert node.op is Op.RETRIEVE and node.params.k == 2
    assert node.fingerprint == plait.compile(Rag()).plan.node("rag.retrieve").fingerprint  # same search, same key
    assert loaded(question="Andes").ids[0] == "andes"


def test_the_key_follows_the_corpus_and_k_and_a_diff_names_what_changed():
    base = plait.compile(Rag())
    fewer, more = plait.compile(Rag(FACTS[:2])), plait.compile(Rag(k=3))
    key = base.plan.node("rag.retrieve").fingerprint
    assert fewer.plan.node("rag.retrieve").fingerprint != key != more.plan.node("rag.retrieve").fingerprint
    assert plait.compile(Rag(index_dir="elsewhere")).plan.node("rag.retrieve").fingerprint == key
    diff = base.diff(fewer)
    assert diff.startswith("~ node rag.retrieve") and "index_key:" in diff and "    corpus: " in diff
    assert "    k: 2 -> 3" in base.diff(more).splitlines() and base.diff(plait.compile(Rag())) == "no changes"


def test_a_run_reuses_recorded_retrievals_by_their_key(tmp_path, store_path):
    compiled = plait.compile(Rag())
    items = [{"question": "Peru"}, {"question": "France"}]
    first = compiled.run(items, store=store_path)
    again = plait.compile(Rag()).run(items, store=store_path)
    assert first.status == again.status == "done" and first.stats.steps == 2
    assert again.stats.steps == 0 and again.stats.cache_hits == 2
    assert [o.ids[0] for o in again.outputs] == ["lima", "paris"]


def test_the_verifier_names_the_params_a_retrieve_node_needs():
    plan = plait.compile(Rag()).plan
    node = plan.node("rag.retrieve")
    broken = plan.replace_nodes([node.with_(params=StepParams(print, "builtins:print", "v"))])
    with pytest.raises(PlanError) as err:
        plait.compiler.verify.verify(broken)
    assert err.value.node == "rag.retrieve" and err.value.expected == "RetrieveParams"
    assert err.value.found == "StepParams"


def test_a_search_that_crashes_fails_its_node_naming_it():
    def search(query):
        raise OSError("index folder is read-only")

    node = plait.compile(Rag()).plan.node("rag.retrieve")
    broken = node.with_(params=RetrieveParams(search, "x:y", {}, "bm25", 2, "key"))
    with pytest.raises(NodeError, match="retrieve 'rag.retrieve' raised OSError: index folder is read-only"):
        asyncio.run(NodeRunner({}, {}).run(broken, {"query": "q"}))


@pytest.mark.parametrize("program, op", [(Rag, "retrieve"), (Reviewed, "human"), (Counter, "loop")])
def test_the_svg_draws_each_op_in_its_own_style(program, op):
    svg = str(plait.compile(program()).graph())
    drawn = [g for g in svg.split("<g ") if f'data-op="{op}"' in g]
    assert drawn and all(f'fill="{STYLES[Op(op)].fill}"' in g for g in drawn)


def test_the_pipeline_html_lists_the_retrieval_corpus_and_index():
    compiled = plait.compile(Rag())
    key = compiled.plan.node("rag.retrieve").params.index_key
    assert f"3 inline passages (index {key})" in compiled._repr_html_()
