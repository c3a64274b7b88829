"""One definition of an LM call (DESIGN.md, contract 11): a request sent to a provider, answered or
not, with the tokens and cost of every reply. run.stats (this invocation), run.totals (the run,
from its journal), the node table, the HTML summary, the CLI, budgets and Evaluation count alike."""

from __future__ import annotations

import json

from click.testing import CliRunner

import plait
from plait.checkpoints.location import open_location
from plait.checkpoints.spend import Spend, total_spend
from plait.cli import cli
from plait.lm.protocol import LMResponse, Usage
from plait.runtime.budget import journal_spending
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(4)]


class Priced(plait.ScriptedLM):
    """A scripted LM whose provider reports 10 prompt tokens, 5 completion tokens and 0.001 per call."""

    async def acall(self, request):
        response = await super().acall(request)
        return LMResponse(response.text, Usage(10, 5, 0.001))


def never_parses(task) -> str:
    return "no fields at all" if task.inputs.get("question") == "bad" else echo_answer(task)


def test_a_reply_that_never_parses_counts_every_request_its_tokens_and_its_cost(store_path):
    lm = Priced(never_parses)
    compiled = plait.compile(plait.Predict("question -> answer"))
    run = compiled.run([{"question": "bad"}, {"question": "good"}], store=store_path, lm=lm, parse_retries=2)
    assert [r.status for r in run.items] == ["failed", "done"] and lm.calls == 4  # 3 asks for 'bad', 1 for 'good'
    for stats in (run.stats, run.totals):
        assert (stats.lm_calls, stats.lm_answered, stats.lm_nodes, stats.failed_nodes) == (4, 4, 1, 1)
        assert (stats.prompt_tokens, stats.completion_tokens) == (40, 20) and abs(stats.cost - 0.004) < 1e-12
    assert run.node_table()["lm_calls"].tolist() == [4] and run.node_table()["prompt_tokens"].tolist() == [40]
    page = run._repr_html_()
    assert "4 (4 answered)" in page and "60 (40 prompt, 20 completion)" in page and "0.0040" in page
    store = open_location(store_path, create=False)
    rows = store.journal(run.id).values()
    assert total_spend(rows) == Spend(4, 4, 40, 20, total_spend(rows).cost)
    assert journal_spending(rows)[:2] == (4, 60)  # what a resumed run's budget starts from
    assert store.spending()[run.id].requests == 4
    store.close()


def test_the_cli_prints_the_same_calls_tokens_and_cost(store_path):
    compiled = plait.compile(plait.Predict("question -> answer"))
    run = compiled.run([{"question": "bad"}, {"question": "good"}], store=store_path, lm=Priced(never_parses))
    shown = json.loads(CliRunner().invoke(cli, ["show", run.id, "--store", store_path, "--json"]).output)
    assert shown["run"]["totals"] == {"lm_calls": 4, "lm_answered": 4, "prompt_tokens": 40,
                                      "completion_tokens": 20, "cost": shown["run"]["totals"]["cost"]}
    assert abs(shown["run"]["totals"]["cost"] - 0.004) < 1e-12
    (node,) = [n for n in shown["nodes"] if n["op"] == "predict"]
    assert (node["lm_calls"], node["lm_answered"], node["failed"], node["ok"]) == (4, 4, 1, 1)
    text = CliRunner().invoke(cli, ["show", run.id, "--store", store_path]).output
    assert "run totals: LM calls 4 (4 answered), tokens 40 in, 20 out, cost 0.0040" in text
    listed = json.loads(CliRunner().invoke(cli, ["runs", "--store", store_path, "--json"]).output)
    assert listed[0]["totals"] == shown["run"]["totals"]


def test_a_budget_stops_at_the_requests_re_asks_included(store_path):
    replies = iter(["not a reply", "still not"])  # the first node is asked three times
    lm = plait.ScriptedLM(lambda task: next(replies, None) or echo_answer(task))
    run = plait.compile(Chain4()).run(ITEMS[:1], store=store_path, lm=lm, concurrency=1,
                                      budget=plait.Budget(lm_calls=4))
    assert run.status == "stopped" and lm.calls == 4
    assert run.stats.lm_calls == run.totals.lm_calls == 4 and run.totals.lm_nodes == 2


def test_a_re_ask_cut_by_the_budget_keeps_the_reply_it_paid_for(store_path):
    replies = iter(["not a reply"])
    lm = plait.ScriptedLM(lambda task: next(replies, None) or echo_answer(task))
    run = plait.compile(Chain4()).run(ITEMS[:1], store=store_path, lm=lm, budget=plait.Budget(lm_calls=1))
    assert run.status == "stopped" and lm.calls == 1
    assert run.totals.lm_calls == run.stats.lm_calls == 1 and run.totals.completion_tokens > 0
    more = plait.resume(run.id, store=store_path, lm=lm)
    assert more.status == "done" and more.totals.lm_calls == 1 + more.stats.lm_calls == lm.calls == 5


def test_totals_add_up_every_invocation_of_a_run(store_path):
    lm = plait.ScriptedLM(echo_answer)
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=lm, concurrency=1, budget=plait.Budget(lm_calls=6))
    second = plait.resume(first.id, store=store_path, lm=lm, concurrency=1, budget=plait.Budget(lm_calls=11))
    third = plait.resume(first.id, store=store_path, lm=lm)
    again = plait.resume(first.id, store=store_path, lm=lm)  # everything replays: no call
    assert [r.stats.lm_calls for r in (first, second, third, again)] == [6, 5, 5, 0] and lm.calls == 16
    assert [r.totals.lm_calls for r in (first, second, third, again)] == [6, 11, 16, 16]
    assert again.totals.prompt_tokens == sum(r.stats.prompt_tokens for r in (first, second, third)) > 0
    assert again.totals.lm_nodes == 16 and again.stats.replayed == 16
    assert again.totals.cost is None  # the scripted LM reports no cost: unknown, not 0
    assert "this invocation" in again._repr_html_() and "16 (16 answered)" in again._repr_html_()


def test_failed_requests_count_but_do_not_answer(store_path):
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=0.4, seed=5)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, clock=plait.FakeClock(),
                                      retry=plait.RetryPolicy(initial=0.01, max_attempts=10))
    assert run.status == "done" and lm.injected["error"] > 0
    for stats in (run.stats, run.totals):
        assert stats.lm_calls == lm.calls and stats.lm_answered == lm.answered == 16 < stats.lm_calls


def test_a_fork_counts_only_what_it_recomputed(store_path):
    lm = plait.ScriptedLM(echo_answer)
    first = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm)
    fork = plait.rerun(first.id, from_node="chain4.n4", store=store_path, lm=lm)
    assert fork.stats.lm_calls == fork.totals.lm_calls == 4 and first.totals.lm_calls == 16


def test_evaluation_counts_requests_re_asks_included(store_path):
    compiled = plait.compile(plait.Predict("question -> answer"))
    lm = plait.ScriptedLM(never_parses)
    ev = plait.evaluate(compiled, [{"question": "bad", "answer": "x"}, {"question": "good", "answer": "y"}],
                        metric=lambda ex, pred: ex["answer"] == pred.answer, store=store_path, lm=lm)
    assert ev.lm_calls == lm.calls == 4 and "4 LM calls" in str(ev)
