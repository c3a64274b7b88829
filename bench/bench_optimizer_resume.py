"""The cost of resuming an optimization: killed halfway (SIGKILL, a real process) and started again,
versus the same optimization uninterrupted, counting LM calls at the engine.

Each optimization runs in a child process on a fresh store. The interrupted one is killed once it
has spent half the calls the uninterrupted one needed, then started again with the same arguments
on the same store. Extra calls = (calls before the kill + calls after - uninterrupted) / uninterrupted.
The two compiled plans must be equal (same node fingerprints).

    .venv/bin/python bench/bench_optimizer_resume.py                       # the searching optimizer
    .venv/bin/python bench/bench_optimizer_resume.py --optimizer BootstrapFewShot --quick
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line, markdown_table  # noqa: E402

import plait  # noqa: E402
from plait.demo.data import load  # noqa: E402
from plait.demo.pipeline import PeopleQA, exact_match  # noqa: E402

SCRIPT = Path(__file__).resolve()


class LoggingLM:
    """The embedded model, with a line appended to ``log`` per call (the parent reads it live)."""

    def __init__(self, log: Path) -> None:
        self.inner, self.log = plait.LocalLM(n_threads=1), open(log, "a", buffering=1)  # 1: fastest when busy
        self.name, self.adapter, self.max_concurrency = self.inner.name, self.inner.adapter, 1

    def identity(self) -> dict:
        return self.inner.identity()

    async def acall(self, request: plait.LMRequest) -> plait.LMResponse:
        self.log.write("call\n")  # when the call starts: one cut short by the kill still cost its work
        return await self.inner.acall(request)


def make_optimizer(name: str, args: argparse.Namespace):
    if name == "MIPRO":
        return plait.MIPRO(num_instructions=args.candidates, num_demo_sets=args.candidates, num_trials=args.trials,
                           minibatch_size=args.minibatch, max_bootstrapped_demos=4, seed=0)
    if name == "RandomSearch":
        return plait.RandomSearch(max_bootstrapped_demos=4, teacher_demos=4, num_candidates=args.candidates, seed=0)
    return plait.BootstrapFewShot(max_bootstrapped_demos=4, teacher_demos=4)


def child(args: argparse.Namespace) -> None:
    """One optimization in this process; prints the compiled plan's node fingerprints as JSON."""
    data = load()
    train, val = data[:args.train], data[args.train:args.train + args.val]
    plait.configure(lm=LoggingLM(args.log))
    optimizer = make_optimizer(args.optimizer, args)
    extra = {"valset": val} if args.optimizer != "BootstrapFewShot" else {}
    compiled = plait.compile(PeopleQA(), optimizer=optimizer, trainset=train, metric=exact_match,
                             store=str(args.store), progress=False, parse_retries=1, **extra)
    print(json.dumps({node.id: node.fingerprint for node in compiled.plan.nodes}))


def spawn(args: argparse.Namespace, store: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, str(SCRIPT), "--child", "--store", str(store), "--log", str(log),
               "--optimizer", args.optimizer, "--train", str(args.train), "--val", str(args.val),
               "--candidates", str(args.candidates), "--trials", str(args.trials), "--minibatch", str(args.minibatch)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def calls_in(log: Path) -> int:
    return log.read_text().count("\n") if log.exists() else 0


def finish(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the optimization child failed with exit status {process.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def kill_at(process: subprocess.Popen, log: Path, calls: int) -> int:
    """SIGKILL the child once it has made ``calls`` LM calls; the calls it had made by then."""
    while calls_in(log) < calls and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return calls_in(log)


def measure(args: argparse.Namespace, folder: Path) -> dict:
    started = time.perf_counter()
    whole = finish(spawn(args, folder / "whole.db", folder / "whole.log"))
    seconds = time.perf_counter() - started
    total = calls_in(folder / "whole.log")
    before = kill_at(spawn(args, folder / "cut.db", folder / "cut-1.log"), folder / "cut-1.log", total // 2)
    resumed = finish(spawn(args, folder / "cut.db", folder / "cut-2.log"))
    after = calls_in(folder / "cut-2.log")
    return {"total": total, "before": before, "after": after, "seconds": seconds, "same": resumed == whole,
            "extra": (before + after - total) / total if total else 0.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = "MIPRO" if hasattr(plait, "MIPRO") else "RandomSearch" if hasattr(plait, "RandomSearch") \
        else "BootstrapFewShot"
    parser.add_argument("--optimizer", choices=["MIPRO", "RandomSearch", "BootstrapFewShot"], default=default)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--val", type=int, default=20, help="validation items (MIPRO needs at least a minibatch)")
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--minibatch", type=int, default=6)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.train, args.val, args.candidates, args.trials, args.minibatch = 8, 6, 2, 3, 4
    return args


def main() -> None:
    args = parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as folder:
        result = measure(args, Path(folder))
    print(machine_line())
    print(f"\nplait.{args.optimizer} on PeopleQA ({args.train} train / {args.val} val), embedded SmolLM2-135M, "
          "killed (SIGKILL) after half its LM calls and resumed.\n")
    rows = [(args.optimizer, result["total"], result["before"], result["after"],
             f"{result['extra']:+.1%}", "yes" if result["same"] else "NO", f"{result['seconds']:.0f}")]
    print(markdown_table(["optimizer", "LM calls uninterrupted", "before the kill", "after resuming",
                          "extra calls", "same result", "seconds (uninterrupted)"], rows))


if __name__ == "__main__":
    main()
