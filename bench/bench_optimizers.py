"""plait's optimizers against DSPy's, side by side: same embedded model, data splits and metric.

The task is the demo's PeopleQA (three LM nodes) on ``plait/demo``'s people dataset, scored by
exact match. Each row compiles the program with one optimizer on the training (and, for the
searching optimizers, the validation) items, then scores it on held-out items nobody trained on.
LM calls are counted at the engine for both frameworks; DSPy's cache is off and every plait row
starts from an empty store. Intervals are the 95% percentile bootstrap of the mean (plait.evaluate's,
computed the same way for DSPy's per-item scores).

    .venv/bin/python bench/bench_optimizers.py              # 40 train / 20 val / 60 held-out (hours on 2 busy cores)
    .venv/bin/python bench/bench_optimizers.py --quick      # 8 / 6 / 10, a smoke run
    .venv/bin/python bench/bench_optimizers.py --only dspy  # one framework; --rows MIPRO to pick rows
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dspy  # noqa: E402
from common import machine_line, markdown_table  # noqa: E402
from optimizer_arms import DSPyPeopleQA, DSPySide, PlaitSide, Row, dspy_examples, dspy_metric  # noqa: E402

import plait  # noqa: E402
from plait.demo.data import load  # noqa: E402



def splits(train: int, val: int, test: int) -> dict[str, list[dict]]:
    """Train and val from the front of the dataset, held-out items from the back (as the demo job)."""
    data = load()
    return {"train": data[:train], "val": data[train:train + val], "test": data[len(data) - test:]}


def dspy_rows(split: dict[str, list[dict]], args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """Each DSPy optimizer, as a thunk returning the compiled program."""
    train, val = dspy_examples(split["train"]), dspy_examples(split["val"])
    tp, demos = dspy.teleprompt, args.demos
    return {
        "zero-shot (no optimizer)": lambda: DSPyPeopleQA(),
        "BootstrapFewShot": lambda: tp.BootstrapFewShot(
            metric=dspy_metric, max_bootstrapped_demos=demos, max_labeled_demos=demos).compile(
            DSPyPeopleQA(), trainset=train),
        "RandomSearch": lambda: tp.BootstrapFewShotWithRandomSearch(
            metric=dspy_metric, max_bootstrapped_demos=demos, max_labeled_demos=demos,
            num_candidate_programs=args.candidates, num_threads=args.threads).compile(
            DSPyPeopleQA(), trainset=train, valset=val),
        "MIPRO": lambda: tp.MIPROv2(
            metric=dspy_metric, auto=None, num_candidates=args.candidates, max_bootstrapped_demos=demos,
            max_labeled_demos=demos, num_threads=args.threads, seed=0, verbose=False).compile(
            DSPyPeopleQA(), trainset=train, valset=val, num_trials=args.trials, minibatch_size=args.minibatch,
            minibatch_full_eval_steps=args.full_every),
    }


def plait_rows(args: argparse.Namespace) -> dict[str, Any]:
    """Each plait optimizer (None: no optimizer); a row whose optimizer plait lacks is skipped."""
    demos = args.demos
    rows: dict[str, Any] = {
        "zero-shot (no optimizer)": None,
        "BootstrapFewShot": plait.BootstrapFewShot(max_bootstrapped_demos=demos, teacher_demos=demos),
    }
    if hasattr(plait, "RandomSearch"):
        rows["RandomSearch"] = plait.RandomSearch(
            num_candidates=args.candidates, max_bootstrapped_demos=demos, max_labeled_demos=demos,
            teacher_demos=demos, seed=0)
    if hasattr(plait, "MIPRO"):
        rows["MIPRO"] = plait.MIPRO(
            num_instructions=args.candidates, num_demo_sets=args.candidates, max_bootstrapped_demos=demos,
            num_trials=args.trials, minibatch_size=args.minibatch, full_eval_every=args.full_every, seed=0)
    return rows


def wanted(name: str, args: argparse.Namespace) -> bool:
    return not args.rows or any(pattern.lower() in name.lower() for pattern in args.rows)


def run_dspy(split: dict[str, list[dict]], args: argparse.Namespace) -> list[Row]:
    side = DSPySide(args.threads, args.lm_threads)
    return [_announced(side.measure(name, optimize, split["test"]), args.jsonl)
            for name, optimize in dspy_rows(split, args).items() if wanted(name, args)]


def run_plait(split: dict[str, list[dict]], args: argparse.Namespace, folder: Path) -> list[Row]:
    side = PlaitSide(folder, args.threads, args.lm_threads)
    return [_announced(side.measure(name, optimizer, split), args.jsonl)
            for name, optimizer in plait_rows(args).items() if wanted(name, args)]


def _announced(row: Row, log: Path | None = None) -> Row:
    print(f"# {row.framework:5} {row.optimizer:26} {row.score:.1%} ({row.low:.1%}-{row.high:.1%}) "
          f"calls {row.compile_calls}+{row.eval_calls} in {row.compile_seconds:.0f}+{row.eval_seconds:.0f} s",
          file=sys.stderr, flush=True)
    if log is not None:  # each row as it is measured, so a run stopped early keeps what it measured
        with open(log, "a") as f:
            f.write(json.dumps(asdict(row)) + "\n")
    return row


def table(rows: list[Row]) -> str:
    header = ["framework", "optimizer", "held-out score (95% CI)", "LM calls: compile", "evaluate",
              "seconds: compile", "evaluate", "failed items"]
    body = [(r.framework, r.optimizer, f"{r.score:.1%} ({r.low:.1%}-{r.high:.1%})", r.compile_calls,
             r.eval_calls, f"{r.compile_seconds:.0f}", f"{r.eval_seconds:.0f}", r.failed)
            for r in sorted(rows, key=lambda r: (r.optimizer, r.framework))]
    return markdown_table(header, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--val", type=int, default=20)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--demos", type=int, default=4, help="demos per node (bootstrapped, and labeled)")
    parser.add_argument("--candidates", type=int, default=3, help="candidate programs / instructions")
    parser.add_argument("--trials", type=int, default=6, help="MIPRO trials")
    parser.add_argument("--minibatch", type=int, default=10, help="MIPRO minibatch size")
    parser.add_argument("--full-every", type=int, default=3, help="MIPRO: full valset evaluation every N trials")
    parser.add_argument("--threads", type=int, default=2, help="DSPy num_threads and plait concurrency")
    parser.add_argument("--lm-threads", type=int, default=1,
                        help="llama.cpp threads (1 is fastest on a machine busy with other work)")
    parser.add_argument("--only", choices=["dspy", "plait"])
    parser.add_argument("--rows", nargs="*", help="only rows whose optimizer name contains one of these")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--jsonl", type=Path, help="append each row to this file as it is measured")
    parser.add_argument("--table", type=Path, help="only print the table of the rows in this --jsonl file")
    args = parser.parse_args(argv)
    if args.quick:
        (args.train, args.val, args.test, args.candidates, args.trials, args.minibatch,
         args.full_every) = 8, 6, 10, 2, 3, 4, 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table:  # rows measured by several processes (one per row, to use both cores), as one table
        print(table([Row(**json.loads(line)) for line in args.table.read_text().splitlines() if line.strip()]))
        return
    split = splits(args.train, args.val, args.test)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "plait":
            rows += run_dspy(split, args)
        if args.only != "dspy":
            rows += run_plait(split, args, Path(folder))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(machine_line())
    print(f"\nOptimizers on PeopleQA, embedded SmolLM2-135M: {args.train} train / {args.val} val / "
          f"{args.test} held-out items; {args.demos} demos per node; {args.candidates} candidates; MIPRO "
          f"{args.trials} trials, minibatch {args.minibatch}, full evaluation every {args.full_every} trials; "
          f"{args.threads} threads.\n")
    print(table(rows))


if __name__ == "__main__":
    main()
