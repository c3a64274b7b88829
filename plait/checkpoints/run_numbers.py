"""A run's number: what the journal and items tables key their rows by (SQLite schema 8,
PostgreSQL schema 4) instead of the run id's text, which every row repeated (22 bytes of each
journal and items row's key, ~10% of a store).

The store protocol speaks run ids; the SQL stores translate at their boundary, here. The database
gives a run its number when the run is created (SQLite: ``AUTOINCREMENT``; PostgreSQL: an identity
column) and never gives that number again, even after ``plait gc`` deleted the run. So a number,
once read from a committed run row, stays right for as long as the store is open: each store keeps
the numbers it has read. A number read inside a write transaction is not kept: that transaction may
still roll back (PostgreSQL runs it again after a lost connection, and the run gets another number).

Rows that a schema-7 store held for a run that no longer exists (``plait check``'s leftovers) are
kept by the migration under negative numbers, which no run ever gets.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from plait.errors import RunNotFound

NUMBER_OF = "SELECT run_no FROM runs WHERE run_id=?"
Read = Callable[[str, Sequence[Any]], Sequence[tuple]]


class RunNumbers:
    """run id -> run number, for the runs a store has read committed; unknown runs are not kept."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}

    def number(self, run_id: str, read: Read, *, keep: bool) -> int | None:
        """The run's number (None: no such run), known or read with ``read``; kept if ``keep``, which
        only a read outside any write transaction may ask for (see the module docstring)."""
        number = self._known.get(run_id)
        if number is None:
            rows = read(NUMBER_OF, (run_id,))
            number = int(rows[0][0]) if rows else None
            if number is not None and keep:
                self._known[run_id] = number
        return number

    def forget(self, run_ids: Sequence[str]) -> None:
        """Deleted runs: a run created again under the same id gets a new number."""
        for run_id in run_ids:
            self._known.pop(run_id, None)


def missing_run(run_id: str, path: str, what: str, node: str | None = None) -> RunNotFound:
    """Writing ``what`` (of ``node``) for a run the store does not have."""
    return RunNotFound(f"cannot record {what}: no run '{run_id}' in {path}", node=node,
                       expected="a run created (create_run) before anything is recorded for it",
                       found=f"no row for run '{run_id}' in the runs table (never created, or deleted by `plait gc`)",
                       fix="create the run first, or resume it with `plait resume` if it was deleted: "
                           "list the runs with `plait runs`")
