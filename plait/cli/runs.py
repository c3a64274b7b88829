"""``plait run``, ``resume`` and ``rerun`` execute (``plait runs`` and ``show``, which only read the
store, are in show.py)."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic_core import to_jsonable_python

import plait
from plait.cli.executors import executor_of, executor_options
from plait.cli.common import (FAILURE, ITEMS_FAILED, emit_json, existing_store, exit_with, first_line,
                              json_option, resolve_run, run_options, say, store_option, usage)
from plait.cli.lms import LMChoice, chosen, recorded
from plait.cli.spending import stats_text
from plait.cli.targets import item_ids, load_items, load_pipeline, stored_pipeline
from plait.runtime.progress import resuming_line, show_progress


@click.command(epilog="""\b
Examples:
  plait run app:Pipeline data.jsonl
  plait run app:Pipeline data.jsonl --lm openai/gpt-4o-mini --concurrency 64
  plait run app:Pipeline data.jsonl --lm openai/gpt-4o-mini --fallback local
  plait run app:Pipeline data.jsonl --store postgresql://db/plait --executor ray --ray-address head:6379
  plait run plan.json data.jsonl --id-field id --out outputs.jsonl --json
  plait run app:Pipeline data.jsonl --name nightly   # again: goes on with that run

\b
TARGET is module:attribute (a Module instance or class, or a CompiledPipeline;
module may be a path, pipelines/qa.py:QA), a plan file saved with `plait plan
--out`, or a run id (its plan). DATA is JSONL, one object of inputs a line
(`-` reads stdin); extra keys such as labels are ignored.
Exit status: 0 all items done, 3 some items failed, 1 the run failed, 2 usage.""")
@click.argument("target")
@click.argument("data")
@click.option("--id-field", metavar="FIELD", help="Take each item's id from this field (default: 0, 1, 2, ...).")
@click.option("--strict", is_flag=True, help='Validate items strictly: no "7" for an int field, no true for an int.')
@click.option("--name", metavar="NAME",
              help="Name the run: the next `plait run --name NAME` of the same pipeline over the same data goes "
                   "on with it (resumes or replays) instead of adding a run.")
@run_options
@executor_options
@store_option
@json_option
@click.pass_context
def run(ctx: click.Context, target: str, data: str, id_field: str | None, strict: bool, name: str | None,
        lm_spec: str | None,
        api_base: str | None, fallback_specs: tuple[str, ...], concurrency: int, out: str | None, store: str,
        as_json: bool) -> None:
    """Run a pipeline over a JSONL dataset, checkpointed.

    Every node's output is recorded in the store as it finishes: kill the process at any time
    and `plait resume` finishes the run without repeating that work."""
    pipeline = load_pipeline(target, store)
    items = load_items(data)
    ids = item_ids(items, id_field, data)
    if not items:
        raise usage(f"{data} holds no items", fix="write one JSON object of inputs per line")
    result = pipeline.run(items, store=store, ids=ids, strict=strict or None, name=name,
                          **_run_kwargs(ctx, chosen(lm_spec, fallback_specs, api_base), concurrency))
    _report(result, out, as_json)


@click.command(epilog="""\b
Examples:
  plait resume 20261124-011635-3f9a2c
  plait resume latest --pipeline app:Pipeline     # after editing a prompt or a step
  plait resume latest --lm openai/gpt-4o --fallback local
  plait resume latest --executor ray --ray-address 127.0.0.1:6379
\b
Recorded nodes replay with no LM call, whichever LM made them; failed and
unfinished ones run, with the LM and fallbacks the run recorded unless --lm
and --fallback name others.""")
@click.argument("run_ref", metavar="RUN")
@click.option("--pipeline", "pipeline_ref", metavar="TARGET",
              help="An edited pipeline (module:attr or plan file): only nodes whose key changed recompute.")
@run_options
@executor_options
@store_option
@json_option
@click.pass_context
def resume(ctx: click.Context, run_ref: str, pipeline_ref: str | None, lm_spec: str | None, api_base: str | None,
           fallback_specs: tuple[str, ...], concurrency: int, out: str | None, store: str, as_json: bool) -> None:
    """Finish a run without repeating recorded work.

    After a crash, a Ctrl-C, or a fix to what made items fail."""
    run_id, edited = _prepare(store, run_ref, pipeline_ref)
    lms = recorded(store, run_id, lm_spec, fallback_specs, api_base=api_base)
    ctx.meta["plait.run_id"] = run_id
    result = plait.resume(run_id, store=store, pipeline=edited if pipeline_ref else None,
                          **_run_kwargs(ctx, lms, concurrency))
    _report(result, out, as_json)


@click.command(epilog="""\b
Examples:
  plait rerun 20261124-011635-3f9a2c --from pipeline.classify
  plait rerun latest --from pipeline.classify --pipeline app:Pipeline
\b
The run is forked: NODE and everything downstream recompute, upstream nodes
replay from the original, which stays unchanged. Node ids: `plait plan RUN`.""")
@click.argument("run_ref", metavar="RUN")
@click.option("--from", "from_node", required=True, metavar="NODE", help="The first node to recompute.")
@click.option("--pipeline", "pipeline_ref", metavar="TARGET", help="Fork with an edited pipeline.")
@run_options
@executor_options
@store_option
@json_option
@click.pass_context
def rerun(ctx: click.Context, run_ref: str, from_node: str, pipeline_ref: str | None, lm_spec: str | None,
          api_base: str | None, fallback_specs: tuple[str, ...], concurrency: int, out: str | None, store: str,
          as_json: bool) -> None:
    """Fork a run and recompute from one node on."""
    run_id, edited = _prepare(store, run_ref, pipeline_ref)
    if from_node not in edited.plan:
        raise usage(f"run {run_id} has no node '{from_node}'", found=", ".join(n.id for n in edited.plan.nodes),
                    fix="pick a node id from `plait plan RUN`")
    lms = recorded(store, run_id, lm_spec, fallback_specs, doing="forking", api_base=api_base)
    result = plait.rerun(run_id, from_node=from_node, store=store, pipeline=edited if pipeline_ref else None,
                         **_run_kwargs(ctx, lms, concurrency))
    _report(result, out, as_json)


def _prepare(store: str, run_ref: str, pipeline_ref: str | None) -> tuple[str, Any]:
    """The run id, and the pipeline to continue it with (loading the stored one imports its steps)."""
    with existing_store(store) as opened:
        run_id = resolve_run(opened, run_ref)
        stored = stored_pipeline(opened, run_id)
    return run_id, load_pipeline(pipeline_ref) if pipeline_ref else stored


def _run_kwargs(ctx: click.Context, lms: LMChoice, concurrency: int) -> dict[str, Any]:
    def remember(event: Any) -> None:  # so that Ctrl-C can say which run to resume
        if isinstance(event, plait.events.RunStarted):
            ctx.meta["plait.run_id"] = event.run_id
            if event.resumed and not show_progress(None, event.items):  # a bar says it itself
                say(f"plait: {resuming_line(event)}")

    kwargs: dict[str, Any] = {"concurrency": concurrency, "on_event": remember, **lms.kwargs()}
    if (executor := executor_of(ctx)) is not None:
        kwargs["executor"] = executor
    return kwargs


# --- reporting a finished run ----------------------------------------------------------------------
def _report(run: Any, out: str | None, as_json: bool) -> None:
    if out:
        with open(out, "w") as f:
            for item in _results(run):
                f.write(json.dumps(item, default=repr) + "\n")
    if as_json:
        emit_json(_run_json(run))
    else:
        click.echo(_run_text(run))
    failed = len(run.failed)
    waiting = sum(r.status == "waiting" for r in run.items)
    if waiting:  # not a failure: the items go on after an answer
        say(f"plait: {waiting} of {len(run)} items wait for a person's answer; see the questions with: "
            f"plait answer {run.id} --list")
    if run.status in ("interrupted", "stopped"):
        why = f": {first_line(run.stop_reason, 300)}" if run.stop_reason else ""
        say(f"plait: run {run.id} stopped before finishing{why}; finish it with: plait resume {run.id}")
        exit_with(FAILURE)
    elif failed:
        say(f"plait: {failed} of {len(run)} items failed; see why with: plait show {run.id}; "
            f"after a fix: plait resume {run.id}")
        exit_with(ITEMS_FAILED)


def _results(run: Any) -> list[dict[str, Any]]:
    return [{"id": r.item_id, "status": r.status, "error": r.error,
             "outputs": to_jsonable_python(dict(r.outputs), fallback=repr) if r.outputs is not None else None}
            for r in run.items]


def _run_json(run: Any) -> dict[str, Any]:
    done = sum(r.status == "done" for r in run.items)
    return {"run_id": run.id, "status": run.status, "stop_reason": run.stop_reason, "store": run.store,
            "items": {"total": len(run), "done": done, "failed": len(run.failed),
                      "waiting": sum(r.status == "waiting" for r in run.items)},
            "stats": run.stats.as_dict(), "totals": run.totals.as_dict(), "results": _results(run)}


def _run_text(run: Any) -> str:
    s, t = run.stats, run.totals
    done = sum(r.status == "done" for r in run.items)
    waiting = sum(r.status == "waiting" for r in run.items)
    lines = [f"run {run.id} {run.status}: {len(run)} items, {done} done, {len(run.failed)} failed"
             + (f", {waiting} waiting" if waiting else ""),
             f"  run totals: {stats_text(t)}",
             f"  this invocation: {stats_text(s)};"
             f" cache hits {s.cache_hits}, replayed {s.replayed}, steps {s.steps}; {s.seconds:.2f} s",
             f"  store {run.store}"]
    for r in run.failed[:5]:
        lines.append(f"  item {r.item_id} failed: {first_line(r.error)}")
    if len(run.failed) > 5:
        lines.append(f"  ... and {len(run.failed) - 5} more")
    return "\n".join(lines)


# --- reading the store -----------------------------------------------------------------------------
