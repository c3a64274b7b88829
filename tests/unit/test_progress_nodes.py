"""The progress bar counts node executions, so that its rate and ETA come from node completions,
and a run that continues from its journal says how much was recorded."""

from __future__ import annotations

import plait
from plait.runtime import events as ev
from plait.runtime.progress import ProgressBar
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(3)]


def _fails_q2_at_n3(task):
    if task.node_id == "chain4.n3" and "q2" in str(task.inputs):
        return "no fields here"
    return echo_answer(task)


def test_the_bar_moves_with_each_node_not_only_with_each_item():
    bar = ProgressBar(10, "test")
    bar(ev.RunStarted("r", 10, 6, node_runs=40))
    for node in ("n1", "n2", "n3"):
        bar(ev.NodeFinished("r", "0", node, "lm"))
    assert bar._bar.n == 3 and bar._bar.total == 40  # three of 40 nodes: the ETA is from these, no item ended yet
    bar(ev.NodeFailed("r", "1", "n1", "boom"))
    bar(ev.ItemFinished("r", "1", "failed"))
    assert bar._bar.n == 7  # item 1's four nodes will never run: counted as it ends
    bar(ev.RunFinished("r", "failed"))


def test_a_bar_over_a_resumed_run_starts_at_what_was_recorded(capsys):
    bar = ProgressBar(10, "test")
    bar(ev.RunStarted("r", 10, 6, resumed=True, node_runs=40, recorded=30))
    bar(ev.NodeFinished("r", "0", "n1", "replay"))  # among the 30: not counted twice
    bar(ev.NodeFinished("r", "9", "n4", "lm"))
    assert bar._bar.n == 31
    bar(ev.RunFinished("r", "done"))
    assert "resuming run r: 30 of 40 nodes recorded" in capsys.readouterr().err


def test_a_resume_says_how_many_nodes_the_run_recorded(store_path, capsys):
    compiled = plait.compile(Chain4())
    run = compiled.run(ITEMS, store=store_path, lm=plait.ScriptedLM(_fails_q2_at_n3), parse_retries=0,
                       progress=True)
    err = capsys.readouterr().err
    assert "12/12" in err and "items=3/3" in err and "lm=10" in err  # q2 failed at its third node: its last two count as it ends
    plait.resume(run.id, store=store_path, lm=plait.ScriptedLM(echo_answer), progress=True)
    err = capsys.readouterr().err
    assert f"resuming run {run.id}: 10 of 12 nodes recorded" in err and "12/12" in err
