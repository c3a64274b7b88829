"""``plait run``, ``resume`` and ``rerun`` execute; ``plait runs`` and ``show`` read the store."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic_core import to_jsonable_python

import plait
from plait.checkpoints.lease import is_active
from plait.checkpoints.spend import Spend, cost_text, total_spend
from plait.checkpoints.urls import redact
from plait.cli.answer import question_row, questions_table
from plait.cli.executors import executor_of, executor_options
from plait.cli.common import (FAILURE, ITEMS_FAILED, STATUSES, emit_json, existing_store, exit_with, first_line,
                              iso, json_option, resolve_run, run_options, say, store_option, table, usage, utc)
from plait.cli.lms import LMChoice, chosen, recorded
from plait.cli.spending import spend_json, spending_text, stats_text
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
@click.command(epilog="""\b
Examples:
  plait runs
  plait runs --status failed --limit 5
  plait runs --json | jq '.[].run_id'""")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(1), help="Only the N most recent runs.")
@store_option
@json_option
def runs(statuses: tuple[str, ...], limit: int | None, store: str, as_json: bool) -> None:
    """List the runs in the store, oldest first."""
    with existing_store(store) as opened:
        counts, spending = opened.item_counts(), opened.spending()
        rows = [_run_row(opened, r, counts.get(r.run_id, {}), spending.get(r.run_id, Spend())) for r in opened.list_runs()]
    rows = [r for r in rows if not statuses or r["status"] in statuses]  # as shown: a killed run is interrupted
    rows = rows[-limit:] if limit else rows
    if as_json:
        emit_json(rows)
    elif not rows:
        say(f"plait: no runs in {redact(store)}" + (" with that status" if statuses else ""))
    else:
        named = any(r["name"] for r in rows)  # a NAME column only where runs have names
        click.echo(table(["RUN", *(["NAME"] if named else []), "CREATED (UTC)", "STATUS", "DONE", "FAILED", "TOTAL",
                          "LM CALLS", "ANSWERED", "TOKENS", "COST", "PARENT"],
                         [[r["run_id"], *([r["name"] or "-"] if named else []), utc(r["created_at"]), r["status"],
                           r["items"]["done"], r["items"]["failed"], r["items"]["total"], *_spend_cells(r["totals"]),
                           r["parent"]] for r in rows]))


def _spend_cells(totals: dict[str, Any]) -> list[Any]:
    return [totals["lm_calls"], totals["lm_answered"], totals["prompt_tokens"] + totals["completion_tokens"],
            cost_text(totals["cost"])]


def _status(recorded: str, live: bool) -> str:
    """A run recorded as running whose process holds no live lease was killed: it is interrupted
    (``plait resume`` goes on with it)."""
    return "interrupted" if recorded == "running" and not live else recorded


def _run_row(store: Any, record: Any, counts: dict[str, int], spent: Spend) -> dict[str, Any]:
    """A run as `plait runs` and `plait show` list it; ``totals``: what its journal spent on LM calls."""
    lease = store.lease(record.run_id) if record.status == "running" else None
    live = is_active(lease)
    return {"run_id": record.run_id, "name": record.config.get("name"), "created": iso(record.created_at),
            "created_at": record.created_at,
            "updated_at": record.updated_at, "status": _status(record.status, live), "parent": record.parent_run,
            "items": {"done": counts.get("done", 0), "failed": counts.get("failed", 0),
                      "waiting": counts.get("waiting", 0), "total": sum(counts.values())}, "totals": spend_json(spent),
            "held_by": {"host": lease.host, "pid": lease.pid, "expires_at": lease.expires_at} if live else None}


@click.command(epilog="""\b
Examples:
  plait show 20261124-011635-3f9a2c
  plait show latest --json""")
@click.argument("run_ref", metavar="RUN")
@store_option
@json_option
def show(run_ref: str, store: str, as_json: bool) -> None:
    """Show a run's items and nodes with their status.

    The run's totals over every invocation: LM calls (requests sent, answered or not), the
    answered ones, tokens and cost. Per item: status and error. Per node: executions ok and
    failed, LM calls (retries and re-asks included), cache hits, rows copied from the parent run,
    tokens, cost. RUN is an id, a unique prefix of one, or `latest`."""
    with existing_store(store) as opened:
        run_id = resolve_run(opened, run_ref)
        record = opened.get_run(run_id)
        plan = json.loads(opened.load_plan(record.plan_hash))  # raw: no user code is imported to show a run
        items = opened.run_items(run_id)
        journal = opened.journal(run_id)
        nodes = _node_rows(plan, journal)
        waiting = opened.asks(run_id, unanswered=True)
        head = _run_row(opened, record, _count(items), total_spend(journal.values()))
    head["plan"] = {"name": plan.get("name"), "hash": record.plan_hash, "nodes": len(plan.get("nodes", []))}
    outputs = _opened_outputs(store, run_id)
    item_rows = [{"id": i.item_id, "position": i.position, "status": i.status, "error": i.error,
                  "outputs": outputs.get(i.item_id)} for i in items]
    if as_json:
        emit_json({"run": head, "items": item_rows, "nodes": nodes, "waiting": [question_row(q) for q in waiting]})
    else:
        click.echo(_show_text(head, item_rows, nodes, redact(store)))
        if waiting:
            click.echo(f"\nwaiting for answers (plait answer {run_id} --item ID --node NODE --value ...):")
            click.echo(questions_table(waiting))


def _opened_outputs(store: str, run_id: str) -> dict[str, Any]:
    """Each done item's outputs, from the run opened read-only (plait.open_run: no lease, no LM
    call); none, with a note, when the plan's steps or types cannot be imported here."""
    try:
        run = plait.open_run(run_id, store=store)
    except plait.PlanLoadError as exc:
        say(f"plait: note: outputs not shown: {exc.summary}")
        return {}
    return {r.item_id: to_jsonable_python(dict(r.outputs), fallback=repr)
            for r in run.items if r.outputs is not None}


def _count(items: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in items:
        counts[i.status] = counts.get(i.status, 0) + 1
    return counts


def _node_rows(plan: dict[str, Any], journal: dict) -> list[dict[str, Any]]:
    """Per node, in plan order: executions ok and failed, LM calls (requests sent, answered or not:
    retries and re-asks included), cache hits, rows copied from the parent run, tokens and cost."""
    ops = {n["id"]: n.get("op") for n in plan.get("nodes", [])}
    rows = {nid: _node_row(nid, op) for nid, op in ops.items() if op != "input"}
    for (_, node_id, _), r in sorted(journal.items()):
        row = rows.setdefault(node_id, _node_row(node_id, None))  # a node the current plan lacks
        if r.status in ("ok", "failed"):  # not 'retrying': an LM call that will be tried again
            row[r.status] += 1
        row["cache_hits"] += r.source == "cache"
        row["from_parent"] += r.source == "journal"
        row.update(_added(row, r.spent))
    return list(rows.values())


def _added(row: dict[str, Any], spent: Spend) -> dict[str, Any]:
    cost = row["cost"] if spent.cost is None else (row["cost"] or 0.0) + spent.cost
    return {"lm_calls": row["lm_calls"] + spent.requests, "lm_answered": row["lm_answered"] + spent.answered,
            "prompt_tokens": row["prompt_tokens"] + spent.prompt_tokens,
            "completion_tokens": row["completion_tokens"] + spent.completion_tokens, "cost": cost}


def _node_row(node_id: str, op: str | None) -> dict[str, Any]:
    return {"id": node_id, "op": op, "ok": 0, "failed": 0, "lm_calls": 0, "lm_answered": 0, "cache_hits": 0,
            "from_parent": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": None}


def _short_json(outputs: dict[str, Any] | None) -> str:
    return first_line(json.dumps(outputs, ensure_ascii=False), 60) if outputs is not None else ""


def _show_text(head: dict[str, Any], items: list[dict[str, Any]], nodes: list[dict[str, Any]], store: str) -> str:
    counts = head["items"]
    lines = [f"run {head['run_id']}  {head['status']}  (plan {head['plan']['name']}, {head['plan']['nodes']} nodes)",
             f"created {utc(head['created_at'])} UTC, parent {head['parent'] or '-'}, store {store}"]
    if head["held_by"]:
        held = head["held_by"]
        lines.append(f"running now: pid {held['pid']} on {held['host']} (lease until {utc(held['expires_at'])} UTC)")
    waiting = f", {counts['waiting']} waiting" if counts["waiting"] else ""
    t = head["totals"]
    lines.append(f"run totals: {spending_text(t['lm_calls'], t['lm_answered'], t['prompt_tokens'], t['completion_tokens'], t['cost'])}")
    lines += ["", f"items: {counts['total']} ({counts['done']} done, {counts['failed']} failed{waiting})"]
    lines.append(table(["ITEM", "STATUS", "OUTPUTS", "ERROR"],
                       [[i["id"], i["status"], _short_json(i["outputs"]), first_line(i["error"])] for i in items]))
    lines += ["", "nodes:"]
    lines.append(table(["NODE", "OK", "FAILED", "LM CALLS", "CACHE HITS", "FROM PARENT", "TOKENS", "COST"],
                       [[n["id"], n["ok"], n["failed"], n["lm_calls"], n["cache_hits"], n["from_parent"],
                         n["prompt_tokens"] + n["completion_tokens"], cost_text(n["cost"])] for n in nodes]))
    failed = [i for i in items if i["error"]]
    if failed:
        lines += ["", "errors:"]
        for i in failed:
            lines.append(f"item {i['id']}:")
            lines.extend(f"  {line}" for line in i["error"].splitlines())
    return "\n".join(lines)
