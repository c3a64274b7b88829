"""Moving whole runs between stores (``plait copy``): a run read out of one store as rows, and
written into another, idempotently.

What a run takes along: its run row and plan, its items, its journal, its questions, every value
those reference (item inputs, node outputs), and the cache entries that point at those values, so
that a resume or a rerun in the destination replays with no LM call. Leases stay behind: a copy is
not running anywhere. The rows are the tables' own, in the column order both stores share, except
that items and journal rows name their run by its id: each store numbers its runs its own way
(run_numbers.py), and the destination stores them under the number the run has there.

Writing is idempotent: a row the destination already has is kept as it is, never overwritten, so a
copy can be repeated or interrupted and run again. A journal row the destination has as 'ok' is
final there, as it is for ``record``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from plait.checkpoints.asks import COLUMNS as ASK_COLUMNS
from plait.checkpoints.run_numbers import NUMBER_OF

RUN_COLUMNS = "run_id, plan_hash, parent_run, status, created_at, updated_at, config"
# journal and items name their run by its number in the store (run_numbers.py): a run's rows carry
# its id instead between stores, whose numbers differ
ITEM_COLUMNS = "run_no, item_id, position, input_hash, status, error"
JOURNAL_COLUMNS = ("run_no, item_id, node_id, iteration, content_key, value_hash, status, source, error, lm, usage,"
                   " attempts, recorded_at, replay_key, requests, answered, prompt_tokens, completion_tokens, cost")
_RUN_VALUES = """SELECT input_hash FROM items WHERE run_no=?
    UNION SELECT value_hash FROM journal WHERE run_no=? AND value_hash IS NOT NULL"""
_NUMBERED = ("items", "journal")  # the tables whose first column is the run's number (its id, in RunRows)


@dataclass
class RunRows:
    """One run as rows of its store's tables (see the module docstring for what is included); the
    items' and journal's rows name the run by its id, where the tables hold its number."""

    run_id: str
    run: tuple
    plan: tuple
    items: list[tuple] = field(default_factory=list)
    journal: list[tuple] = field(default_factory=list)
    asks: list[tuple] = field(default_factory=list)
    values: list[tuple] = field(default_factory=list)
    cache: list[tuple] = field(default_factory=list)


# (table, its columns, the RunRows field) in the order a destination takes them: what a row
# references is written before the row.
_TABLES = (("plans", "plan_hash, plan_json, saved_at", "plan"), ("blobs", "hash, data", "values"),
           ("runs", RUN_COLUMNS, "run"), ("items", ITEM_COLUMNS, "items"), ("journal", JOURNAL_COLUMNS, "journal"),
           ("asks", ASK_COLUMNS, "asks"), ("cache", "content_key, value_hash", "cache"))


class RunTransfer:
    """export_run and import_run, mixed into the SQL stores (which provide _transact)."""

    _transact: Callable[..., Any]

    def export_run(self, run_id: str) -> RunRows:
        """The run's rows, read in one transaction; RunNotFound if the store has no such run."""
        self.get_run(run_id)  # type: ignore[attr-defined]  # RunNotFound, with its fix
        return self._transact(lambda tx: _export(tx, run_id), commit=False)

    def import_run(self, rows: RunRows) -> dict[str, int]:
        """Write the rows the store does not have yet, in one transaction; per table, how many were new."""
        return self._transact(lambda tx: {table: _insert(tx, table, columns, _rows_of(rows, name))
                                          for table, columns, name in _TABLES})


def _export(tx: Any, run_id: str) -> RunRows:
    def rows(sql: str, *args: Any) -> list[tuple]:
        return [tuple(r) for r in tx.execute(sql, args).fetchall()]

    (run,) = rows(f"SELECT {RUN_COLUMNS}, run_no FROM runs WHERE run_id=?", run_id)
    number, run = run[-1], run[:-1]
    (plan,) = rows("SELECT plan_hash, plan_json, saved_at FROM plans WHERE plan_hash=?", run[1])
    return RunRows(
        run_id, run, plan,
        items=[(run_id, *r[1:]) for r in rows(f"SELECT {ITEM_COLUMNS} FROM items WHERE run_no=? ORDER BY position",
                                              number)],
        journal=[(run_id, *r[1:]) for r in rows(f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE run_no=?", number)],
        asks=rows(f"SELECT {ASK_COLUMNS} FROM asks WHERE run_id=?", run_id),
        values=[(h, bytes(d)) for h, d in rows(f"SELECT hash, data FROM blobs WHERE hash IN ({_RUN_VALUES})",
                                               number, number)],
        cache=rows("SELECT content_key, value_hash FROM cache WHERE value_hash IN"
                   " (SELECT value_hash FROM journal WHERE run_no=?)", number))



def _rows_of(rows: RunRows, name: str) -> list[tuple]:
    value = getattr(rows, name)
    return [value] if isinstance(value, tuple) else sorted(value)  # sorted: concurrent copies never deadlock


def _insert(tx: Any, table: str, columns: str, rows: Sequence[tuple]) -> int:
    marks = ",".join("?" * (columns.count(",") + 1))
    if table in _NUMBERED:  # the row names its run by id: it is stored under the number the run has here
        marks = f"({NUMBER_OF}){marks[1:]}"
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    return sum(tx.execute(sql, row).rowcount for row in rows)


@dataclass(frozen=True)
class Copied:
    """What copying one run added to the destination: new rows per table (all 0: it was there)."""

    run_id: str
    added: dict[str, int]

    @property
    def already_there(self) -> bool:
        return not any(self.added.values())


def copy_runs(source: Any, target: Any, run_ids: Sequence[str]) -> list[Copied]:
    """Copy ``run_ids`` from ``source`` to ``target`` (any two stores), one transaction per run.

    Example::

        copy_runs(SQLiteStore("runs.db"), open_location("postgresql://me@db/plait"), ["20261124-..."])
    """
    return [Copied(run_id, target.import_run(source.export_run(run_id))) for run_id in run_ids]
