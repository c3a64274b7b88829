"""The main job's wall time by phase, install excluded: load, evaluate, compile, evaluate.

Runs `plait.demo`'s job with a fresh store (so every phase calls the LM) and then again on the same
store (every node replays from the checkpoints), and prints both as a table, with the tokens the
model evaluated (prompt tokens not reused from its KV cache, plus generated tokens): unlike seconds,
that count does not depend on the machine's load.

    .venv/bin/python bench/bench_demo.py            # the full job: 40 train, 60 held-out items
    .venv/bin/python bench/bench_demo.py --quick    # 8 and 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line, markdown_table  # noqa: E402

from plait.demo.job import run_job  # noqa: E402
from plait.lm.model_pool import evaluated_tokens  # noqa: E402


def measure(store: Path, train: int, dev: int) -> tuple[dict[str, float], object, float, int]:
    """The job's phases, its result, its wall seconds, and the tokens the model evaluated."""
    evaluated, started = evaluated_tokens(), time.perf_counter()  # summed over the model's instances
    result = run_job(store, train=train, dev=dev, progress=False, say=lambda _: None)
    return result.phases, result, time.perf_counter() - started, evaluated_tokens() - evaluated


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    train, dev = (8, 8) if args.quick else (40, 60)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "demo.db"
        cold, result, cold_total, tokens = measure(store, train, dev)
        warm, _, warm_total, _ = measure(store, train, dev)
    print(machine_line())
    print(f"\nMain job, {train} train / {dev} held-out items, embedded SmolLM2-135M; seconds.\n")
    rows = [(name, f"{cold[name]:.1f}", f"{warm[name]:.2f}") for name in cold]
    rows.append(("total", f"{cold_total:.1f}", f"{warm_total:.2f}"))
    print(markdown_table(["phase", "fresh store", "rerun (all checkpointed)"], rows))
    tally = result.tally
    print(f"\nLM calls {tally.lm_calls}; prompt tokens {tally.prompt_tokens}, generated {tally.completion_tokens}, "
          f"evaluated by llama.cpp {tokens} (the rest of the prompts reused from its KV cache)")
    print(f"uncompiled {result.before.score:.1%} "
          f"({result.before.low:.1%}-{result.before.high:.1%}), compiled {result.after.score:.1%} "
          f"({result.after.low:.1%}-{result.after.high:.1%})")


if __name__ == "__main__":
    main()
