"""DBOS's side of bench_peers.py, run by the python of bench/.venvs/dbos.

One DBOS workflow per item, each of the five nodes a ``@DBOS.step`` (a hand-written LM call,
peer_workload.run_node), b and c one after the other (a workflow's steps run in turn). The
system database is SQLite (``system_database_url="sqlite:///FILE"``), which DBOS opens in
SQLite's default rollback-journal mode with synchronous=FULL: every step's record is fsynced.
Zero latency: a plain loop of workflow calls; with ``--latency``: ``--concurrency`` threads.
Prints one BENCH-RESULT line (common.emit_result).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import peer_workload as work  # noqa: E402
from dbos import DBOS  # noqa: E402

LM = work.FakeLM()


@DBOS.step()
def lm_node(node: str, values: dict[str, str]) -> str:
    return work.run_node(LM, node, values)


@DBOS.workflow()
def item(question: str) -> str:
    values = {"question": question}
    for node, (_, output) in work.NODES.items():
        values[output] = lm_node(node, values)
    return values["answer"]


def run(opts: argparse.Namespace) -> dict:
    LM.latency, LM.sleep = opts.latency, time.sleep
    DBOS(config={"name": "plait-bench", "system_database_url": f"sqlite:///{opts.db}", "log_level": "WARNING"})
    DBOS.launch()
    try:
        data = [q["question"] for q in work.questions(opts.items)]
        item("warm-up")
        LM.calls = 0
        base = common.mark_rss()
        if opts.latency:
            with ThreadPoolExecutor(opts.concurrency) as pool:
                answers, wall, cpu = common.timed(lambda: list(pool.map(item, data)))
        else:
            answers, wall, cpu = common.timed(lambda: [item(q) for q in data])
    finally:
        DBOS.destroy()
    return {"wall": wall, "cpu": cpu, "items": opts.items, "done": sum(bool(a) for a in answers),
            "lm_calls": LM.calls, "checksum": work.checksum(answers), "rss_base_mb": base,
            "rss_peak_mb": common.peak_rss_mb(), "store_bytes": common.sqlite_store_bytes(opts.db)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--db", required=True, help="the SQLite system database file (fresh)")
    logging.getLogger("dbos").setLevel(logging.WARNING)
    common.emit_result(run(parser.parse_args()))


if __name__ == "__main__":
    main()
