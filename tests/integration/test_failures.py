"""One item's failure never hides the others' results; every failure says where and why."""

import json
import sqlite3


import plait
from tests.programs import Chain4, Diamond, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(6)]


def _malformed_for_q3(task):
    if task.node_id == "chain4.n2" and "q3" in task.inputs["a"]:
        return "I refuse to use your format."
    return echo_answer(task)


def test_an_unparseable_reply_fails_only_its_item_and_keeps_the_raw_text(store_path):
    lm = plait.ScriptedLM(_malformed_for_q3)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, parse_retries=1)
    assert run.status == "failed"
    assert [r.status for r in run.items] == ["done"] * 3 + ["failed"] + ["done"] * 2
    assert run.outputs[4].d == "d(c(b(a(q4))))"
    error = run.items[3].error
    assert "node 'chain4.n2'" in error and "output field 'b'" in error
    assert "programs.py:" in error and "fix:" in error and "I refuse" in error
    assert lm.calls == 5 * 4 + 1 + 2  # item q3: n1 once, then n2 asked twice (one re-ask)
    raw = sqlite3.connect(store_path).execute(
        "SELECT b.data FROM journal j JOIN blobs b ON b.hash = j.value_hash"
        " WHERE j.run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND j.item_id='3' AND j.node_id='chain4.n2'", (run.id,)).fetchone()[0]
    assert json.loads(raw)["raw"][0] == "I refuse to use your format."


class Counted(plait.Signature):
    """Count."""

    text: str = plait.InputField()
    n: int = plait.OutputField()


def test_a_wrong_type_is_reasked_with_the_validation_error(store_path):
    replies = iter(["[[ ## n ## ]]\nmany\n\n[[ ## completed ## ]]", {"n": 3}])
    lm = plait.ScriptedLM(lambda task: next(replies), record=True)
    run = plait.compile(plait.Predict(Counted)).run([{"text": "a b c"}], store=store_path, lm=lm)
    assert run.outputs[0].n == 3
    correction = lm.requests[1].messages[-1]["content"]
    assert "field 'n'" in correction and "int" in correction


def test_the_parse_error_names_node_field_type_raw_text_and_line(store_path):
    lm = plait.ScriptedLM(lambda task: "[[ ## n ## ]]\nmany\n\n[[ ## completed ## ]]")
    run = plait.compile(plait.Predict(Counted)).run([{"text": "x"}], store=store_path, lm=lm, parse_retries=0)
    err = run.items[0].exception
    assert isinstance(err, plait.OutputParseError)
    assert err.node == "predict" and err.field == "n" and err.expected == "int"
    assert err.raw.startswith("[[ ## n ## ]]\nmany")
    assert "test_failures.py:" in str(err)


def test_missing_and_mistyped_items_fail_before_any_lm_call(store_path, echo_lm):
    class Typed(plait.Module):
        def __init__(self):
            self.a = plait.Predict("question, k: int -> answer")

        def forward(self, question: str, k: int):
            return self.a(question=question, k=k)

    items = [{"question": "ok", "k": 1}, {"question": "no k"}, {"question": "bad", "k": "three"}]
    run = plait.compile(Typed()).run(items, store=store_path, lm=echo_lm)
    assert [r.status for r in run.items] == ["done", "failed", "failed"]
    assert echo_lm.calls == 1
    assert "item 1 has no field 'k'" in run.items[1].error and "fix:" in run.items[1].error
    assert "item 2: field 'k' has the wrong type" in run.items[2].error
    assert "expected: int" in run.items[2].error and "'three'" in run.items[2].error


def test_a_failing_step_names_the_step_and_is_fixed_by_resume(store_path, echo_lm):
    import tests.programs as programs

    def broken(left: str, right: str) -> str:
        raise ValueError("boom")

    compiled = plait.compile(Diamond())
    step_node = compiled.plan.node("diamond.join")
    object.__setattr__(step_node.params, "func", broken)
    run = compiled.run(ITEMS[:2], store=store_path, lm=echo_lm)
    assert run.status == "failed"
    assert "step 'diamond.join' raised ValueError: boom" in run.items[0].error
    object.__setattr__(step_node.params, "func", programs.join.func)
    calls = echo_lm.calls
    fixed = plait.resume(run.id, store=store_path, lm=echo_lm)
    assert fixed.status == "done" and echo_lm.calls == calls + 2  # only the final node per item


def test_lm_errors_fail_the_item_with_the_fix(store_path):
    class Down(plait.ScriptedLM):
        async def acall(self, request):
            raise plait.LMError("503 service unavailable", transient=True)

    run = plait.compile(Chain4()).run(ITEMS[:2], store=store_path, lm=Down(echo_answer), progress=False,
                                      clock=plait.FakeClock())  # the default RetryPolicy's backoff, in no time
    assert all(r.status == "failed" for r in run.items)
    assert "LM 'scripted' failed for node 'chain4.n1'" in run.items[0].error
    assert "resume the run" in run.items[0].error
