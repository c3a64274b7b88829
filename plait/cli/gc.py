"""``plait gc``: delete runs, then every value, cache entry and plan no remaining run uses."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Any

import click

from plait.checkpoints.lease import is_active
from plait.cli.common import STATUSES, emit_json, existing_store, human_bytes, json_option, resolve_run, store_option

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Age(click.ParamType):
    """A duration such as 90s, 30m, 12h, 7d or 2w, in seconds."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(value))
        if not match:
            self.fail(f"'{value}' is not an age; write a number and a unit: 90s, 30m, 12h, 7d or 2w", param, ctx)
        return float(match.group(1)) * _UNITS[match.group(2)]


@click.command(epilog="""\b
Examples:
  plait gc --dry-run                         # only values no run uses any more
  plait gc --older-than 7d --dry-run
  plait gc --status failed --keep-latest 10
  plait gc --run 20261124-011635-3f9a2c --json
  plait gc --superseded --dry-run            # older runs of each name (`plait run --name`)
\b
Filters combine: a run is deleted when it matches all of them. With none, no run
is deleted and only unreferenced values are collected. A run another process is
running now is never deleted. Afterwards the file is compacted (VACUUM).""")
@click.option("--run", "run_ids", multiple=True, metavar="RUN", help="Delete this run (repeatable).")
@click.option("--older-than", "older_than", type=Age(), help="Delete runs created longer ago than this: 12h, 7d, 2w.")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Delete runs with this status.")
@click.option("--keep-latest", type=click.IntRange(0), help="Never delete the N most recent runs.")
@click.option("--superseded", is_flag=True,
              help="Delete runs a later run of the same name replaced (interrupted ones included); "
                   "the latest run of each name is kept. Unnamed runs are not superseded.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@store_option
@json_option
def gc(run_ids: tuple[str, ...], older_than: float | None, statuses: tuple[str, ...], keep_latest: int | None,
       superseded: bool, dry_run: bool, store: str, as_json: bool) -> None:
    """Delete runs and the values nothing references, then compact.

    Values (node outputs and item inputs), cache entries and plans are deleted once no
    remaining run references them."""
    with existing_store(store) as opened:
        selected, skipped = _select(opened, run_ids, older_than, statuses, keep_latest, superseded)
        before = opened.size_bytes()
        garbage = opened.collect_garbage(selected, dry_run=dry_run)
        if not dry_run:
            opened.vacuum()
        after = opened.size_bytes()
    report = {"dry_run": dry_run, **asdict(garbage), "runs": list(garbage.runs), "skipped_running": skipped,
              "store_bytes_before": before, "store_bytes_after": after, "bytes_freed": before - after}
    if as_json:
        emit_json(report)
    else:
        click.echo(_text(report))


def _select(store: Any, run_ids: tuple[str, ...], older_than: float | None, statuses: tuple[str, ...],
            keep_latest: int | None, superseded: bool = False) -> tuple[list[str], list[str]]:
    """(runs to delete, runs spared because a live process holds them)."""
    records = store.list_runs()
    run_ids = tuple(resolve_run(store, r) for r in run_ids)
    if not (run_ids or older_than is not None or statuses or keep_latest is not None or superseded):
        return [], []
    now = time.time()
    protected = {r.run_id for r in records[len(records) - keep_latest:]} if keep_latest else set()
    replaced = replaced_runs(records) if superseded else set()
    chosen = [r.run_id for r in records
              if (not run_ids or r.run_id in run_ids)
              and (older_than is None or r.created_at < now - older_than)
              and (not statuses or r.status in statuses)
              and (not superseded or r.run_id in replaced)
              and r.run_id not in protected]
    if run_ids:  # asked for by name: a live holder is an error, raised by the store
        return chosen, []
    running = [r for r in chosen if is_active(store.lease(r), now)]
    return [r for r in chosen if r not in running], running


def replaced_runs(records: list[Any]) -> set[str]:
    """Runs with a name that a later run of the same name replaced (``records`` oldest first)."""
    latest = {r.config["name"]: r.run_id for r in records if r.config.get("name")}
    return {r.run_id for r in records if r.config.get("name") and latest[r.config["name"]] != r.run_id}


def _text(report: dict[str, Any]) -> str:
    verb = "would delete" if report["dry_run"] else "deleted"
    runs = report["runs"]
    shown = ", ".join(runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
    lines = [f"{verb} {len(runs)} runs" + (f": {shown}" if runs else ""),
             f"  {report['items']} items, {report['journal_rows']} journal rows; {report['values']} values "
             f"({human_bytes(report['value_bytes'])}), {report['cache_entries']} cache entries, "
             f"{report['plans']} plans"]
    if report["skipped_running"]:
        lines.append(f"  spared {len(report['skipped_running'])} runs a process is running now: "
                     + ", ".join(report["skipped_running"]))
    if report["dry_run"]:
        lines.append("  (dry run: nothing was deleted)")
    else:
        lines.append(f"freed {human_bytes(report['bytes_freed'])}: the store is now "
                     f"{human_bytes(report['store_bytes_after'])}")
    return "\n".join(lines)
