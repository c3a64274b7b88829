"""LangGraph's side of bench_peers.py, run by the python of bench/.venvs/langgraph.

The five nodes as a StateGraph (b and c in one superstep, so in parallel), each node a
hand-written LM call (peer_workload.run_node). With ``--db`` the graph is compiled with the
synchronous ``SqliteSaver`` (langgraph-checkpoint-sqlite), one thread per item, LangGraph's default
durability ("async": a step's checkpoint is written while the next step runs); the saver opens
the file in WAL mode with SQLite's default synchronous=FULL (an fsync per commit). Zero latency:
a plain loop of ``invoke``; with ``--latency``: ``batch`` on ``--concurrency`` threads.
Prints one BENCH-RESULT line (common.emit_result).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import peer_workload as work  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402


class Item(TypedDict, total=False):
    question: str
    x: str
    y: str
    z: str
    w: str
    answer: str


def build(lm: work.FakeLM):
    graph = StateGraph(Item)
    for node, (_, output) in work.NODES.items():
        graph.add_node(node, lambda state, node=node, output=output: {output: work.run_node(lm, node, state)})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("a", "c")
    graph.add_edge(["b", "c"], "d")
    graph.add_edge("d", "e")
    graph.add_edge("e", END)
    return graph


def saver(db: str | None):
    if not db:
        return nullcontext(None)
    from langgraph.checkpoint.sqlite import SqliteSaver

    return SqliteSaver.from_conn_string(db)


def run(opts: argparse.Namespace) -> dict:
    lm, data = work.FakeLM(opts.latency, time.sleep), work.questions(opts.items)
    with saver(opts.db) as checkpointer:
        app = build(lm).compile(checkpointer=checkpointer)
        app.invoke({"question": "warm-up"}, {"configurable": {"thread_id": "warm-up"}})
        lm.calls, configs = 0, [{"configurable": {"thread_id": str(i)}} for i in range(opts.items)]
        base = common.mark_rss()
        if opts.latency:
            configs = [{**c, "max_concurrency": opts.concurrency} for c in configs]
            outputs, wall, cpu = common.timed(lambda: app.batch(data, configs))
        else:
            outputs, wall, cpu = common.timed(lambda: [app.invoke(q, c) for q, c in zip(data, configs)])
    answers = [o.get("answer", "") for o in outputs]
    return {"wall": wall, "cpu": cpu, "items": opts.items, "done": sum(bool(a) for a in answers),
            "lm_calls": lm.calls, "checksum": work.checksum(answers), "rss_base_mb": base,
            "rss_peak_mb": common.peak_rss_mb(),
            "store_bytes": common.sqlite_store_bytes(opts.db) if opts.db else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--db", help="checkpoint with SqliteSaver into this file (fresh)")
    common.emit_result(run(parser.parse_args()))


if __name__ == "__main__":
    main()
