"""``plait copy``: move runs between stores, with everything they reference (see
plait/checkpoints/transfer.py), so that a notebook's SQLite runs can be shared on PostgreSQL."""

from __future__ import annotations

import click

from plait.checkpoints.lease import is_active
from plait.checkpoints.location import open_location
from plait.checkpoints.transfer import Copied, copy_runs
from plait.cli.common import DEFAULT_STORE, emit_json, existing_store, json_option, resolve_run, say, usage


@click.command(epilog="""\b
Examples:
  plait copy latest --to postgresql://me@db.internal/plait
  plait copy --all --from notebook.db --to postgresql://me@/plait?host=/var/run/postgresql
  plait copy 20261124-011635 --from postgresql://me@db.internal/plait --to mine.db
\b
A run takes along its plan, items, journal, questions, the values they reference and
the cache entries of those values: a resume or rerun in the destination replays it
with no LM call. Copying again adds only what the destination lacks; rows it has
are kept. Leases stay behind: the copy is not running anywhere.""")
@click.argument("run_refs", nargs=-1, metavar="[RUN]...")
@click.option("--all", "all_runs", is_flag=True, help="Copy every run of the source store.")
@click.option("--from", "source", default=DEFAULT_STORE, show_default=True, envvar="PLAIT_STORE", show_envvar=True,
              metavar="STORE", help="The store to copy from: an SQLite file, or postgresql://user@host/db.")
@click.option("--to", "target", required=True, metavar="STORE",
              help="The store to copy into (created if missing): an SQLite file, or postgresql://user@host/db.")
@json_option
def copy(run_refs: tuple[str, ...], all_runs: bool, source: str, target: str, as_json: bool) -> None:
    """Copy runs, with everything they reference, from one store to another."""
    if not run_refs and not all_runs:
        raise usage("name the runs to copy", found="no RUN and no --all",
                    fix="pass run ids (a unique prefix, or `latest`) or --all; `plait runs --store STORE` lists them")
    with existing_store(source) as opened:
        run_ids = [r.run_id for r in opened.list_runs()] if all_runs else [resolve_run(opened, r) for r in run_refs]
        busy = [run_id for run_id in run_ids if is_active(opened.lease(run_id))]
        destination = open_location(target)
        try:
            copied = copy_runs(opened, destination, run_ids)
            report = {"from": opened.path, "to": destination.path, "runs": [_row(c, c.run_id in busy) for c in copied]}
        finally:
            destination.close()
    if as_json:
        emit_json(report)
        return
    for row in report["runs"]:
        click.echo(_line(row))
    for run_id in busy:
        say(f"plait: run {run_id} was running in {report['from']}: copy it again once it ends to take the rest")


def _row(copied: Copied, running: bool) -> dict:
    return {"run_id": copied.run_id, "already_there": copied.already_there, "added": copied.added,
            "running_in_source": running}


def _line(row: dict) -> str:
    if row["already_there"]:
        return f"{row['run_id']}: already there"
    added = row["added"]
    return (f"{row['run_id']}: copied {added['items']} items, {added['journal']} journal rows, {added['blobs']} values,"
            f" {added['cache']} cache entries, {added['asks']} questions")
