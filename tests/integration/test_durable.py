"""plait.durable: an existing DSPy program, run journaled, against a real SQLite store.

Differential: plain DSPy's outputs equal plait.durable's, item for item, on five programs of
different shapes (a chain, parallel branches, ChainOfThought with typed outputs, a multi-hop loop
with an early exit, ReAct with a tool), for the same ChatAdapter prompts and deterministic LM; and
on the shared programs of tests/dspy_programs.py, their dspy.BaseLM given to plait as is.
Then: a stopped run resumes without repeating recorded calls, a replay that diverges is named,
one item's failure stays its own, and the runs are ordinary runs (plait show, plait.evaluate).
"""

from __future__ import annotations

import json

import dspy
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import plait
from plait.cli import cli
from plait.runtime.durable_replay import ReplayDiverged
from tests import dspy_programs as shared
from tests.crash import durable_programs as programs

# The test LM for plain DSPy is a BaseLM subclass, which DSPy 3.4 still runs but calls deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM:DeprecationWarning")


def plain_dspy(program: dspy.Module, items: list[dict]) -> list[dict]:
    with dspy.context(lm=programs.EchoDSPyLM(), adapter=dspy.ChatAdapter()):
        return [dict(program(**item).items()) for item in items]


def outputs(run: plait.Run) -> list[dict | None]:
    return [dict(o.items()) if o is not None else None for o in run.outputs]


@pytest.mark.parametrize("make", programs.PROGRAMS, ids=lambda p: p.__name__)
def test_durable_outputs_equal_plain_dspy_item_for_item(make, tmp_path):
    program = make()
    items = programs.items_for(program)
    run = plait.durable(program).run(items, store=str(tmp_path / "runs.db"), lm=programs.EchoLM(), progress=False)
    assert run.status == "done"
    assert outputs(run) == plain_dspy(program, items)


SHARED = {**shared.COMPILABLE, "multihop_early_exit": shared.MultiHopEarlyExit, "react": shared.CityAgent}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_durable_equals_plain_dspy_on_the_shared_programs_through_a_dspy_lm(name, tmp_path):
    """The programs the compiled way is tested on too, with their DSPy LM given to plait as is."""
    items = [{shared.INPUT_NAME[name]: q} for q in programs.QUESTIONS]
    with dspy.context(lm=shared.DeterministicLM(), adapter=dspy.ChatAdapter()):
        expected = [dict(SHARED[name]()(**item).items()) for item in items]
    run = plait.durable(SHARED[name]()).run(items, store=str(tmp_path / "runs.db"), lm=shared.DeterministicLM(),
                                            progress=False)
    assert run.status == "done" and outputs(run) == expected


def test_a_stopped_run_resumes_replaying_every_recorded_call(tmp_path):
    store, lm = str(tmp_path / "runs.db"), programs.EchoLM()
    items = programs.items_for(programs.Chain())
    program = plait.durable(programs.Chain())
    first = program.run(items, store=store, lm=lm, budget=plait.Budget(lm_calls=5), concurrency=1, progress=False)
    assert first.status == "stopped" and [r.status for r in first.items].count("done") == 2
    assert lm.calls == 5
    second = plait.resume(first.id, store=store, lm=lm, progress=False)  # the program rebuilt from its class path
    assert second.status == "done" and lm.calls == 2 * len(items)  # the 5 recorded calls are not made again
    assert second.stats.lm_calls == 2 * len(items) - 5
    assert outputs(second) == plain_dspy(programs.Chain(), items)


class Reworded(programs.Chain):
    """Chain with another instruction for its first predictor: the recorded calls no longer match."""

    def __init__(self):
        super().__init__()
        self.draft = dspy.Predict(dspy.Signature("question -> draft", "Draft a short answer."))


class Swapped(programs.Chain):
    """Chain whose forward calls another predictor first."""

    def forward(self, question):
        first = self.polish(question=question, draft="")
        return self.draft(question=first.answer)


@pytest.mark.parametrize("edited, found", [(Reworded, "'chain.draft' with {\"question\""),
                                           (Swapped, "a call of 'chain.polish'")])
def test_a_replay_that_diverges_fails_its_item_with_the_call_named(edited, found, tmp_path):
    store, lm = str(tmp_path / "runs.db"), programs.EchoLM()
    items = [{"question": "Who wrote Hamlet?"}, {"question": "Why is the sky blue?"}]
    first = plait.durable(programs.Chain()).run(items, store=store, lm=lm, budget=plait.Budget(lm_calls=3),
                                                concurrency=1, progress=False)
    assert [r.status for r in first.items] == ["done", "interrupted"]
    second = plait.durable(edited()).resume(first.id, store=store, lm=lm, progress=False)
    assert second.items[0].status == "done"  # a finished item keeps its recorded outputs
    failed = second.items[1]
    assert failed.status == "failed" and isinstance(failed.exception, ReplayDiverged)
    message = str(failed.exception)
    assert "item 1: the replay diverged at call 0" in message and found in message
    assert "recorded a call of 'chain.draft'" in message
    assert "expected: call 0 as recorded" in message and "fix: forward must make the same calls" in message
    assert lm.calls == 3  # nothing was asked of the LM after the divergence


class Fragile(programs.Chain):
    def forward(self, question):
        if "Hamlet" in question:
            raise KeyError("no such play")
        return super().forward(question)


def test_one_items_failure_in_forward_leaves_the_others_done(tmp_path):
    items = programs.items_for(programs.Chain())
    run = plait.durable(Fragile()).run(items, store=str(tmp_path / "runs.db"), lm=programs.EchoLM(), progress=False)
    assert run.status == "failed" and [r.item_id for r in run.failed] == ["2"]
    error = run.failed[0].exception
    assert isinstance(error, plait.PlaitError) and "forward raised KeyError: 'no such play'" in str(error)
    assert "fix: fix forward (or the item), then resume the run" in str(error)
    assert sum(r.status == "done" for r in run.items) == 4


def test_a_durable_run_is_an_ordinary_run_for_show_and_evaluate(tmp_path):
    store = str(tmp_path / "runs.db")
    program = plait.durable(programs.Agent())
    items = programs.items_for(programs.Agent())
    evaluation = plait.evaluate(program, items, lambda example, pred: bool(pred.answer), store=store,
                                lm=programs.EchoLM(), progress=False)
    assert evaluation.score == 1.0 and evaluation.lm_calls == 15
    shown = json.loads(CliRunner().invoke(cli, ["show", "latest", "--store", store, "--json"]).stdout)
    nodes = {n["id"]: n for n in shown["nodes"]}
    assert shown["run"]["plan"]["name"] == "agent" and shown["run"]["items"]["done"] == 5
    assert nodes["agent.agent.react"]["lm_calls"] == 10 and nodes["agent.agent.extract.predict"]["lm_calls"] == 5
    assert nodes["agent.agent.tools.add"]["ok"] == 5  # the tool calls, journaled as steps
    listed = CliRunner().invoke(cli, ["runs", "--store", store, "--json"]).stdout
    assert evaluation.run.id in listed


def test_rerun_of_a_durable_run_says_why_not(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.durable(programs.Chain()).run([{"question": "q"}], store=store, lm=programs.EchoLM(), progress=False)
    with pytest.raises(plait.PlaitError, match="cannot be forked from a node") as caught:
        plait.rerun(run.id, from_node="chain.polish", store=store)
    assert "start a new run of the edited program" in str(caught.value)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(min_size=0, max_size=40))
def test_unkind_strings_round_trip_and_match_plain_dspy(question, tmp_path_factory):
    store = str(tmp_path_factory.mktemp("unkind") / "runs.db")
    program, lm = programs.Chain(), programs.EchoLM()
    run = plait.durable(program).run([{"question": question}], store=store, lm=lm, progress=False)
    expected = plain_dspy(program, [{"question": question}])
    assert outputs(run) == expected
    again = plait.durable(programs.Chain()).run([{"question": question}], store=store, lm=lm, progress=False)
    assert outputs(again) == expected and again.stats.lm_calls == 0  # both calls reused from the cache


class Person(BaseModel):
    name: str
    age: int


class Extract(dspy.Module):
    def __init__(self):
        super().__init__()
        self.extract = dspy.Predict(dspy.Signature({"text": (str, dspy.InputField()), "person": (Person, dspy.OutputField())}))

    def forward(self, text):
        return self.extract(text=text)


def test_finished_items_come_back_as_the_types_forward_returned(tmp_path):
    store = str(tmp_path / "runs.db")
    lm = plait.ScriptedLM(lambda task: {"person": {"name": task.inputs["text"].split()[0], "age": 36}})
    program = plait.durable(Extract())
    items = [{"text": "Ada wrote programs"}, {"text": "Alan broke codes"}]
    first = program.run(items, store=store, lm=lm, budget=plait.Budget(lm_calls=1), concurrency=1, progress=False)
    assert first.status == "stopped" and first.items[0].outputs.person == Person(name="Ada", age=36)
    again = program.resume(first.id, store=store, lm=lm, progress=False)
    assert again.status == "done" and lm.calls == 2
    assert [r.outputs.person for r in again.items] == [Person(name="Ada", age=36), Person(name="Alan", age=36)]


def test_faults_are_survived_with_plaits_retries_fallbacks_and_reasks(tmp_path):
    """Transient errors are retried (the outputs are the fault-free ones, item for item), a malformed
    reply is re-asked, and an LM that fails falls back to another."""
    program, items = programs.MultiHop(), programs.items_for(programs.MultiHop())
    expected, retry = plain_dspy(program, items), plait.RetryPolicy(initial=0.0, maximum=0.0, max_attempts=8)
    flaky = plait.Faulty(programs.EchoLM(), error_rate=0.3, seed=3)
    run = plait.durable(program).run(items, store=str(tmp_path / "a.db"), lm=flaky, retry=retry, progress=False)
    assert run.status == "done" and outputs(run) == expected
    assert run.stats.retries == flaky.injected["error"] > 0 and run.stats.lm_requests > run.stats.lm_answered
    garbled = plait.Faulty(programs.EchoLM(), malformed_rate=0.3, seed=3)
    run = plait.durable(program).run(items, store=str(tmp_path / "b.db"), lm=garbled, parse_retries=5, progress=False)
    assert run.status == "done" and garbled.injected["malformed"] > 0  # re-asked until it parsed
    down = plait.Faulty(programs.EchoLM(name="primary"), outages=[(0, 1e9)])  # every call fails, transiently
    backup = programs.EchoLM(name="backup")
    run = plait.durable(program).run(items, store=str(tmp_path / "c.db"), lm=down, fallbacks=[backup],
                                     breakers={"primary": plait.CircuitBreaker(failures=1)}, progress=False)
    assert run.status == "done" and backup.calls > 0 and outputs(run) == expected


class ThreeVotes(dspy.Module):
    """Self-consistency: one predictor asked the same question three times."""

    def __init__(self):
        super().__init__()
        self.vote = dspy.Predict("question -> answer")

    def forward(self, question: str):
        return dspy.Prediction(votes=[self.vote(question=question).answer for _ in range(3)])


@pytest.mark.parametrize("temperature, calls", [(0.0, 1), (0.8, 3)])
def test_sampled_calls_of_one_predictor_are_separate_samples(tmp_path, temperature, calls):
    lm = programs.EchoLM()
    own = lm.identity()
    lm.identity = lambda: {**own, "temperature": temperature}
    run = plait.durable(ThreeVotes()).run([{"question": "q"}], store=str(tmp_path / "runs.db"), lm=lm, progress=False)
    assert run.status == "done" and lm.calls == calls  # deterministic: one shared answer; sampled: one each
