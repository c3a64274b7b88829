"""The cost of durability under faults: the same 1,000-item run with 0%, 10% and 30% injected
transient errors and a 100 ms LM latency.

The workload is bench_core.py's latency-bound case: five LM nodes per item (a -> b|c -> d -> e),
concurrency 64. The LM is ``plait.Faulty`` around a scripted LM: every call takes 100 ms, and a
failing call takes its 100 ms too before it raises a transient ``LMError``. Two retry policies:
the default ``plait.RetryPolicy()`` (full jitter below 1 s, 2 s, 4 s..., 6 attempts) and a fast one
(below 0.1 s, 0.2 s... up to 2 s, 10 attempts). With the SQLite store every failed attempt is
journaled before its backoff; the fast policy also runs without a store, to show what that costs.
Reported per run: wall time, LM calls (every attempt that reached the LM), failed attempts, and
calls per completed item. Wall times under faults are dominated by the slowest item's backoff.

Run it::

    .venv/bin/python bench/bench_faults.py            # the recorded table (about 3 minutes)
    .venv/bin/python bench/bench_faults.py --quick    # a smoke run on 100 items

Each case runs once, in a fresh child process (this script with ``--case``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` and `bench_core` when run as a script

import bench_core  # noqa: E402
import common  # noqa: E402

ITEMS = 1000
LATENCY = 0.1
CONCURRENCY = 64
ERROR_RATES = (0.0, 0.1, 0.3)
SEED = 7
POLICIES = {"default": {}, "fast": {"initial": 0.1, "maximum": 2.0, "max_attempts": 10}}
CASES = (("default", "SQLite"), ("fast", "SQLite"), ("fast", "none"))
SCRIPT = Path(__file__).resolve()


def case(opts: argparse.Namespace) -> dict[str, Any]:
    import plait

    lm = plait.Faulty(bench_core.scripted_lm(), error_rate=opts.error_rate, latency=LATENCY, seed=SEED)
    compiled, data = bench_core.plait_pipeline(), bench_core.questions(opts.items)
    store = bench_core.fresh_store(opts.db) if opts.db else False
    retry = plait.RetryPolicy(**POLICIES[opts.policy])
    run, wall, cpu = common.timed(lambda: compiled.run(data, store=store, lm=lm, concurrency=CONCURRENCY,
                                                       progress=False, seed=SEED, retry=retry))
    done = sum(r.status == "done" for r in run.items)
    return {"wall": wall, "cpu": cpu, "items": opts.items, "done": done, "calls": lm.calls,
            "failed_attempts": lm.injected["error"], "retries": run.stats.retries, "status": run.status}


def measure(items: int, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for policy, store in CASES:
        for rate in ERROR_RATES:
            args = ["--case", "--items", str(items), "--error-rate", str(rate), "--policy", policy]
            if store == "SQLite":
                args += ["--db", str(workdir / f"faults-{policy}-{rate}.db")]
            rows.append({"rate": rate, "policy": policy, "store": store, **common.run_case(SCRIPT, args)})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    base = {(r["policy"], r["store"]): r["wall"] for r in rows if r["rate"] == 0.0}
    headers = ["injected errors", "retry policy", "store", "wall s", "wall vs 0%", "LM calls", "failed attempts",
               "calls per completed item", "completed items"]
    body = [[f"{r['rate']:.0%}", r["policy"], r["store"], r["wall"],
             f"{r['wall'] / base[r['policy'], r['store']]:.2f}x", r["calls"], r["failed_attempts"],
             r["calls"] / max(1, r["done"]), f"{r['done']} / {r['items']}"] for r in rows]
    return common.markdown_table(headers, body)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.case:
        common.emit_result(case(opts))
        return
    items = 100 if opts.quick else ITEMS
    machine = common.machine_line()
    workdir = Path(tempfile.mkdtemp(prefix="plait-bench-faults-"))
    try:
        rows = measure(items, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"## Durability under faults\n\n{machine}\n")
    print(f"{items:,} items x 5 LM nodes, LM latency {LATENCY * 1000:.0f} ms, concurrency {CONCURRENCY}, "
          f"transient errors injected by plait.Faulty (seed {SEED}); retry policies: default RetryPolicy(), "
          f"fast RetryPolicy(initial=0.1, maximum=2, max_attempts=10); one run per row.\n")
    print(table(rows))
    for r in rows:
        if r["done"] != r["items"]:
            print(f"\nNOTE: {r['items'] - r['done']} items failed at {r['rate']:.0%} errors ({r['policy']} policy, "
                  f"{r['store']} store): every attempt of one of their nodes failed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on 100 items")
    child = parser.add_argument_group("one measurement (used by the parent process)")
    child.add_argument("--case", action="store_true")
    child.add_argument("--items", type=int, default=ITEMS)
    child.add_argument("--error-rate", type=float, default=0.0)
    child.add_argument("--policy", choices=sorted(POLICIES), default="default")
    child.add_argument("--db", help="the SQLite store file (none: store=False)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
