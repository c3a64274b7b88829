"""The plait and DSPy sides of bench/bench_peers.py on 5 items: each case does all the work (the
workload's checksum and call count), and the harness flags a run that did not. The peers'
own venvs (LangGraph, DBOS) need the network to install, so they are not run here."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_peers  # noqa: E402
import common  # noqa: E402
import peer_workload as work  # noqa: E402


def run(*args: str) -> dict:
    return common.run_case(BENCH / "bench_peers.py", [*args, "--items", "5"], timeout=300)


def test_plait_durable_then_replay_give_the_workloads_checksum(tmp_path):
    durable = run("--case", "plait", "--db", str(tmp_path / "p.db"), "--durability", "power")
    replay = run("--case", "plait-replay", "--db", str(tmp_path / "r.db"))
    assert (durable["done"], durable["lm_calls"], durable["checksum"]) == (5, 25, work.expected_checksum(5))
    assert durable["store_bytes"] > 0
    assert (replay["done"], replay["lm_calls"], replay["checksum"]) == (5, 0, work.expected_checksum(5))


def test_dspy_reads_its_inputs_from_chatadapter_prompts():
    result = run("--case", "dspy")
    assert (result["done"], result["lm_calls"], result["checksum"]) == (5, 25, work.expected_checksum(5))


def test_the_harness_flags_skipped_work():
    good = {"items": 5, "done": 5, "lm_calls": 25, "checksum": work.expected_checksum(5)}
    bad = {**good, "done": 4, "lm_calls": 20, "checksum": good["checksum"] ^ 1}
    cases = [common.Case("ok", "", lambda i: [], [good]), common.Case("lazy", "", lambda i: [], [bad])]
    found = bench_peers.problems(cases)
    assert found == ["lazy: 1 of 5 items did not finish", "lazy: 20 LM calls, expected 25",
                     f"lazy: checksum {bad['checksum']} is not the workload's; some node's output is wrong"]


def test_the_hand_written_node_parses_what_it_formats():
    values = {"y": "y 0000abcd", "z": "z with spaces: and [[ brackets"}
    found = work.sections(work.prompt_text("d", values))
    assert {name: found[name] for name in ("y", "z")} == values
