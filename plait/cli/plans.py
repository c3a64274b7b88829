"""``plait plan``, ``diff`` and ``optimize``: the compiled plan, what changed, and few-shot demos."""

from __future__ import annotations

from typing import Any

import click
import dspy

import plait
from plait.cli.common import emit_json, json_option, lm_options, say, store_option, usage
from plait.cli.targets import import_object, load_items, load_lm, load_pipeline
from plait.ir.nodes import Op

_TARGET = """\b
TARGET is module:attribute (a Module instance or class, or a CompiledPipeline),
a plan file (plan.json), or the id of a run in the store (the plan it ran)."""


@click.command(epilog=f"""\b
Examples:
  plait plan app:Pipeline
  plait plan app:Pipeline --out plan.json
  plait plan 20261124-011635-3f9a2c --json
{_TARGET}""")
@click.argument("target")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Also save the plan as JSON to this file.")
@store_option
@json_option
def plan(target: str, out: str | None, store: str, as_json: bool) -> None:
    """Print a pipeline's compiled plan (the IR), one line per node."""
    pipeline = load_pipeline(target, store)
    if out:
        pipeline.save(out)
        say(f"plait: saved the plan to {out}")
    if as_json:
        emit_json(pipeline.to_json())
    else:
        click.echo(repr(pipeline))


@click.command(epilog=f"""\b
Examples:
  plait diff plan.json app:Pipeline
  plait diff 20261124-011635-3f9a2c 20261125-093002-77ab10
{_TARGET}""")
@click.argument("old")
@click.argument("new")
@store_option
@json_option
def diff(old: str, new: str, store: str, as_json: bool) -> None:
    """Show what changed from plan OLD to plan NEW.

    Lists nodes added and removed, and per node the instructions, demos, types, settings and
    step versions that changed."""
    text = load_pipeline(old, store).diff(load_pipeline(new, store))
    same = text == "no changes"
    if as_json:
        emit_json({"old": old, "new": new, "same": same, "changes": [] if same else text.splitlines()})
    else:
        click.echo(text)


SEARCHES = {  # --optimizer name -> the optimizer, from --k, --trials, --seed
    "random": lambda k, trials, seed: plait.RandomSearch(max_bootstrapped_demos=k, max_labeled_demos=k,
                                                         max_trials=trials, seed=seed),
    "mipro": lambda k, trials, seed: plait.MIPRO(max_bootstrapped_demos=k, num_trials=trials or 12, seed=seed),
    "gepa": lambda k, trials, seed: plait.GEPA(max_trials=trials or 12, seed=seed),
}


@click.command(epilog="""\b
Examples:
  plait optimize app:Pipeline --trainset train.jsonl --optimizer labeled --out plan.json
  plait optimize app:Pipeline --trainset train.jsonl --metric app:exact_match --out plan.json
  plait optimize app:Pipeline --trainset train.jsonl --valset val.jsonl --metric app:exact_match \\
      --optimizer mipro --trials 20 --out plan.json
  plait run plan.json dev.jsonl
\b
labeled: demos straight from the trainset's labeled examples (no LM call).
bootstrap: runs the pipeline on the trainset (a checkpointed run: an interrupted
optimization resumes) and keeps the traces of items that pass --metric, a
function (example, prediction) -> bool or number.
random, mipro, gepa: search demo sets (random), instructions and demos with
optuna (mipro), or instructions rewritten from the metric's feedback (gepa),
scored on --valset (default: the trainset). Killed, they resume where they
stopped when started again with the same arguments.""")
@click.argument("target")
@click.option("--trainset", required=True, help="Labeled examples, JSONL: inputs and expected outputs.")
@click.option("--optimizer", type=click.Choice(["bootstrap", "labeled", "random", "mipro", "gepa"]),
              default="bootstrap", show_default=True)
@click.option("--valset", help="Labeled examples that score the candidates of a search optimizer, JSONL.")
@click.option("--trials", type=click.IntRange(1), help="A search optimizer's trials at most.")
@click.option("--seed", default=0, show_default=True, type=int, help="A search optimizer's seed.")
@click.option("--metric", metavar="MODULE:FUNC",
              help="Scores an item: metric(example, prediction). Bootstrap needs one.")
@click.option("--k", default=4, show_default=True, type=click.IntRange(0), help="Demos per node at most.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to save the optimized plan.")
@lm_options
@store_option
@json_option
def optimize(target: str, trainset: str, optimizer: str, valset: str | None, trials: int | None, seed: int,
             metric: str | None, k: int, out: str, lm_spec: str | None, api_base: str | None, concurrency: int,
             store: str, as_json: bool) -> None:
    """Compile few-shot demos (or searched instructions) into a pipeline's plan and save it."""
    pipeline = load_pipeline(target, store)
    names = [f.name for f in pipeline.plan.of_op(Op.INPUT)[0].outputs]
    examples = [dspy.Example(**item).with_inputs(*names) for item in load_items(trainset)]
    if optimizer in SEARCHES:
        if metric is None:
            raise usage(f"--optimizer {optimizer} needs --metric MODULE:FUNC",
                        fix="pass a function (example, prediction) -> score, e.g. --metric app:exact_match")
        held_out = [dspy.Example(**item).with_inputs(*names) for item in load_items(valset)] if valset else None
        options = {"concurrency": concurrency, **({"lm": lm} if (lm := load_lm(lm_spec, api_base)) is not None else {})}
        optimized = SEARCHES[optimizer](k, trials, seed).compile(
            pipeline, trainset=examples, valset=held_out, metric=import_object(metric, "metric function"),
            store=store, **options)
    elif optimizer == "labeled":
        optimized = plait.LabeledFewShot(k=k).compile(pipeline, trainset=examples)
    else:
        if metric is None:
            raise usage("--optimizer bootstrap needs --metric MODULE:FUNC",
                        fix="pass a function (example, prediction) -> bool, or use --optimizer labeled")
        options: dict[str, Any] = {"concurrency": concurrency}
        if (lm := load_lm(lm_spec, api_base)) is not None:
            options["lm"] = lm
        optimized = plait.BootstrapFewShot(max_bootstrapped_demos=k, max_labeled_demos=k).compile(
            pipeline, trainset=examples, metric=import_object(metric, "metric function"), store=store, **options)
    optimized.save(out)
    changes = pipeline.diff(optimized)
    if as_json:
        emit_json({"out": out, "optimizer": optimizer, "trainset": len(examples), "changes": changes.splitlines()})
    else:
        click.echo(f"{changes}\nsaved the optimized plan to {out}; run it with: plait run {out} DATA")
