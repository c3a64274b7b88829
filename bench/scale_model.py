"""How far one store and N workers go: wall time of a distributed run against the number of workers,
from the store's measured throughput (recorded nodes per second) and the LM's latency.

The model (docs/scale.md explains it): a run keeps ``workers x in_flight`` items open; an item is
a chain of stages (the critical path; a stage's nodes run in parallel), each node one LM call of
1-10 s followed by one record in the store; every item also records its output. Three ceilings
on items per second, and the run goes at the lowest:

    LM-bound      X_lm    = workers x in_flight / (LM seconds along the critical path)
    store-bound   X_store = store rate / records per item
    rate-bound    X_rate  = provider requests per second / LM calls per item   (when given)

Between the first two, mean value analysis of the closed network (open items cycling between the
LM, where each waits its own calls, and the store, which commits one record after another) gives
the throughput with the store's queueing. ``--simulate`` runs the same system event by event
(heapq) on fewer items, to check the model.

Usage::

    python bench/scale_model.py                               # 1M items, 1-100+ workers, the table
    python bench/scale_model.py --store-rate 3000 --store-rate 20000 --in-flight 64
    python bench/scale_model.py --items 50 --simulate 50      # a smoke run (the tests run this)
"""

from __future__ import annotations

import argparse
import heapq
import random
from dataclasses import dataclass

# The bench_core workload: a -> b|c -> d -> e, and the item's output record.
STAGES = (1, 2, 1, 1)
# Recorded nodes per second of one SQLite store, one process, executor included (bench/README.md,
# "plait, SQLite store": 3,016 node executions/s). PostgreSQL: to be measured by
# `bench/bench_scale.py --postgres URL` (the store-postgres row) and entered with --store-rate.
SQLITE_RATE = 3016.0


@dataclass(frozen=True)
class System:
    items: int
    workers: int
    in_flight: int  # items open per worker (the run's concurrency)
    latency: tuple[float, float]  # an LM call's seconds, uniform between the two
    store_rate: float  # recorded nodes per second the store sustains
    requests_per_second: float | None = None  # the provider's rate limit, for the whole run

    @property
    def records_per_item(self) -> int:
        return sum(STAGES) + 1

    @property
    def calls_per_item(self) -> int:
        return sum(STAGES)


def lm_time(s: System) -> float:
    """An item's seconds in LM calls along its critical path: per stage, the slowest of its calls
    (the mean of the largest of k uniform draws is lo + (hi - lo) k / (k + 1))."""
    lo, hi = s.latency
    return sum(lo + (hi - lo) * k / (k + 1) for k in STAGES)


def predicted(s: System) -> dict[str, float]:
    """Items per second, wall seconds and the store's load. The open items cycle between the LM
    (a delay: every item waits its own calls) and the store (a queue: one commit after another);
    mean value analysis gives the throughput of that closed network exactly for its averages."""
    z, demand = lm_time(s), s.records_per_item / s.store_rate
    open_items = min(s.items, s.workers * s.in_flight)
    rate, queue = 0.0, 0.0
    for n in range(1, open_items + 1):
        response = demand * (1 + queue)  # the store's time per item: its own records and the queue ahead
        rate = n / (z + response)
        queue = rate * response
    bound = "store" if rate * demand > 0.9 else "LM latency"
    if s.requests_per_second and s.requests_per_second / s.calls_per_item < rate:
        rate, bound = s.requests_per_second / s.calls_per_item, "rate limit"
    # the last items drain for about one item's time after the others are done
    return {"items_per_s": rate, "wall_s": s.items / rate + z, "store_load": rate * demand, "bound": bound}


def simulate(s: System, seed: int = 0) -> dict[str, float]:
    """The same system event by event: item slots, LM calls, one FIFO store."""
    rng, clock, store_free = random.Random(seed), [0.0], [0.0]
    events: list[tuple[float, int, str, int, int]] = []  # (time, seq, kind, item, stage)
    seq, waiting, started, done = 0, {}, 0, 0

    def push(at: float, kind: str, item: int, stage: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, item, stage))

    def record(at: float) -> float:  # one commit after another
        store_free[0] = max(store_free[0], at) + 1.0 / s.store_rate
        return store_free[0]

    def start_stage(at: float, item: int, stage: int) -> None:
        if stage == len(STAGES):
            push(record(at), "finished", item, stage)
            return
        waiting[item] = STAGES[stage]
        for _ in range(STAGES[stage]):
            push(at + rng.uniform(*s.latency), "answered", item, stage)

    for _ in range(min(s.items, s.workers * s.in_flight)):
        start_stage(0.0, started, 0)
        started += 1
    while events:
        at, _, kind, item, stage = heapq.heappop(events)
        clock[0] = at
        if kind == "answered":
            push(record(at), "recorded", item, stage)
        elif kind == "recorded":
            waiting[item] -= 1
            if waiting[item] == 0:
                start_stage(at, item, stage + 1)
        else:
            done += 1
            if started < s.items:
                start_stage(at, started, 0)
                started += 1
    return {"items_per_s": s.items / clock[0], "wall_s": clock[0]}


def table(args: argparse.Namespace) -> str:
    rows = ["| store rate (nodes/s) | workers | in flight | bound | items/s | wall | store load |",
            "|---:|---:|---:|---|---:|---:|---:|"]
    for rate in args.store_rate or [SQLITE_RATE]:
        for workers in args.workers:
            s = System(args.items, workers, args.in_flight, tuple(args.latency), rate, args.requests_per_second)
            p = predicted(s)
            rows.append(f"| {rate:,.0f} | {workers} | {workers * args.in_flight:,} | {p['bound']} | "
                        f"{p['items_per_s']:,.1f} | {_duration(p['wall_s'])} | {p['store_load']:.0%} |")
    return "\n".join(rows)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def check(args: argparse.Namespace) -> str:
    """Model and simulation side by side, on ``--simulate`` items."""
    rows = ["| store rate | workers | in flight | model wall | simulated wall | model store load |",
            "|---:|---:|---:|---:|---:|---:|"]
    for rate in args.store_rate or [SQLITE_RATE]:
        for workers in args.workers:
            s = System(args.simulate, workers, args.in_flight, tuple(args.latency), rate, None)
            model, sim = predicted(s), simulate(s)
            rows.append(f"| {rate:,.0f} | {workers} | {workers * args.in_flight:,} | {_duration(model['wall_s'])} | "
                        f"{_duration(sim['wall_s'])} | {model['store_load']:.0%} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10, 50, 100, 200, 500])
    parser.add_argument("--in-flight", type=int, default=32, help="items open per worker (concurrency)")
    parser.add_argument("--latency", type=float, nargs=2, default=[1.0, 10.0], metavar=("MIN", "MAX"))
    parser.add_argument("--store-rate", type=float, action="append", help="recorded nodes/s (repeatable)")
    parser.add_argument("--requests-per-second", type=float, help="the provider's rate limit for the run")
    parser.add_argument("--simulate", type=int, default=0, help="also simulate this many items, event by event")
    args = parser.parse_args(argv)
    print(f"{args.items:,} items x {sum(STAGES)} LM nodes (critical path {len(STAGES)}), "
          f"LM latency {args.latency[0]:g}-{args.latency[1]:g} s\n")
    print(table(args))
    if args.simulate:
        print(f"\nmodel against an event-by-event simulation of {args.simulate:,} items:\n")
        print(check(args))


if __name__ == "__main__":
    main()
