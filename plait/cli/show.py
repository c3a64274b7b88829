"""``plait runs`` and ``plait show``: what the store holds, read without importing any user code,
DSPy or an LM library (tests/cli/test_cli_startup.py keeps them fast)."""

from __future__ import annotations

import json
from typing import Any

import click

from plait.checkpoints.lease import is_active
from plait.checkpoints.spend import Spend, cost_text, total_spend
from plait.checkpoints.urls import redact
from plait.cli.answer import question_row, questions_table
from plait.cli.common import (STATUSES, emit_json, existing_store, first_line, iso, json_option, resolve_run, say,
                              store_option, table, utc)
from plait.cli.spending import spend_json, spending_text


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
        outputs = _stored_outputs(opened, plan, journal)
    head["plan"] = {"name": plan.get("name"), "hash": record.plan_hash, "nodes": len(plan.get("nodes", []))}
    item_rows = [{"id": i.item_id, "position": i.position, "status": i.status, "error": i.error,
                  "outputs": outputs.get(i.item_id)} for i in items]
    if as_json:
        emit_json({"run": head, "items": item_rows, "nodes": nodes, "waiting": [question_row(q) for q in waiting]})
    else:
        click.echo(_show_text(head, item_rows, nodes, redact(store)))
        if waiting:
            click.echo(f"\nwaiting for answers (plait answer {run_id} --item ID --node NODE --value ...):")
            click.echo(questions_table(waiting))


def _stored_outputs(opened: Any, plan: dict[str, Any], journal: dict) -> dict[str, Any]:
    """Each done item's outputs, as the JSON its output node recorded: read without importing the
    plan's steps or types (they may live elsewhere) and without DSPy, so `plait show` starts fast."""
    output_ids = {n["id"] for n in plan.get("nodes", []) if n.get("op") == "output"}
    return {item_id: json.loads(opened.read_value(row.value_hash))
            for (item_id, node_id, _), row in journal.items()
            if node_id in output_ids and row.status == "ok" and row.value_hash is not None}


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
