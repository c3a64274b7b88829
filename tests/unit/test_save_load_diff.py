"""CompiledPipeline.save/load (JSON, no pickle) and a readable diff."""

import json

import pytest

import plait
from tests.programs import Chain4, Diamond, Pipeline


@pytest.mark.parametrize("program", [Pipeline, Chain4, Diamond])
def test_save_and_load_round_trip_to_the_same_plan(tmp_path, program):
    compiled = plait.compile(program())
    path = tmp_path / "plan.json"
    compiled.save(path)
    loaded = plait.CompiledPipeline.load(path)
    assert loaded == compiled
    assert repr(loaded) == repr(compiled)
    assert [n.fingerprint for n in loaded.plan.nodes] == [n.fingerprint for n in compiled.plan.nodes]


def test_saved_plans_are_plain_json_with_no_pickle(tmp_path):
    path = tmp_path / "plan.json"
    plait.compile(Pipeline()).save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "plait.plan" and data["format_version"] == 1
    assert "pickle" not in path.read_text() and "\\x80" not in path.read_text()
    topic = data["nodes"][2]["params"]["signature"]["outputs"][1]
    assert topic["type"] == {"literal": ["sports", "politics", "science", "other"]}


def test_a_loaded_plan_reuses_the_original_runs_outputs(tmp_path, store_path, echo_lm):
    compiled = plait.compile(Diamond())
    compiled.run([{"question": "q"}], store=store_path, lm=echo_lm)
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    run = loaded.run([{"question": "q"}], store=store_path, lm=echo_lm)
    assert echo_lm.calls == 4 and run.stats.cache_hits == 5 and run.stats.steps == 0  # 4 LM nodes + the step


def test_loading_a_newer_format_says_why(tmp_path):
    path = tmp_path / "plan.json"
    plait.compile(Pipeline()).save(path)
    data = json.loads(path.read_text())
    data["format_version"], data["plait_version"] = 99, "9.0"
    path.write_text(json.dumps(data))
    with pytest.raises(plait.PlanLoadError) as err:
        plait.CompiledPipeline.load(path)
    text = str(err.value)
    assert "uses plan format 99" in text and "written by plait 9.0" in text and "fix:" in text


def test_loading_something_else_says_what_it_is(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(plait.PlanLoadError, match="is not a saved plait plan"):
        plait.CompiledPipeline.load(path)
    path.write_text("{not json")
    with pytest.raises(plait.PlanLoadError, match="cannot read the plan"):
        plait.CompiledPipeline.load(path)


def test_loading_a_plan_whose_step_is_gone_names_it(tmp_path):
    path = tmp_path / "plan.json"
    plait.compile(Diamond()).save(path)
    path.write_text(path.read_text().replace("tests.programs:join", "tests.programs:vanished"))
    with pytest.raises(plait.PlanLoadError) as err:
        plait.CompiledPipeline.load(path)
    assert "cannot import tests.programs:vanished" in str(err.value)


def test_diff_shows_instructions_and_demos():
    base = plait.compile(Chain4())
    edited = base.update("chain4.n3", instructions="Be brief.", demos=[{"b": "x", "c": "y"}],
                         provenance={"optimizer": "LabeledFewShot"})
    text = base.diff(edited)
    assert text.splitlines()[0] == "~ node chain4.n3"
    assert "- Continue." in text and "+ Be brief." in text
    assert "demos: 0 -> 1" in text and '+ {"b": "x", "c": "y"}' in text
    assert "LabeledFewShot" in text
    assert "chain4.n2" not in text


def test_diff_of_identical_plans():
    assert plait.compile(Chain4()).diff(plait.compile(Chain4())) == "no changes"


def test_diff_shows_added_and_removed_nodes():
    text = plait.compile(Chain4()).diff(plait.compile(Diamond()))
    assert "+ node diamond.root" in text and "- node chain4.n1" in text
