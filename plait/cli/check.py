"""``plait check``: is the store whole? Each problem with its table, its row and the fix."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from plait.checkpoints.check import StoreCheck, check_store, unopened
from plait.checkpoints.location import is_server, open_location
from plait.checkpoints.urls import redact
from plait.cli.common import FAILURE, OK, emit_json, exit_with, json_option, store_option, usage
from plait.errors import StoreError


@click.command(epilog="""\b
Examples:
  plait check
  plait check --store runs.db --full
  plait check --json
  plait check --store postgresql://me@db.internal/plait
\b
Reads only: nothing is repaired or deleted. On a PostgreSQL store it checks
the schema, the references and the values; the server keeps its own pages
(--full adds nothing there). Exit status: 0 the store is whole, 1 it is
damaged (each problem is listed with the fix), 2 no store at that path.""")
@click.option("--full", is_flag=True,
              help="PRAGMA integrity_check instead of quick_check: also compares every index with its table (slower).")
@store_option
@json_option
def check(full: bool, store: str, as_json: bool) -> None:
    """Check the store: SQLite's pages, the schema, the references between tables, and every value."""
    if not is_server(store) and not Path(store).exists():
        raise usage(f"no plait store at {store}", found="no such file",
                    fix="pass --store PATH or set $PLAIT_STORE to the store your runs wrote")
    report = _check_server(store, full) if is_server(store) else check_store(store, full=full)
    if as_json:
        emit_json(_as_json(report))
    else:
        click.echo(_as_text(report))
    exit_with(OK if report.ok else FAILURE)


def _check_server(url: str, full: bool) -> StoreCheck:
    try:
        opened = open_location(url, create=False)
    except StoreError as exc:
        return unopened(redact(url), exc)
    try:
        return opened.check(full=full)
    finally:
        opened.close()


def _as_json(report: StoreCheck) -> dict[str, Any]:
    return {"store": report.path, "ok": report.ok, "checked": report.checked, "rows": report.rows,
            "problems": [asdict(p) for p in report.problems], "unlisted": report.unlisted}


def _as_text(report: StoreCheck) -> str:
    verdict = "ok, no problems" if report.ok else f"damaged, {_problems(report.found)}"
    lines = [f"plait check {report.path}: {verdict}", "checked:"]
    lines += [f"  {line}" for line in report.checked]
    if report.rows:
        lines.append("rows: " + ", ".join(f"{table} {count}" for table, count in report.rows.items()))
    for number, p in enumerate(report.problems, 1):
        lines += [f"problem {number} ({p.check}): {p.where}", f"  {p.what}", f"  fix: {p.fix}"]
    if report.unlisted:
        lines.append(f"... and {_problems(report.unlisted)} more of the same kinds, not listed")
    return "\n".join(lines)


def _problems(count: int) -> str:
    return f"{count} problem" if count == 1 else f"{count} problems"
