"""``plait graph``: draw a pipeline's plan, or a run's plan coloured by status, as SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plait.cli.common import emit_json, existing_store, json_option, resolve_run, say, store_option
from plait.cli.targets import load_pipeline, stored_pipeline
from plait.display.status import journal_records, node_statuses
from plait.display.svg import plan_svg


@click.command(epilog="""\b
Examples:
  plait graph app:Pipeline -o plan.svg
  plait graph plan.json -o plan.svg
  plait graph latest -o run.svg          # coloured by status
  plait graph 20261124-011635-3f9a2c > run.svg
\b
TARGET is module:attribute, a plan file, or a run (an id, a unique prefix, or
`latest`). For a run, each node is coloured by its status over the run's items
(done, failed, waiting, running, interrupted, not reached) and says how many
items are in each.""")
@click.argument("target")
@click.option("-o", "--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the SVG to this file (default: stdout).")
@store_option
@json_option
def graph(target: str, out: str | None, store: str, as_json: bool) -> None:
    """Draw a pipeline's plan (or a run's, coloured by status) as SVG."""
    if _names_run(target):
        with existing_store(store) as opened:
            run_id = resolve_run(opened, target)
            plan = stored_pipeline(opened, run_id).plan
            statuses = node_statuses(plan, journal_records(opened.journal(run_id)),
                                     [(i.item_id, i.status) for i in opened.run_items(run_id)])
    else:
        run_id, plan, statuses = None, load_pipeline(target, store).plan, None
    svg = plan_svg(plan, statuses)
    if out:
        Path(out).write_text(svg)
        say(f"plait: drew {len(plan)} nodes to {out}")
    if as_json:
        emit_json(_report(plan, run_id, out, statuses))
    elif not out:
        click.echo(svg)


def _names_run(target: str) -> bool:
    """A run id (or prefix, or `latest`), not module:attribute nor a plan file."""
    return ":" not in target and not target.endswith(".json") and not Path(target).exists()


def _report(plan: Any, run_id: str | None, out: str | None, statuses: dict | None) -> dict[str, Any]:
    nodes = [{"id": n.id, "op": getattr(n.op, "value", str(n.op)),
              **({"status": statuses[n.id].status, "counts": dict(statuses[n.id].counts)} if statuses else {})}
             for n in plan.nodes]
    return {"plan": plan.name, "run_id": run_id, "out": out, "nodes": nodes}
