"""Unknown adapter and LM names fail early: an adapter= at compile time, a configured adapter or an
LM name at run start, before any LM call; each error names the node, the field and the line."""

from __future__ import annotations

import pytest

import plait
from tests.programs import echo_answer, line_of


class Misspelled(plait.Module):
    def __init__(self, adapter: str = "jsn"):
        self.draft = plait.Predict("question -> draft")
        self.answer = plait.Predict("draft -> answer", adapter=adapter)

    def forward(self, question: str):
        draft = self.draft(question=question).draft
        return self.answer(draft=draft)


class Judged(plait.Module):
    def __init__(self):
        self.judge = plait.Predict("question -> verdict", lm="judge")

    def forward(self, question: str):
        return self.judge(question=question)


def test_an_unknown_adapter_fails_compile_naming_node_field_line_and_the_close_name():
    with pytest.raises(plait.PlanError) as err:
        plait.compile(Misspelled())
    line = line_of(Misspelled.forward, "self.answer(")
    assert str(err.value) == (
        "node 'misspelled.answer' uses unknown adapter 'jsn' (given by the module's adapter=)\n"
        f"  at node 'misspelled.answer', parameter 'adapter' (test_verify_names.py:{line})\n"
        "  expected: one of chat, compact, json\n"
        "  found:    'jsn'\n"
        "  fix: did you mean 'json'? name one of the known adapters, or leave adapter out for the LM's preferred one")


def test_a_name_close_to_none_gets_no_guess_and_known_names_compile():
    with pytest.raises(plait.PlanError) as err:
        plait.compile(Misspelled(adapter="xml"))
    assert "did you mean" not in str(err.value) and "fix: name one of the known adapters" in str(err.value)
    for known in ("chat", "json", "compact"):
        plait.compile(Misspelled(adapter=known))


def test_a_saved_plan_with_an_unknown_adapter_is_refused_when_loaded():
    data = plait.compile(Misspelled(adapter="json")).to_json()
    for node in data["nodes"]:
        if node["id"] == "misspelled.answer":
            node["params"]["adapter"] = "jsno"
    with pytest.raises(plait.PlanError, match="did you mean 'json'"):
        plait.CompiledPipeline.from_json(data)


def test_a_configured_adapter_that_does_not_exist_stops_the_run_at_its_start(store_path):
    lm = plait.ScriptedLM(echo_answer)
    compiled = plait.compile(Misspelled(adapter=None))
    with plait.context(adapter="compakt"), pytest.raises(plait.PlanError) as err:
        compiled.run([{"question": "q"}], store=store_path, lm=lm)
    message = str(err.value)
    assert message.startswith("node 'misspelled.draft' uses unknown adapter 'compakt' "
                              "(given by plait.configure(adapter=...))")
    assert f"(test_verify_names.py:{line_of(Misspelled.forward, 'self.draft(')})" in message
    assert "fix: did you mean 'compact'?" in message and lm.calls == 0


def test_an_lm_with_an_unknown_adapter_attribute_is_named(store_path):
    lm = plait.ScriptedLM(echo_answer)
    lm.adapter = "chatt"
    with pytest.raises(plait.PlanError) as err:
        plait.compile(Misspelled(adapter=None)).run([{"question": "q"}], store=store_path, lm=lm)
    assert f"(given by the adapter attribute of LM '{lm.name}')" in str(err.value)
    assert "did you mean 'chat'?" in str(err.value) and lm.calls == 0


def test_an_unknown_lm_name_fails_at_run_start_with_the_known_names_and_a_guess(store_path):
    lm = plait.ScriptedLM(echo_answer)
    with pytest.raises(plait.PlaitError) as err:
        plait.compile(Judged()).run([{"question": "q"}], store=store_path, lms={"judges": lm, "writer": lm})
    assert str(err.value) == (
        "node 'judged.judge' needs the LM named 'judge', and none is configured\n"
        f"  at node 'judged.judge', parameter 'lm' (test_verify_names.py:{line_of(Judged.forward, 'self.judge(')})\n"
        "  expected: one of the LMs known by name: judges, writer\n"
        "  found:    'judge'\n"
        "  fix: did you mean 'judges'? register it: plait.configure(lms={'judge': ...}) or run(..., lms={'judge': ...})")
    assert lm.calls == 0
    run = plait.compile(Judged()).run([{"question": "q"}], store=store_path, lms={"judge": lm})
    assert run.status == "done"
