"""f-strings, str.format, str() and + on traced values become pure template nodes, and pure steps
are recomputed instead of journaled (issue 17: "nodes that should not be journaled")."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait.checkpoints.sqlite import SQLiteStore
from plait.ir.nodes import Op

ANSWER = plait.ScriptedLM(lambda task: {"answer": "42"} if "question" in task.inputs else {"out": task.inputs["prompt"]})


class Asks(plait.Module):
    def __init__(self, build):
        self.first = plait.Predict("question -> answer")
        self.second = plait.Predict("prompt -> out")
        self.build = build

    def forward(self, question: str):
        answer = self.first(question=question).answer
        return self.second(prompt=self.build(question, answer))


def _run(build, tmp_path, items=({"question": "why?"},), lm=ANSWER):
    compiled = plait.compile(Asks(build))
    return compiled, compiled.run(list(items), lm=lm, store=str(tmp_path / "runs.db"))


def _format_nodes(compiled):
    return [n for n in compiled.plan.nodes if n.op is Op.STEP and n.params.pure]


@pytest.mark.parametrize("build, expected", [
    (lambda q, a: f"Q: {q} A: {a}", "Q: why? A: 42"),
    (lambda q, a: "Q: {} A: {:>4}".format(q, a), "Q: why? A:   42"),
    (lambda q, a: "Q: " + q + " A: " + str(a), "Q: why? A: 42"),
    (lambda q, a: f"{f'<{a}>'} {{braces}} {q!s}", "<42> {braces} why?"),
    (lambda q, a: "%s and %s" % (q, a), "why? and 42"),
])
def test_a_string_formatted_from_symbols_is_filled_in_at_run_time(tmp_path, build, expected):
    compiled, run = _run(build, tmp_path)
    assert run.outputs[0].out == expected
    (node,) = _format_nodes(compiled)
    assert node.id == "asks.format" and node.source is not None and node.source.file == __file__


class Texts(plait.Module):
    """No LM: forward returns the formatted string itself."""

    def __init__(self, build):
        self.build = build

    def forward(self, text: str, n: int):
        return {"text": self.build(text, n)}


def test_a_constant_f_string_stays_a_constant(tmp_path):
    class Both(plait.Module):
        def forward(self, text: str):
            return {"text": text, "fixed": f"{'fixed'} text"}

    compiled = plait.compile(Both())
    run = compiled.run([{"text": "t"}], store=str(tmp_path / "runs.db"))
    assert _format_nodes(compiled) == [] and run.outputs[0].fixed == "fixed text"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(literal=st.text(), text=st.text(), n=st.integers(), spec=st.sampled_from(["", ">7", "^9", "<3"]))
def test_any_literal_text_and_spec_fill_in_as_python_would(tmp_path_factory, literal, text, n, spec):
    build = lambda t, k: literal + format(t, spec) + literal + f"{k:+}{{}}"  # noqa: E731
    run = plait.compile(Texts(build)).run([{"text": text, "n": n}], store=str(tmp_path_factory.mktemp("t") / "r.db"))
    assert run.outputs[0].text == build(text, n)


def test_the_template_node_is_recomputed_not_journaled_and_replays_with_no_lm_call(tmp_path):
    lm = plait.ScriptedLM(ANSWER.answer)
    compiled, run = _run(lambda q, a: f"Q: {q} A: {a}", tmp_path, items=[{"question": "a"}, {"question": "b"}], lm=lm)
    store = SQLiteStore(str(tmp_path / "runs.db"))
    nodes = {key[1] for key in store.journal(run.id)}
    assert "asks.format" not in nodes and {"asks.first", "asks.second"} <= nodes
    calls = lm.calls
    again = plait.resume(run.id, store=str(tmp_path / "runs.db"), lm=lm)
    assert lm.calls == calls and [o.out for o in again.outputs] == ["Q: a A: 42", "Q: b A: 42"]


@plait.step(pure=True)
def shout(text: str) -> str:
    if text == "boom":
        raise ValueError("no shouting")
    return text.upper()


class Shouts(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("prompt -> out")

    def forward(self, text: str):
        return self.answer(prompt=shout(text=text))


def test_a_pure_step_is_not_journaled_and_its_failure_fails_only_its_item(tmp_path):
    compiled = plait.compile(Shouts())
    lm = plait.ScriptedLM(lambda task: {"out": task.inputs["prompt"]})
    run = compiled.run([{"text": "hi"}, {"text": "boom"}], lm=lm, store=str(tmp_path / "runs.db"))
    assert run.outputs[0].out == "HI" and len(run.failed) == 1
    assert "shouts.shout' raised ValueError: no shouting" in str(run.failed[0].error)
    rows = SQLiteStore(str(tmp_path / "runs.db")).journal(run.id)
    shout_rows = [r for (item, node, _), r in rows.items() if node == "shouts.shout"]
    assert [r.status for r in shout_rows] == ["failed"]  # only the failure is recorded


def test_a_saved_plan_keeps_its_template_and_pure_nodes(tmp_path):
    compiled = plait.compile(Asks(lambda q, a: f"Q: {q} A: {a}"))
    compiled.save(str(tmp_path / "plan.json"))
    loaded = plait.CompiledPipeline.load(str(tmp_path / "plan.json"))
    run = loaded.run([{"question": "x"}], lm=ANSWER, store=str(tmp_path / "runs.db"))
    assert run.outputs[0].out == "Q: x A: 42" and len(_format_nodes(loaded)) == 1


def test_a_formatted_string_inside_a_list_says_to_use_a_step():
    class Listed(plait.Module):
        def __init__(self):
            self.answer = plait.Predict("context: list[str] -> out")

        def forward(self, text: str):
            return self.answer(context=[f"about {text}"])

    with pytest.raises(plait.TraceError) as raised:
        plait.compile(Listed())
    message = str(raised.value)
    assert "input 'context' of node 'listed.answer' is a list holding a string formatted from a symbolic value" in message
    assert "test_templates.py" in message and "build the list or dict in a @plait.step" in message


def test_plus_on_a_number_and_formatting_a_whole_prediction_are_still_refused():
    class Counts(plait.Module):
        def __init__(self, use):
            self.count = plait.Predict("text -> n: int")
            self.use = use

        def forward(self, text: str):
            return {"out": self.use(self.count(text=text))}

    with pytest.raises(plait.TraceError, match=r"the operator \+ on the symbolic value counts.count.n"):
        plait.compile(Counts(lambda p: "n=" + p.n))
    with pytest.raises(plait.TraceError, match="string formatting of a whole prediction"):
        plait.compile(Counts(lambda p: f"{p}"))


def test_text_shaped_like_a_token_of_another_trace_stays_text(tmp_path):
    forged = "\x00plait:0123456789abcdef:0\x00"
    run = plait.compile(Texts(lambda t, n: forged + f"{t}{n}")).run([{"text": "a", "n": 1}],
                                                                   store=str(tmp_path / "runs.db"))
    assert run.outputs[0].text == forged + "a1"
