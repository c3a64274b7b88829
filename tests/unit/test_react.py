"""plait.ReAct with a scripted LM: tools, observations for what the agent got wrong, idempotency keys."""

from __future__ import annotations

import pytest

import plait
from plait.runtime import events as ev
from plait.runtime.loops import idempotency_key
from tests import loop_programs as lp
from tests.programs import line_of


@pytest.fixture(autouse=True)
def _fresh_tool_log():
    lp.TOOL_LOG.clear()
    lp.SERVED.clear()


def scripted(steps: list[tuple[str, dict]], answer=5, record: bool = False) -> plait.ScriptedLM:
    """An agent that takes ``steps`` (tool, args) in order, then finishes; the extraction answers ``answer``."""

    def reply(task):
        if "answer" in task.output_fields:
            return {"answer": answer}
        done = task.inputs["trajectory"].count("observation_")
        name, args = steps[done] if done < len(steps) else ("finish", {})
        return {"next_thought": f"step {done}", "next_tool_name": name, "next_tool_args": args}

    return plait.ScriptedLM(reply, record=record)


def test_react_calls_tools_and_extracts_the_answer(store_path):
    lm = scripted([("add", {"a": 2, "b": 3})], record=True)
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=4)
    run = plait.compile(agent).run([{"question": "2 + 3?"}], store=store_path, lm=lm, progress=False)
    assert run.items[0].outputs.answer == 5
    assert lp.TOOL_LOG == [{"tool": "add", "a": 2, "b": 3}]
    extract_prompt = lm.requests[-1].task.inputs["trajectory"]
    assert "tool_name_0: add" in extract_prompt and "observation_0: 5" in extract_prompt
    assert "tool_name_1: finish" in extract_prompt
    assert lm.calls == 3  # two agent turns and the extraction


def test_what_the_agent_gets_wrong_becomes_an_observation(store_path):
    steps = [("search", {"q": "x"}), ("add", {"a": "two", "b": 3}), ("add", {"a": 1}), ("divide", {"a": 1, "b": 0}),
             ("add", {"a": 1, "b": 2})]
    agent = plait.ReAct("question -> answer: int", tools=[lp.add, lp.divide], max_iters=8)
    compiled = plait.compile(agent)
    run = compiled.run([{"question": "?"}], store=store_path, lm=scripted(steps), progress=False)
    assert run.status == "done"
    store = plait.SQLiteStore(store_path)
    (row,) = [r for k, r in store.journal(run.id).items() if k[1] == "re_act" and k[2] == 0]
    import json

    observations = [e["observation"] for e in json.loads(store.read_value(row.value_hash))["trajectory"]]
    store.close()
    assert observations[0] == "Unknown tool 'search'. Use one of: add, divide, finish."
    assert observations[1].startswith("Invalid arguments for tool 'add': a: Input should be a valid integer")
    assert observations[2] == "Invalid arguments for tool 'add': b: Field required"
    assert observations[3] == "Execution error in divide: ZeroDivisionError: float division by zero"
    assert observations[4:] == [3, "Completed."]


def test_tools_that_accept_one_get_an_idempotency_key(store_path):
    agent = plait.ReAct("question -> answer: int", tools=[lp.deposit], max_iters=4)
    lm = scripted([("deposit", {"amount": 10}), ("deposit", {"amount": 5})])
    run = plait.compile(agent).run([{"question": "?"}], ids=["item-1"], store=store_path, lm=lm, progress=False)
    keys = [call["key"] for call in lp.TOOL_LOG]
    assert keys == [idempotency_key(run.id, "item-1", "re_act", i) for i in (1, 2)]
    assert len(set(keys)) == 2 and all(len(k) == 32 for k in keys)
    assert "idempotency_key" not in plait.compile(agent).plan.node("re_act").params.tools[0].describe()


def test_react_at_max_iters_goes_on_to_the_extraction(store_path):
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=3)
    lm = scripted([("add", {"a": 1, "b": 1})] * 10, answer=7)
    seen: list[ev.LoopIteration] = []
    run = plait.compile(agent).run([{"question": "?"}], store=store_path, lm=lm, progress=False,
                                   on_event=lambda e: seen.append(e) if isinstance(e, ev.LoopIteration) else None)
    assert run.items[0].outputs.answer == 7 and len(seen) == 3 and len(lp.TOOL_LOG) == 3


def test_resume_replays_agent_turns_without_lm_or_tool_calls(store_path):
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=6)
    lm = scripted([("add", {"a": i, "b": 1}) for i in range(4)])
    compiled = plait.compile(agent)
    first = compiled.run([{"question": "?"}], store=store_path, lm=lm, progress=False, budget=plait.Budget(lm_calls=3))
    assert first.status == "stopped" and lm.calls == 3 and len(lp.TOOL_LOG) == 3
    again = plait.resume(first.id, store=store_path, lm=lm)
    assert again.status == "done" and again.items[0].outputs.answer == 5
    assert lm.calls == 3 + 2 + 1  # the 4th add, the finish, the extraction
    assert [c["a"] for c in lp.TOOL_LOG] == [0, 1, 2, 3]  # no tool call repeated


def test_tools_must_be_module_level_functions():
    with pytest.raises(plait.TraceError) as info:
        plait.ReAct("question -> answer", tools=[lambda x: x])
    text = str(info.value)
    assert "tool <lambda> is not a module-level function" in text
    assert f"test_react.py:{line_of(test_tools_must_be_module_level_functions, 'tools=[lambda')}" in text
    assert "fix: define the tool with def at module level" in text


def test_tool_names_must_be_distinct_and_not_finish():
    with pytest.raises(plait.TraceError, match="two tools are named 'add'") as info:
        plait.ReAct("question -> answer", tools=[lp.add, lp.add])
    assert "tool 'add'" in str(info.value) and "fix: rename the function" in str(info.value)
    with pytest.raises(plait.TraceError, match="a tool is named 'finish'"):
        plait.ReAct("question -> answer", tools=[finish])


def finish() -> str:
    return "done"


def test_a_react_plan_saves_and_loads_its_tools(tmp_path, store_path):
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=4)
    compiled = plait.compile(agent)
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert loaded.plan.node("re_act").params.tools[0].func is lp.add
    assert loaded.plan.node("re_act").fingerprint == compiled.plan.node("re_act").fingerprint
    run = loaded.run([{"question": "?"}], store=store_path, lm=scripted([("add", {"a": 1, "b": 2})]), progress=False)
    assert run.status == "done" and lp.TOOL_LOG == [{"tool": "add", "a": 1, "b": 2}]


def test_the_agent_is_callable_eagerly():
    plait.configure(lm=scripted([("add", {"a": 2, "b": 2})], answer=4))
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=3)
    assert agent(question="2 + 2?").answer == 4


def test_an_agent_reply_that_never_parses_ends_the_loop_and_keeps_the_raw_text(store_path):
    def reply(task):
        if "answer" in task.output_fields:
            return {"answer": 1}
        if "observation_0" in task.inputs["trajectory"]:
            return "I will not answer in the format"  # raw text: every re-ask fails to parse too
        return {"next_thought": "add", "next_tool_name": "add", "next_tool_args": {"a": 0, "b": 1}}

    lm = plait.ScriptedLM(reply)
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=5)
    run = plait.compile(agent).run([{"question": "?"}], store=store_path, lm=lm, progress=False)
    assert run.status == "done" and run.items[0].outputs.answer == 1
    assert lm.calls == 1 + 3 + 1  # a turn, the unparseable turn and its two re-asks, the extraction
    store = plait.SQLiteStore(store_path)
    import json

    rows = {k[2]: r for k, r in store.journal(run.id).items() if k[1] == "re_act"}
    value = json.loads(store.read_value(rows[0].value_hash))
    store.close()
    assert value["iterations"] == 2 and value["finished"] is False
    assert value["last"]["raw"] == "I will not answer in the format"
    assert "cannot be parsed" in value["last"]["unparsed"] and rows[2].attempts == 3


def test_lm_calls_inside_the_loop_go_through_the_node_guard(store_path):
    """Transient errors are retried under the inner node's own RetryPolicy; the budget counts every attempt."""
    clock = plait.FakeClock()
    lm = plait.Faulty(scripted([("add", {"a": i, "b": 1}) for i in range(3)]), error_rate=0.4, seed=3, clock=clock)
    retried: list[ev.NodeRetried] = []
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=6)
    run = plait.compile(agent).run(
        [{"question": "?"}], store=store_path, lm=lm, progress=False, clock=clock,
        retry={"re_act.react": plait.RetryPolicy(max_attempts=10)},
        on_event=lambda e: retried.append(e) if isinstance(e, ev.NodeRetried) else None)
    assert run.status == "done" and run.items[0].outputs.answer == 5
    assert lm.injected["error"] > 0 and {e.node_id for e in retried} >= {"re_act.react"}
    assert len(lp.TOOL_LOG) == 3  # retries repeat LM calls, never tool calls
    store = plait.SQLiteStore(store_path)
    rows = [r for k, r in store.journal(run.id).items() if k[1] == "re_act" and k[2] >= 1]
    store.close()
    react_retries = sum(1 for e in retried if e.node_id == "re_act.react")
    assert sum(r.attempts for r in rows) == 4 + react_retries  # four turns, plus their failed attempts


def test_run_options_keyed_by_an_inner_node_reach_it(store_path):
    """Guards are resolved for the predictors inside loop bodies too: a bad option for one is reported."""
    agent = plait.ReAct("question -> answer: int", tools=[lp.add], max_iters=6)
    lm = scripted([("add", {"a": 1, "b": 1})] * 3)
    with pytest.raises(plait.PlaitError, match="retry= for node 're_act.react' is not a RetryPolicy"):
        plait.compile(agent).run([{"question": "?"}], store=store_path, lm=lm, progress=False,
                                 retry={"re_act.react": 3})
