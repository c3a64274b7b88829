"""Issue 2: the core executor's per-node overhead, replay speed, store size, latency-bound wall
time and peak memory, next to DSPy 3.4 itself on the same workload.

The workload: five LM nodes per item with two parallel branches,

    a(question) -> x;  b(x) -> y  and  c(x) -> z  in parallel;  d(y, z) -> w;  e(w) -> answer

so the critical path is 4 LM calls. Every item has a distinct question and the fake LMs answer
from their inputs, so no node's content key repeats across items (no cache hits). The fake LMs
reply in DSPy's ChatAdapter text format with zero latency, and both frameworks format the prompt
and parse the reply with that adapter, so the numbers are each framework's own overhead per node.

Run it::

    .venv/bin/python bench/bench_core.py            # the recorded table (about 3 minutes)
    .venv/bin/python bench/bench_core.py --quick     # a smoke run on few items

Each measurement runs in a fresh child process (this script with ``--case``), so peak RSS is the
case's own, and is the median of 3 repeats (1 when a run takes longer than 10 s).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` when run as a script

import common  # noqa: E402
from core_dspy import dspy_program, tag  # noqa: E402

ITEMS = 2000
LATENCY_ITEMS = 1000
LATENCY = 0.1  # seconds per LM call in the latency-bound case
CONCURRENCY = 64
NODES_PER_ITEM = 5
CRITICAL_PATH = 4  # a -> b|c -> d -> e
REPEATS = 3
LONG_RUN = 10.0  # a run longer than this is measured once
DSPY_THREADS = 2  # as many as the cores of the reference machine

SIGNATURES = {"a": "question -> x", "b": "x -> y", "c": "x -> z", "d": "y, z -> w", "e": "w -> answer"}
PROFILE_PATH = common.BENCH_DIR / "profile_core.txt"
SCRIPT = Path(__file__).resolve()


def questions(n: int) -> list[dict[str, str]]:
    return [{"question": f"Question {i}: what is {i} times {i + 7}?"} for i in range(n)]


# --- plait ------------------------------------------------------------------------------------
def plait_pipeline(signatures: dict[str, str] = SIGNATURES):
    """The workload as a plait pipeline (bench_peers.py builds it from its own signatures)."""
    import plait

    class Fanout(plait.Module):
        def __init__(self):
            for name, signature in signatures.items():
                setattr(self, name, plait.Predict(signature))

        def forward(self, question: str):
            x = self.a(question=question).x
            y = self.b(x=x).y
            z = self.c(x=x).z
            w = self.d(y=y, z=z).w
            return self.e(w=w)

    return plait.compile(Fanout())


def scripted_lm(latency: float = 0.0):
    import plait

    def answer(task) -> dict[str, str]:
        stamp = tag("|".join(map(str, task.inputs.values())))
        return {name: f"{name} {stamp}" for name in task.output_fields}

    return plait.ScriptedLM(answer, latency=latency)


def plait_run(opts: argparse.Namespace, store: Any, items: int, latency: float = 0.0) -> dict[str, Any]:
    compiled, lm, data = plait_pipeline(), scripted_lm(latency), questions(items)
    compiled.run(questions(2), store=False, lm=scripted_lm(), progress=False)  # warm the adapter caches
    base = common.mark_rss()
    run, wall, cpu = measure(opts, lambda: compiled.run(data, store=store, lm=lm, concurrency=opts.concurrency,
                                                       progress=False))
    return _plait_result(run, wall, cpu, items, base)


def _plait_result(run, wall: float, cpu: float, items: int, base_rss: float) -> dict[str, Any]:
    done = sum(r.status == "done" for r in run.items)
    return {"wall": wall, "cpu": cpu, "items": items, "done": done, "lm_calls": run.stats.lm_calls,
            "reused": run.stats.reused, "run_id": run.id, "rss_base_mb": base_rss, "rss_peak_mb": common.peak_rss_mb()}


def fresh_store(path: str) -> str:
    """A new, empty store file: a leftover one would turn the run into cache hits."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def case_plait_durable(opts: argparse.Namespace) -> dict[str, Any]:
    result = plait_run(opts, fresh_store(opts.db), opts.items)
    result["store_bytes"] = common.sqlite_store_bytes(opts.db)
    return result


def case_plait_no_store(opts: argparse.Namespace) -> dict[str, Any]:
    return plait_run(opts, False, opts.items)


def case_plait_replay(opts: argparse.Namespace) -> dict[str, Any]:
    import plait

    lm = scripted_lm()
    base = common.mark_rss()
    run, wall, cpu = measure(opts, lambda: plait.resume(opts.run_id, store=opts.db, lm=lm,
                                                       concurrency=opts.concurrency, progress=False))
    assert lm.calls == 0, "a replay of a finished run must not call the LM"
    return _plait_result(run, wall, cpu, len(run.items), base)


def case_plait_latency(opts: argparse.Namespace) -> dict[str, Any]:
    store = fresh_store(opts.db) if opts.db else False
    return plait_run(opts, store, opts.items, latency=opts.latency)


# --- DSPy -------------------------------------------------------------------------------------
def dspy_examples(n: int) -> list:
    import dspy

    return [dspy.Example(**q).with_inputs("question") for q in questions(n)]


def _dspy_result(outputs: list, wall: float, cpu: float, base_rss: float) -> dict[str, Any]:
    done = sum(o is not None and bool(getattr(o, "answer", "")) for o in outputs)
    return {"wall": wall, "cpu": cpu, "items": len(outputs), "done": done, "lm_calls": None,
            "rss_base_mb": base_rss, "rss_peak_mb": common.peak_rss_mb()}


def case_dspy_loop(opts: argparse.Namespace) -> dict[str, Any]:
    program, data = dspy_program(SIGNATURES, flavour=opts.flavour), questions(opts.items)
    program(question="warm-up")
    base = common.mark_rss()
    outputs, wall, cpu = measure(opts, lambda: [program(**q) for q in data])
    return _dspy_result(outputs, wall, cpu, base)


def case_dspy_batch(opts: argparse.Namespace) -> dict[str, Any]:
    program, data = dspy_program(SIGNATURES, opts.latency, opts.flavour), dspy_examples(opts.items)
    program(question="warm-up")
    base = common.mark_rss()
    outputs, wall, cpu = measure(opts, lambda: program.batch(data, num_threads=opts.threads,
                                                            disable_progress_bar=True, provide_traceback=True))
    return _dspy_result(outputs, wall, cpu, base)


CASES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "plait-durable": case_plait_durable,
    "plait-no-store": case_plait_no_store,
    "plait-replay": case_plait_replay,
    "plait-latency": case_plait_latency,
    "dspy-loop": case_dspy_loop,
    "dspy-batch": case_dspy_batch,
}


def measure(opts: argparse.Namespace, fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """common.timed(fn); when the case is profiled, the profiler sees the timed run and nothing else."""
    profiler = getattr(opts, "profiler", None)
    return common.timed(fn if profiler is None else lambda: profiler.runcall(fn))


def run_child(opts: argparse.Namespace) -> None:
    """One measurement in this process; with --profile, also a cProfile summary of the timed run."""
    opts.profiler = cProfile.Profile() if opts.profile else None
    result = CASES[opts.case](opts)
    if opts.profiler is not None:
        write_profile(opts.profiler, Path(opts.profile), opts)
    common.emit_result(result)


def write_profile(profiler: cProfile.Profile, path: Path, opts: argparse.Namespace) -> None:
    title = f"cProfile of the timed run of `bench_core.py --case {opts.case}`: {opts.items} items, " \
            f"concurrency {opts.concurrency}."
    path.write_text(common.profile_summary(profiler, title, top=15))


# --- the parent: measure every case, print the tables -----------------------------------------
def child_args(case: str, items: int, **extra: Any) -> list[str]:
    args = ["--case", case, "--items", str(items)]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def overhead_cases(items: int, workdir: Path) -> list[common.Case]:
    """The zero-latency rows. Each durable repeat writes a fresh file; the replays resume the
    run of the first one, which runs before them."""
    durable = common.Case("plait, SQLite store", f"concurrency {CONCURRENCY}", lambda i: child_args(
        "plait-durable", items, db=workdir / f"durable-{i}.db", concurrency=CONCURRENCY))
    replay = common.Case("plait, replay (resume a finished run)", "0 LM calls", lambda i: child_args(
        "plait-replay", items, db=workdir / "durable-0.db", run_id=durable.results[0]["run_id"],
        concurrency=CONCURRENCY))
    return [
        durable,
        common.Case("plait, no store", f"concurrency {CONCURRENCY}, store=False",
                    lambda i: child_args("plait-no-store", items, concurrency=CONCURRENCY)),
        replay,
        common.Case("DSPy 3.4, plain loop", "BaseLM.forward fake LM", lambda i: child_args("dspy-loop", items)),
        common.Case("DSPy 3.4, plain loop", "dspy.LM(engine=...) fake LM",
                    lambda i: child_args("dspy-loop", items, flavour="engine")),
        common.Case("DSPy 3.4, Module.batch", f"{DSPY_THREADS} threads, BaseLM.forward fake LM",
                    lambda i: child_args("dspy-batch", items, threads=DSPY_THREADS)),
    ]


def latency_cases(items: int, workdir: Path) -> list[common.Case]:
    plait_args = child_args("plait-latency", items, db=workdir / "latency.db", latency=LATENCY, concurrency=CONCURRENCY)
    no_store_args = child_args("plait-latency", items, latency=LATENCY, concurrency=CONCURRENCY)
    dspy_args = child_args("dspy-batch", items, latency=LATENCY, threads=CONCURRENCY)
    return [
        common.Case("plait, SQLite store", f"concurrency {CONCURRENCY} (items in flight)", lambda i: plait_args),
        common.Case("plait, no store", f"concurrency {CONCURRENCY}, store=False", lambda i: no_store_args),
        common.Case("DSPy 3.4, Module.batch", f"{CONCURRENCY} threads, b and c in turn", lambda i: dspy_args),
    ]


def overhead_table(cases: list[common.Case]) -> str:
    headers = ["run", "how", "node executions/s", "min-max", "wall s", "CPU s", "store bytes/item", "peak RSS MB",
               "RSS before run MB"]
    body = []
    for case in cases:
        results, items = case.results, case.results[0]["items"]
        wall, store = common.median_of(results, "wall"), common.median_of(results, "store_bytes")
        rates = [items * NODES_PER_ITEM / r["wall"] for r in results]
        body.append([case.label, case.how, items * NODES_PER_ITEM / wall, f"{min(rates):,.0f}-{max(rates):,.0f}",
                     wall, common.median_of(results, "cpu"), round(store / items) if store else None,
                     common.median_of(results, "rss_peak_mb"), common.median_of(results, "rss_base_mb")])
    return common.markdown_table(headers, body)


def latency_table(cases: list[common.Case], items: int) -> str:
    ideal = CRITICAL_PATH * LATENCY * items / CONCURRENCY
    headers = ["run", "how", "wall s", "ideal s", "wall / ideal", "repeats"]
    body = []
    for case in cases:
        wall = common.median_of(case.results, "wall")
        body.append([case.label, case.how, wall, ideal, f"{wall / ideal:.2f}x", len(case.results)])
    return common.markdown_table(headers, body)


def check_results(cases: list[common.Case]) -> list[str]:
    """Problems with the runs themselves (not their speed): unfinished items, calls saved by reuse."""
    problems = []
    for case in cases:
        computed = case.label.startswith("plait") and "replay" not in case.label
        for r in case.results:
            if r["done"] != r["items"]:
                problems.append(f"{case.label}: {r['items'] - r['done']} of {r['items']} items did not finish")
            if computed and (r["reused"] or r["lm_calls"] != r["items"] * NODES_PER_ITEM):
                problems.append(f"{case.label}: {r['lm_calls']} LM calls and {r['reused']} reused results for "
                                f"{r['items']} items; every node must call the LM (are the inputs distinct?)")
    return problems


def print_report(machine: str, overhead: list[common.Case], latency: list[common.Case], items: int,
                 latency_items: int) -> None:
    print(f"## Core executor (issue 2)\n\n{machine}\n")
    print(f"{items:,} items x {NODES_PER_ITEM} LM nodes (a -> b|c -> d -> e), zero-latency fake LM through "
          f"DSPy's ChatAdapter; median (and range) of {len(overhead[0].results)} interleaved repeats.\n")
    print(overhead_table(overhead))
    print(f"\nLatency-bound: {latency_items:,} items, LM latency {LATENCY} s; ideal = critical path "
          f"{CRITICAL_PATH} x {LATENCY} s x {latency_items:,} items / {CONCURRENCY}.\n")
    print(latency_table(latency, latency_items))
    print(f"\n{floors_note(latency_items)}")
    for problem in check_results(overhead + latency):
        print(f"WARNING: {problem}")


def floors_note(items: int) -> str:
    """The best wall times when items go through in waves of CONCURRENCY, as the issue counts them."""
    ideal, waves = CRITICAL_PATH * LATENCY * items / CONCURRENCY, math.ceil(items / CONCURRENCY)
    plait_floor, dspy_floor = waves * CRITICAL_PATH * LATENCY, waves * NODES_PER_ITEM * LATENCY
    return (f"In waves of {CONCURRENCY} items the floor is {waves} x {CRITICAL_PATH} x {LATENCY} s = "
            f"{plait_floor:.2f} s ({plait_floor / ideal:.2f}x). DSPy runs b and c one after the other (critical path {NODES_PER_ITEM}): "
            f"its floor is {waves} x {NODES_PER_ITEM} x {LATENCY} s = {dspy_floor:.2f} s ({dspy_floor / ideal:.2f}x).")


def profile_durable(items: int, workdir: Path) -> None:
    common.run_case(SCRIPT, child_args("plait-durable", items, db=workdir / "profile.db", concurrency=CONCURRENCY,
                                       profile=PROFILE_PATH))
    print(f"\ncProfile summary of the durable run: {PROFILE_PATH.relative_to(common.BENCH_DIR.parent)}")


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.case:
        run_child(opts)
        return
    items, latency_items, repeats = (200, 128, 1) if opts.quick else (ITEMS, LATENCY_ITEMS, REPEATS)
    machine = common.machine_line()  # before we load the machine ourselves
    workdir = Path(tempfile.mkdtemp(prefix="plait-bench-"))
    try:
        overhead, latency = overhead_cases(items, workdir), latency_cases(latency_items, workdir)
        common.run_interleaved(SCRIPT, overhead, repeats)
        common.run_interleaved(SCRIPT, latency, repeats, long_run=LONG_RUN)
        print_report(machine, overhead, latency, items, latency_items)
        if not opts.quick and not opts.no_profile:
            profile_durable(items, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few items, one repeat, no profile")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    child = parser.add_argument_group("one measurement (used by the parent process)")
    child.add_argument("--case", choices=sorted(CASES))
    child.add_argument("--items", type=int, default=ITEMS)
    child.add_argument("--db", help="the SQLite store file")
    child.add_argument("--run-id", help="the run to replay")
    child.add_argument("--concurrency", type=int, default=CONCURRENCY)
    child.add_argument("--threads", type=int, default=DSPY_THREADS)
    child.add_argument("--latency", type=float, default=0.0)
    child.add_argument("--flavour", choices=["forward", "engine"], default="forward",
                       help="how DSPy's fake LM plugs in")
    child.add_argument("--profile", help="write a cProfile summary of the case to this file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
