"""How much a BootstrapFewShot score owes to the order of its demos, both frameworks, on one task.

BootstrapFewShot has no validation set: each framework keeps its bootstrapped demos in the order
its teacher passed them, and on the embedded 135M model the last demo's answer is the one the
student falls back on (for a question it cannot answer, it repeats or paraphrases it). This bench
takes the demos each framework's BootstrapFewShot finds at ``bench_optimizers.py``'s defaults and
scores every order of them, with each framework's student (its adapter and prompt), on the same
held-out items: four sets of scores, each with the order its optimizer wrote marked.

    .venv/bin/python bench/bench_demo_order.py                      # antonyms, 4 x 24 orders (~25 min)
    .venv/bin/python bench/bench_demo_order.py --orders 6           # the first 6 orders of each
    .venv/bin/python bench/bench_demo_order.py --quick              # the first 2 (about 4 minutes)
    .venv/bin/python bench/bench_demo_order.py --smoke              # fake LMs, tiny sizes: checks the script
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dspy  # noqa: E402
import fake_lms  # noqa: E402
from bench_optimizers import dspy_rows, parse_args as optimizer_args, plait_rows, splits  # noqa: E402
from common import machine_line, markdown_table  # noqa: E402
from optimizer_arms import DSPySide, PlaitSide  # noqa: E402
from optimizer_tasks import ALL, Task  # noqa: E402

import plait  # noqa: E402
from plait.ir.nodes import Op  # noqa: E402

Demos = list[dict[str, Any]]


def found_demos(task: Task, split: dict, args: argparse.Namespace, sides: dict[str, Any],
                folder: Path) -> dict[str, Demos]:
    """Each framework's BootstrapFewShot demos at the bench's defaults, in the order it wrote them."""
    fields = (*task.inputs, task.label)
    program = dspy_rows(task, split, args)["BootstrapFewShot"]()
    dspy_demos = [{k: demo[k] for k in fields} for demo in program.predictors()[0].demos]
    compiled = plait.compile(task.plait_program(), optimizer=plait_rows(args)["BootstrapFewShot"],
                             trainset=split["train"], metric=task.metric, **sides["plait"].options(folder / "boot.db"))
    return {"plait": list(_predict_node(compiled).params.demos), "DSPy": dspy_demos}


def _predict_node(compiled: Any) -> Any:
    nodes = compiled.plan.of_op(Op.PREDICT)
    if len(nodes) != 1:
        raise SystemExit("bench_demo_order.py orders one node's demos: pick a single-node task (antonyms, sentiment)")
    return nodes[0]


def score(framework: str, side: Any, task: Task, demos: Demos, split: dict, store: Path) -> float:
    """The held-out score of the task's program with these demos, in this order, on ``framework``."""
    if framework == "DSPy":
        program = task.dspy_program()
        program.predictors()[0].demos = [dspy.Example(**demo).with_inputs(*task.inputs) for demo in demos]
        scores, _ = side.score(program, split["test"])
        return 100 * statistics.fmean(scores)
    compiled = plait.compile(task.plait_program())
    compiled = compiled.update(_predict_node(compiled).id, demos=demos)
    return 100 * plait.evaluate(compiled, split["test"], task.metric, **side.options(store)).score


def order_row(framework: str, found_by: str, demos: Demos, scores: list[float], task: Task, beat: float) -> list[str]:
    answers = ", ".join(str(demo[task.label]) for demo in demos)
    share = sum(s >= beat for s in scores)
    percents = [f"{s:.1f}%" for s in (scores[0], min(scores), statistics.median(scores), max(scores))]
    return [framework, found_by, answers, *percents, f"{share} of {len(scores)}"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["antonyms", "sentiment"], default="antonyms")
    parser.add_argument("--orders", type=int, help="score only the first N orders of each demo set")
    parser.add_argument("--lm-threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the first 2 orders of each set (run_all.py -- --quick)")
    parser.add_argument("--smoke", action="store_true", help="fake LMs, tiny sizes, 2 orders: checks the script runs")
    args = parser.parse_args(argv)
    args.orders = 2 if args.smoke or args.quick else args.orders
    return args


def lms(task: Task, args: argparse.Namespace) -> tuple[Any, Any]:
    """The DSPy side's and the plait side's LM: the one embedded model, or (``--smoke``) fakes."""
    if args.smoke:
        return fake_lms.FakeLocal(task.load()), fake_lms.scripted(task.load())
    local = plait.LocalLM(n_threads=args.lm_threads)
    return local, local


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = optimizer_args(["--smoke"] if args.smoke else [])  # bench_optimizers.py's defaults
    task = ALL[args.task]
    split = splits(task, settings.train, settings.val, settings.test)
    dspy_lm, plait_lm = lms(task, args)
    with tempfile.TemporaryDirectory() as folder:
        sides = {"DSPy": DSPySide(task, settings.threads, local=dspy_lm),
                 "plait": PlaitSide(task, Path(folder), settings.threads, lm=plait_lm)}
        found = found_demos(task, split, settings, sides, Path(folder))
        measured = {}
        for (framework, side), (found_by, demos) in itertools.product(sides.items(), found.items()):
            orders = list(itertools.permutations(demos))[: args.orders]  # the written order first
            measured[framework, found_by] = [score(framework, side, task, list(o), split, Path(folder) / "eval.db")
                                             for o in orders]
            print(f"# {framework} student, {found_by}'s demos: {measured[framework, found_by]}", flush=True)
    beat = measured["DSPy", "DSPy"][0]  # DSPy's BootstrapFewShot row, as bench_optimizers.py measures it
    rows = [order_row(fw, by, found[by], scores, task, beat) for (fw, by), scores in measured.items()]
    print(machine_line())
    model = "fake LMs (--smoke)" if args.smoke else "embedded SmolLM2-135M"
    print(f"\nBootstrapFewShot's demos in every order, {args.task}, {model}, "
          f"{settings.test} held-out items (orders at or above DSPy's row, {beat:.1f}%, counted):\n")
    print(markdown_table(["student", "demos found by", "demos (answers, as written)", "as written", "min",
                          "median", "max", f"orders >= {beat:.1f}%"], rows))


if __name__ == "__main__":
    main()
