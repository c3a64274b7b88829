"""The two event tallies (RunStats for the run, NodeTally per node) give each count one name, and
the per-node counts add up to the run's."""

from dataclasses import fields

import plait
from plait.api.results import RunStats
from plait.runtime.tally import NodeCounts
from tests.programs import Diamond, echo_answer

# Counted per node and per run alike; `seconds` is not one: compute time per node, wall time per run.
SHARED = ["lm_calls", "steps", "cache_hits", "replayed", "failed_nodes", "retries", "prompt_tokens",
          "completion_tokens"]


def test_every_count_a_node_row_shares_with_run_stats_has_the_same_name():
    assert [f.name for f in fields(NodeCounts)] == [*SHARED, "seconds"]
    assert set(SHARED) <= {f.name for f in fields(RunStats)}


def test_the_node_counts_add_up_to_the_run_stats(store_path):
    compiled = plait.compile(Diamond())
    items = [{"question": f"q{i}"} for i in range(3)]
    flaky = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=0.3, seed=3)
    first = compiled.run(items, store=store_path, lm=flaky, progress=False)
    again = plait.resume(first.id, store=store_path, lm=plait.ScriptedLM(echo_answer), progress=False)
    cached = compiled.run(items, store=store_path, lm=plait.ScriptedLM(echo_answer), progress=False)
    for run in (first, again, cached):
        table = run.node_table()
        for name in SHARED:
            assert table[name].sum() == getattr(run.stats, name), name
    assert first.stats.retries > 0 and again.stats.replayed > 0 and cached.stats.cache_hits > 0
