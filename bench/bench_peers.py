"""Issue 17: plait beside DSPy, LangGraph and DBOS on one workload, in one command.

The workload (bench/peer_workload.py): five fake-LM nodes per item, a -> b|c -> d -> e, every
item distinct, each node's answer a hash of its inputs, so the checksum over the final answers
proves every node ran on the right values; every row's LM call count is checked too. Rows run
interleaved by round, each repeat in a fresh child process: plait and DSPy in this interpreter,
LangGraph and DBOS in their own venvs (bench/peers.py installs them on first use).

    .venv/bin/python bench/bench_peers.py                       # peers at zero latency and 100 ms
    .venv/bin/python bench/bench_peers.py --tables memory,demo  # 100,000 items' peak RSS; the demo by phase
    .venv/bin/python bench/bench_peers.py --quick               # a smoke run: few items, one repeat
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` when run as a script

import bench_core  # noqa: E402
import common  # noqa: E402
import peer_workload as work  # noqa: E402
import peers  # noqa: E402

ITEMS, LATENCY_ITEMS, MEMORY_ITEMS = 2000, 1000, 100_000
LATENCY, CONCURRENCY, REPEATS, LONG_RUN = 0.1, 64, 3, 10.0
NODES_PER_ITEM, CRITICAL_PATH = 5, 4
SCRIPT = Path(__file__).resolve()
TABLES = ("peers", "latency", "memory", "demo")


# --- the cases run in this interpreter: plait and DSPy -----------------------------------------
def plait_pipeline():
    return bench_core.plait_pipeline(work.SIGNATURES)


def plait_store(opts: argparse.Namespace) -> Any:
    """False, or a fresh SQLite store with the row's durability ("process" is plait's default)."""
    import plait

    if not opts.db:
        return False
    for suffix in ("", "-wal", "-shm"):
        Path(f"{opts.db}{suffix}").unlink(missing_ok=True)
    return plait.SQLiteStore(opts.db, durability=opts.durability)


def case_plait(opts: argparse.Namespace) -> dict[str, Any]:
    from workload_lms import WorkloadLM

    compiled, lm, data = plait_pipeline(), WorkloadLM(opts.latency), work.questions(opts.items)
    compiled.run(work.questions(2), store=False, lm=WorkloadLM(), progress=False)  # warm the adapter caches
    store = plait_store(opts)
    base = common.mark_rss()
    run, wall, cpu = common.timed(lambda: compiled.run(data, store=store, lm=lm, concurrency=opts.concurrency,
                                                      progress=False))
    return plait_result(run, lm, wall, cpu, base, opts.db)


def case_plait_replay(opts: argparse.Namespace) -> dict[str, Any]:
    """Run once (untimed), then resume the finished run from a fresh process's view: 0 LM calls."""
    import plait
    from workload_lms import WorkloadLM

    first = plait_pipeline().run(work.questions(opts.items), store=plait_store(opts), lm=WorkloadLM(),
                                 concurrency=opts.concurrency, progress=False)
    lm = WorkloadLM()
    base = common.mark_rss()
    run, wall, cpu = common.timed(lambda: plait.resume(first.id, store=opts.db, lm=lm, concurrency=opts.concurrency,
                                                      progress=False))
    return plait_result(run, lm, wall, cpu, base, None)


def plait_result(run, lm, wall: float, cpu: float, base: float, db: str | None) -> dict[str, Any]:
    answers = [getattr(o, "answer", "") if o is not None else "" for o in run.outputs]
    return {"wall": wall, "cpu": cpu, "items": len(run.items), "done": sum(r.status == "done" for r in run.items),
            "lm_calls": lm.calls, "checksum": work.checksum(answers), "rss_base_mb": base,
            "rss_peak_mb": common.peak_rss_mb(), "store_bytes": common.sqlite_store_bytes(db) if db else None}


def case_dspy(opts: argparse.Namespace) -> dict[str, Any]:
    import dspy
    from core_dspy import dspy_program
    from workload_lms import WorkloadReplies

    program = dspy_program(work.SIGNATURES, opts.latency, replies=WorkloadReplies)
    program(question="warm-up")
    WorkloadReplies.calls = 0
    data = [dspy.Example(**q).with_inputs("question") for q in work.questions(opts.items)]
    base = common.mark_rss()
    if opts.latency:
        outputs, wall, cpu = common.timed(lambda: program.batch(data, num_threads=opts.concurrency,
                                                               disable_progress_bar=True, provide_traceback=True))
    else:
        outputs, wall, cpu = common.timed(lambda: [program(**q.inputs()) for q in data])
    answers = [getattr(o, "answer", "") if o is not None else "" for o in outputs]
    return {"wall": wall, "cpu": cpu, "items": opts.items, "done": sum(bool(a) for a in answers),
            "lm_calls": WorkloadReplies.calls, "checksum": work.checksum(answers), "rss_base_mb": base,
            "rss_peak_mb": common.peak_rss_mb(), "store_bytes": None}


CASES = {"plait": case_plait, "plait-replay": case_plait_replay, "dspy": case_dspy}


# --- the rows ----------------------------------------------------------------------------------
def child(case: str, items: int, **extra: Any) -> list[str]:
    args = ["--case", case, "--items", str(items)] if case else ["--items", str(items)]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def peer_case(label: str, how: str, peer: str, items: int, db: Path | None, **extra: Any) -> common.Case:
    """A row run by a peer's own script in its own venv; each repeat gets a fresh store file."""
    def args(i: int) -> list[str]:
        store = {"db": db.with_name(f"{db.stem}-{i}{db.suffix}")} if db else {}
        return child("", items, **store, **extra)

    return common.Case(label, how, args, script=SCRIPT.with_name(f"peer_{peer}.py"), python=peers.peer_python(peer))


def plait_case(label: str, how: str, items: int, db: Path | None, durability: str = "process",
               **extra: Any) -> common.Case:
    def args(i: int) -> list[str]:
        store = {"db": db.with_name(f"{db.stem}-{i}.db"), "durability": durability} if db else {}
        return child("plait", items, **{"concurrency": CONCURRENCY, **store, **extra})

    return common.Case(label, how, args)


def peer_rows(items: int, workdir: Path) -> list[common.Case]:
    return [
        plait_case("plait, SQLite (default)", 'durability="process"', items, workdir / "plait.db"),
        plait_case("plait, SQLite, fsync per commit", 'durability="power"', items, workdir / "power.db", "power"),
        plait_case("plait, no store", "store=False", items, None),
        common.Case("plait, replay of a finished run", "resume: 0 LM calls", lambda i: child(
            "plait-replay", items, concurrency=CONCURRENCY, db=workdir / f"replay-{i}.db")),
        common.Case("DSPy 3.4, ChatAdapter", "plain loop, BaseLM.forward", lambda i: child("dspy", items)),
        peer_case("LangGraph, no checkpointer", "plain loop of invoke", "langgraph", items, None),
        peer_case("LangGraph + SqliteSaver", 'sync saver, durability="async", WAL, synchronous=FULL', "langgraph", items,
                  workdir / "langgraph.sqlite"),
        peer_case("DBOS + SQLite", "workflow + 5 steps, synchronous=FULL", "dbos", items, workdir / "dbos.sqlite"),
    ]


def latency_rows(items: int, workdir: Path) -> list[common.Case]:
    slow = {"latency": LATENCY, "concurrency": CONCURRENCY}
    return [
        plait_case("plait, SQLite (default)", f"{CONCURRENCY} items in flight", items, workdir / "lat.db", **slow),
        plait_case("plait, SQLite, fsync per commit", f"{CONCURRENCY} items in flight", items, workdir / "latp.db",
                   "power", **slow),
        plait_case("plait, no store", f"{CONCURRENCY} items in flight", items, None, **slow),
        common.Case("DSPy 3.4, ChatAdapter", f"Module.batch, {CONCURRENCY} threads, b and c in turn",
                    lambda i: child("dspy", items, **slow)),
        peer_case("LangGraph, no checkpointer", f"batch, max_concurrency {CONCURRENCY}", "langgraph", items, None, **slow),
        peer_case("LangGraph + SqliteSaver", f"batch, max_concurrency {CONCURRENCY}", "langgraph", items,
                  workdir / "lat-langgraph.sqlite", **slow),
        peer_case("DBOS + SQLite", f"{CONCURRENCY} threads, b and c in turn", "dbos", items,
                  workdir / "lat-dbos.sqlite", **slow),
    ]


# --- the tables --------------------------------------------------------------------------------
def rate(case: common.Case) -> float:
    return case.results[0]["items"] * NODES_PER_ITEM / common.median_of(case.results, "wall")


def peers_table(cases: list[common.Case]) -> str:
    dspy = next(rate(c) for c in cases if c.label.startswith("DSPy"))
    plait = rate(cases[0])
    headers = ["peer", "how", "node execs/s", "vs DSPy", "vs plait", "wall s", "CPU s", "store / item",
               "peak RSS MB"]
    body = []
    for case in cases:
        store, items = common.median_of(case.results, "store_bytes"), case.results[0]["items"]
        body.append([case.label, case.how, rate(case), f"{rate(case) / dspy:.2f}x", f"{rate(case) / plait:.2f}x",
                     common.median_of(case.results, "wall"), common.median_of(case.results, "cpu"),
                     f"{store / items / 1000:.1f} KB" if store else None, common.median_of(case.results, "rss_peak_mb")])
    return common.markdown_table(headers, body)


def latency_table(cases: list[common.Case], items: int) -> str:
    ideal = CRITICAL_PATH * LATENCY * items / CONCURRENCY
    headers = ["peer", "how", "wall s", "ideal s", "wall / ideal", "store / item", "repeats"]
    body = []
    for case in cases:
        wall, store = common.median_of(case.results, "wall"), common.median_of(case.results, "store_bytes")
        body.append([case.label, case.how, wall, ideal, f"{wall / ideal:.2f}x",
                     f"{store / items / 1000:.1f} KB" if store else None, len(case.results)])
    return common.markdown_table(headers, body)


def problems(cases: list[common.Case], distinct: bool = False) -> list[str]:
    """Runs that did not do the work: unfinished items, missing or extra LM calls, a wrong checksum.
    ``distinct``: plait asks a question once however many items ask it (peer_workload.distinct_calls)."""
    found = []
    for case in cases:
        for r in case.results:
            per_item = work.distinct_calls(r["items"]) if distinct else r["items"] * NODES_PER_ITEM
            calls = 0 if "replay" in case.label else per_item
            if r["done"] != r["items"]:
                found.append(f"{case.label}: {r['items'] - r['done']} of {r['items']} items did not finish")
            if r["lm_calls"] != calls:
                found.append(f"{case.label}: {r['lm_calls']} LM calls, expected {calls}")
            if r["checksum"] != work.expected_checksum(r["items"]):
                found.append(f"{case.label}: checksum {r['checksum']} is not the workload's; some node's output is wrong")
    return found


def print_problems(cases: list[common.Case]) -> None:
    for problem in problems(cases):
        print(f"WARNING: {problem}")


def memory_report(items: int, workdir: Path) -> str:
    """plait alone, durable, zero latency: the driver process's peak RSS over ``items`` items."""
    r = common.run_case(SCRIPT, child("plait", items, concurrency=CONCURRENCY, db=workdir / "memory.db"))
    table = common.markdown_table(
        ["items", "node execs/s", "wall s", "RSS before run MB", "peak RSS MB", "growth MB", "store / item"],
        [[items, items * NODES_PER_ITEM / r["wall"], r["wall"], r["rss_base_mb"], r["rss_peak_mb"],
          r["rss_peak_mb"] - r["rss_base_mb"], f"{r['store_bytes'] / items / 1000:.1f} KB"]])
    note = "\n".join(f"WARNING: {p}" for p in problems([common.Case("plait, memory", "", lambda i: [], [r])], distinct=True))
    return f"Peak memory: plait, SQLite (default), {items:,} items x {NODES_PER_ITEM} nodes, zero latency.\n\n{table}\n{note}"


def demo_report(quick: bool) -> str:
    """bench_demo.py's table of the main job's phases (a child process; the embedded model)."""
    proc = subprocess.run([sys.executable, str(SCRIPT.with_name("bench_demo.py")), *(["--quick"] if quick else [])],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"bench_demo.py failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip()


# --- the parent ----------------------------------------------------------------------------------
def machine() -> str:
    versions = ", ".join(peers.installed_versions(p) for p in peers.PINS)
    return f"{common.machine_line()}, {versions}"


def run_tables(opts: argparse.Namespace, workdir: Path) -> None:
    items, latency_items, memory_items, repeats = (
        (20, 64, 2000, 1) if opts.quick else (opts.items, opts.latency_items, opts.memory_items, REPEATS))
    print(f"## Peers (issue 17)\n\n{machine()}\n")
    if "peers" in opts.tables:
        rows = peer_rows(items, workdir)
        common.run_interleaved(SCRIPT, rows, repeats)
        print(f"{items:,} items x {NODES_PER_ITEM} fake-LM nodes (a -> b|c -> d -> e), zero latency; "
              f"median of {repeats} interleaved repeats.\n\n{peers_table(rows)}\n")
        print_problems(rows)
    if "latency" in opts.tables:
        rows = latency_rows(latency_items, workdir)
        common.run_interleaved(SCRIPT, rows, repeats, long_run=LONG_RUN)
        print(f"{latency_items:,} items, LM latency {LATENCY} s, {CONCURRENCY} in flight; ideal = critical path "
              f"{CRITICAL_PATH} x {LATENCY} s x items / {CONCURRENCY}.\n\n{latency_table(rows, latency_items)}\n")
        print_problems(rows)
    if "memory" in opts.tables:
        print(memory_report(memory_items, workdir) + "\n")
    if "demo" in opts.tables:
        print(demo_report(opts.quick))


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.case:
        common.emit_result(CASES[opts.case](opts))
        return
    workdir = Path(tempfile.mkdtemp(prefix="plait-bench-peers-"))
    try:
        run_tables(opts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 items (64 at 100 ms), one repeat")
    parser.add_argument("--tables", type=lambda s: s.split(","), default=["peers", "latency"],
                        help=f"which to run, comma-separated: {', '.join(TABLES)} (default: peers,latency)")
    parser.add_argument("--latency-items", type=int, default=LATENCY_ITEMS)
    parser.add_argument("--memory-items", type=int, default=MEMORY_ITEMS)
    child = parser.add_argument_group("one measurement (used by the parent process)")
    child.add_argument("--case", choices=sorted(CASES))
    child.add_argument("--items", type=int, default=ITEMS)
    child.add_argument("--db", help="the SQLite store file (made fresh)")
    child.add_argument("--durability", choices=["process", "power"], default="process")
    child.add_argument("--concurrency", type=int, default=CONCURRENCY)
    child.add_argument("--latency", type=float, default=0.0)
    opts = parser.parse_args(argv)
    if unknown := set(opts.tables) - set(TABLES):
        parser.error(f"unknown table {', '.join(sorted(unknown))}; choose from {', '.join(TABLES)}")
    return opts


if __name__ == "__main__":
    main()
