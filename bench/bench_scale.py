"""Issue 13: where the shared store saturates, and what Ray adds, on the bench_core workload.

Rows (each measured once, in a fresh child process; the PostgreSQL rows need ``--postgres URL``
or ``$PLAIT_BENCH_POSTGRES``, the Ray rows a cluster: ``--ray-address`` or ``$RAY_ADDRESS``, else
a local Ray started for the row):

- ``store-sqlite`` / ``store-postgres``: the store alone. 1, 2 and 4 processes record node rows
  (value, journal row, cache entry: what a node costs) as fast as they can; recorded nodes per
  second over all of them. The figure docs/scale.md and bench/scale_model.py take as the store rate.
- ``local-sqlite`` / ``local-postgres``: ``compiled.run`` over ``--items`` items x 5 LM nodes
  (a -> b|c -> d -> e) with a zero-latency scripted LM, concurrency 64: the executor and the store.
- ``ray-sqlite`` / ``ray-postgres``: the same run on Ray (``--workers`` workers, concurrency 64
  each); the SQLite file is shared by workers on this machine.
- ``latency-local`` / ``latency-ray``: ``--latency-items`` items at ``--latency`` s per LM call with
  ``--in-flight`` items in flight (locally concurrency 256; on Ray 256 / workers per worker), next to
  the ideal: critical path 4 x latency x items / in flight.

Usage::

    .venv/bin/python bench/bench_scale.py                                    # 100,000 and 10,000 items
    .venv/bin/python bench/bench_scale.py --postgres postgresql://localhost/plait_bench --ray-address auto
    .venv/bin/python bench/bench_scale.py --items 50 --latency-items 20 --rows store-sqlite,local-sqlite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` when run as a script

import common  # noqa: E402

import plait  # noqa: E402
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status  # noqa: E402
from plait.checkpoints.stores import open_store  # noqa: E402

SCRIPT = Path(__file__).resolve()
ROWS = ("store-sqlite", "store-postgres", "local-sqlite", "local-postgres", "ray-sqlite", "ray-postgres",
        "latency-local", "latency-ray")
NODES, CRITICAL_PATH, CONCURRENCY = 5, 4, 64
WRITERS = (1, 2, 4)


class Chain(plait.Module):
    """bench_core's workload: five LM nodes, two of them in parallel."""

    def __init__(self):
        self.a, self.b, self.c = plait.Predict("question -> x"), plait.Predict("x -> y"), plait.Predict("x -> z")
        self.d, self.e = plait.Predict("y, z -> w"), plait.Predict("w -> answer")

    def forward(self, question: str):
        x = self.a(question=question).x
        return self.e(w=self.d(y=self.b(x=x).y, z=self.c(x=x).z).w)


def answer(task) -> dict[str, str]:
    digest = hashlib.sha256(json.dumps([task.node_id, task.inputs], sort_keys=True).encode()).hexdigest()[:16]
    return {name: f"{name}:{digest}" for name in task.output_fields}


def questions(count: int, salt: str = "") -> list[dict[str, str]]:
    """Distinct per row (``salt``): rows sharing one PostgreSQL database must not reuse each other's nodes."""
    return [{"question": f"{salt} question {i}"} for i in range(count)]


def store_bytes(locator: str) -> int:
    """What the store holds on disk: the SQLite file (WAL checkpointed), or the PostgreSQL tables of
    the `plait` schema with their indexes and TOAST."""
    if not locator.startswith("postgres"):
        return common.sqlite_store_bytes(locator)
    import psycopg

    with psycopg.connect(locator) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n"
                            " ON n.oid = c.relnamespace WHERE n.nspname = 'plait' AND c.relkind = 'r'").fetchone()[0])


# --- the store alone ----------------------------------------------------------------------------
def _write_nodes(locator: str, run_id: str, writer: int, count: int, start: float) -> tuple[float, float]:
    store = open_store(locator)
    while time.time() < start:  # every writer starts at once
        time.sleep(0.001)
    began = time.perf_counter()
    for i in range(count):
        data = json.dumps({"x": f"value {writer}-{i}"}).encode()
        key = hashlib.sha256(f"{run_id}|{writer}|{i}".encode()).hexdigest()
        row = JournalRow(run_id=run_id, item_id=f"{writer}-{i // NODES}", node_id=f"n{i % NODES}", content_key=key,
                         value_hash=hashlib.sha256(data).hexdigest(), status=Status.OK, source=Source.LM)
        store.record(row, data, cache=True, item_status=None)
    store.close()
    return began, time.perf_counter()


def store_case(locator: str, nodes: int) -> dict[str, Any]:
    rates = {}
    for writers in WRITERS:
        run_id = f"bench-{writers}-{time.time_ns()}"
        store = open_store(locator)
        store.create_run(RunRecord(run_id, store.save_plan("{}"), "running", time.time(), time.time()), [])
        store.close()
        start = time.time() + 1.0
        with multiprocessing.get_context("fork").Pool(writers) as pool:  # a fresh child: no threads yet
            spans = pool.starmap(_write_nodes, [(locator, run_id, w, nodes // writers, start) for w in range(writers)])
        wall = max(end for _, end in spans) - min(began for began, _ in spans)
        rates[writers] = (nodes // writers) * writers / wall
    return {"nodes_per_s": rates, "how": ", ".join(f"{w} writer{'s' * (w > 1)}: {r:,.0f}/s" for w, r in rates.items())}


# --- runs -----------------------------------------------------------------------------------------
def run_case(locator: str, items: int, executor: Any, latency: float, concurrency: int, salt: str) -> dict[str, Any]:
    compiled = plait.compile(Chain())
    lm = plait.ScriptedLM(answer, latency=latency)
    before = store_bytes(locator) if locator.startswith("postgres") else 0
    common.reset_peak_rss()
    run, wall, _ = common.timed(lambda: compiled.run(questions(items, salt), store=locator, lm=lm,
                                                     concurrency=concurrency, progress=False, executor=executor))
    assert run.status == "done" and run.stats.lm_calls == NODES * items, run
    return {"wall": wall, "nodes_per_s": NODES * items / wall, "peak_mb": common.peak_rss_mb(),
            "bytes_per_item": (store_bytes(locator) - before) / items}


def case(args: argparse.Namespace) -> dict[str, Any]:
    row, postgres = args.case, args.postgres
    locator = postgres if row.endswith("postgres") else str(Path(args.tmp) / f"{row}.db")
    if postgres and row.endswith("postgres") and type(open_store(postgres)).__name__ == "SQLiteStore":
        raise SystemExit("this plait has no PostgreSQL store: merge it first")
    ray = plait.RayExecutor(address=args.ray_address, workers=args.workers) if "ray" in row else None
    if ray is not None:
        ray.describe()  # the workers are up before the clock starts: a pool is started once, used for many runs
    if row.startswith("store"):
        return store_case(locator, args.items * (NODES + 1))
    if row.startswith("latency"):
        per_worker = args.in_flight // args.workers if ray else args.in_flight
        result = run_case(locator, args.latency_items, ray, args.latency, per_worker, f"{row} {Path(args.tmp).name}")
        ideal = CRITICAL_PATH * args.latency * args.latency_items / args.in_flight
        return {**result, "how": f"{args.latency_items:,} items, {args.latency:g} s/call, {args.in_flight} in flight",
                "ideal": ideal}
    result = run_case(locator, args.items, ray, 0.0, CONCURRENCY, f"{row} {Path(args.tmp).name}")
    return {**result, "how": f"{args.items:,} items x {NODES} nodes, concurrency {CONCURRENCY}"
                             + (f" per worker, {args.workers} workers" if ray else "")}


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| row | how | nodes/s | wall s | ideal s | wall / ideal | store B/item | driver peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row, r in results.items():
        if "skipped" in r:
            lines.append(f"| {row} | skipped: {r['skipped']} | | | | | | |")
            continue
        rate = r["nodes_per_s"] if not isinstance(r["nodes_per_s"], dict) else max(r["nodes_per_s"].values())
        wall, ideal = r.get("wall"), r.get("ideal")
        lines.append(f"| {row} | {r['how']} | {rate:,.0f} | {f'{wall:.2f}' if wall else ''} | "
                     f"{f'{ideal:.2f}' if ideal else ''} | {f'{wall / ideal:.2f}x' if ideal else ''} | "
                     f"{_number(r.get('bytes_per_item'), ',.0f')} | {_number(r.get('peak_mb'), '.0f')} |")
    return "\n".join(lines)


def _number(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--latency-items", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("PLAIT_BENCH_POSTGRES"))
    parser.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"))
    parser.add_argument("--rows", default=",".join(ROWS), help="a comma-separated subset of " + ", ".join(ROWS))
    parser.add_argument("--case", choices=ROWS, help=argparse.SUPPRESS)  # one row, in a child process
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        common.emit_result(case(args))
        return
    print(common.machine_line() + "\n")
    results = {}
    with tempfile.TemporaryDirectory(prefix="plait-bench-scale-") as tmp:
        for row in args.rows.split(","):
            if row.endswith("postgres") and not args.postgres:
                results[row] = {"skipped": "no --postgres URL"}
                continue
            forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                         if v is not None and k not in ("case", "tmp", "rows")]
            results[row] = common.run_case(SCRIPT, [*forwarded, f"--case={row}", f"--tmp={tmp}"])
    print(table(results))


if __name__ == "__main__":
    main()
