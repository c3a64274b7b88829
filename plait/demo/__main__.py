"""``python -m plait.demo`` (``make demo``): the main job on the embedded model, no API key.

Interrupt it (Ctrl-C, or kill it) and run it again: it picks up from the checkpoints and says
how many node results it reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from plait.demo.job import JobResult, run_job

DEFAULT_DIR = ".plait"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "demo.db"
    print(f"plait demo: reading-comprehension QA, 3 LM nodes, SmolLM2-135M on the CPU (store: {store})")
    started = time.perf_counter()
    try:
        result = run_job(store, train=args.train, dev=args.dev, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished node is checkpointed in {store}; "
              "run the same command again to continue from there", file=sys.stderr)
        return 130
    _report(result, folder, time.perf_counter() - started)
    return 0 if result.separated else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m plait.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.environ.get("PLAIT_DEMO_DIR", DEFAULT_DIR),
                        help="where the store and the compiled plan go (default: .plait)")
    parser.add_argument("--train", type=int, default=40, help="training items (default 40)")
    parser.add_argument("--dev", type=int, default=60, help="held-out items (default 60)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _report(result: JobResult, folder: Path, seconds: float) -> None:
    plan_path = folder / "demo_plan.json"
    result.compiled.save(plan_path)
    (folder / "demo_plan.diff").write_text(result.base.diff(result.compiled) + "\n")
    before, after = result.before, result.after
    print()
    print("| pipeline | held-out accuracy | 95% interval | LM calls |")
    print("|---|---:|---:|---:|")
    print(f"| uncompiled | {before.score:.1%} | {before.low:.1%}-{before.high:.1%} | {before.lm_calls} |")
    print(f"| compiled (BootstrapFewShot) | {after.score:.1%} | {after.low:.1%}-{after.high:.1%} | {after.lm_calls} |")
    verdict = "outside both intervals" if result.separated else "NOT outside the intervals"
    print(f"\nimprovement: {100 * (after.score - before.score):+.1f} points, {verdict}")
    print(f"compiled plan saved to {plan_path} (what changed: {folder / 'demo_plan.diff'})")
    tally = result.tally
    print(f"this invocation: {tally.lm_calls} LM calls, {tally.reused} node results reused from checkpoints, "
          f"{seconds:.0f} s")
    print("phases: " + ", ".join(f"{name} {secs:.1f} s" for name, secs in result.phases.items()))


if __name__ == "__main__":
    sys.exit(main())
