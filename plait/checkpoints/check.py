"""Is a store whole? The checks behind ``plait check``, ``SQLiteStore.check`` and
``PostgresStore.check`` (which runs all but the first: the server keeps its own pages):

- pages: SQLite's own check of every page (``PRAGMA quick_check``; with ``full``,
  ``integrity_check``, which also compares every index with its table, more slowly);
- schema: the version, and every table and column this plait expects at that version;
- references: every journal row, cache entry and item names a value that is stored; journal
  rows, items and asks belong to an item or run that exists; every run's plan is stored;
- values: every stored value and plan matches its hash and parses as JSON.

Each problem names the table and row, what is wrong and the fix. Checking only reads: nothing is
repaired, migrated or deleted.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from plait.checkpoints import sqlite_schema as schema
from plait.checkpoints.layout import key_text
from plait.errors import StoreError
from plait.hashing import sha256_hex

LISTED = 20  # problems listed per kind; beyond that they are only counted
Query = Callable[..., Sequence[tuple]]  # query(sql, args=()) -> rows, with '?' marks
Check = Callable[["StoreCheck"], None]

FIX_PAGES = ("restore the store from a copy; `sqlite3 {path} .recover | sqlite3 new.db` salvages what is "
             "readable into a new file")
_FIX_LEFTOVER = "leftovers of a deleted run, harmless: with no plait process using the store, run "

# Each reference: (name, the rows that break it, where, what, fix); the texts are formatted with
# the row's columns ({0}, {1}, ...; a stored hash as its hex text), the store's path ({path}), the
# command that runs SQL on it ({shell}) and the first column as an SQL literal ({literal0}).
# journal and items hold a run's number (run_numbers.py): a row names its run by the id the runs
# table has for it, or by that number once its run is gone.
_RUN_OF = "COALESCE(r.run_id, CAST(t.run_no AS TEXT))"
_NAMED = "LEFT JOIN runs r ON r.run_no = t.run_no"
REFERENCES = [
    ("journal -> values",
     f"SELECT {_RUN_OF}, t.item_id, t.node_id, t.iteration, t.value_hash FROM journal t {_NAMED}"
     " WHERE t.value_hash IS NOT NULL AND t.value_hash NOT IN (SELECT hash FROM blobs)",
     "journal (run {0}, item {1}, node {2}, iteration {3})",
     "the value {4:.12} this row recorded is missing from blobs",
     "recompute the node in a fork, where everything upstream replays: plait rerun {0} --from {2}; "
     "or restore the store from a copy"),
    ("cache -> values",
     "SELECT content_key, value_hash FROM cache WHERE value_hash NOT IN (SELECT hash FROM blobs)",
     "cache (content key {0:.12})",
     "the value {1:.12} this entry names is missing from blobs: a run that reuses it fails",
     "with no plait process using the store, delete the entry (the next run recomputes the node): "
     "{shell}\"DELETE FROM cache WHERE content_key={literal0}\""),
    ("items -> values",
     f"SELECT {_RUN_OF}, t.item_id, t.input_hash FROM items t {_NAMED}"
     " WHERE t.input_hash NOT IN (SELECT hash FROM blobs)",
     "items (run {0}, item {1})",
     "the item's input {2:.12} is missing from blobs: the item cannot run again",
     "delete the run with `plait gc --run {0}` and run its items again, or restore the store from a copy"),
    ("journal -> items",
     f"SELECT DISTINCT {_RUN_OF}, t.item_id, t.run_no FROM journal t {_NAMED}"
     " WHERE (t.run_no, t.item_id) NOT IN (SELECT run_no, item_id FROM items)",
     "journal (run {0}, item {1})",
     "journal rows of an item that run {0} does not have",
     _FIX_LEFTOVER + "{shell}\"DELETE FROM journal WHERE run_no={2} AND item_id='{1}'\""),
    ("items -> runs",
     "SELECT DISTINCT run_no FROM items WHERE run_no NOT IN (SELECT run_no FROM runs)",
     "items (run number {0})", "items of a run that is not in the runs table",
     _FIX_LEFTOVER + "{shell}\"DELETE FROM items WHERE run_no={0}\""),
    ("asks -> runs",
     "SELECT DISTINCT run_id FROM asks WHERE run_id NOT IN (SELECT run_id FROM runs)",
     "asks (run {0})", "questions of a run that is not in the runs table",
     _FIX_LEFTOVER + "{shell}\"DELETE FROM asks WHERE run_id='{0}'\""),
    ("runs -> plans",
     "SELECT run_id, plan_hash FROM runs WHERE plan_hash NOT IN (SELECT plan_hash FROM plans)",
     "runs (run {0})", "its plan {1:.12} is missing from plans: the run cannot be resumed, forked or shown",
     "delete the run with `plait gc --run {0}`, or restore the store from a copy"),
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong. ``check``: 'open', 'pages', 'schema', 'references' or 'values';
    ``where``: the table and row (or 'the file')."""

    check: str
    where: str
    what: str
    fix: str


@dataclass
class StoreCheck:
    """What checking found. ``checked``: one line per check, saying what it covered; ``rows``:
    rows per table; ``unlisted``: problems found beyond the first LISTED of a kind."""

    path: str
    checked: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unlisted

    @property
    def found(self) -> int:
        return len(self.problems) + self.unlisted

    def add(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems.extend(problems[:LISTED])
        self.unlisted += (len(problems) if total is None else total) - min(len(problems), LISTED)


def check_store(path: str, *, full: bool = False, timeout: float = 60.0) -> StoreCheck:
    """Check the store file at ``path`` without creating, migrating or repairing anything; a file
    that cannot be opened as a plait store is one problem ('open').

    Example::

        report = check_store("runs.db")
        report.ok, [p.where for p in report.problems]
    """
    try:
        schema.check_file(path, create=False)
        conn = schema.connect(path, timeout, "NORMAL", create=False)
    except StoreError as exc:
        return unopened(path, exc)
    try:
        return run_checks(conn, path, full=full)
    finally:
        conn.close()


def unopened(path: str, exc: StoreError) -> StoreCheck:
    """The report on a store that cannot be opened as a plait store: that one problem."""
    report = StoreCheck(path, checked=["open: the store as a plait store"])
    found = f" ({exc.found})" if exc.found else ""
    report.add([Problem("open", "the store", exc.summary + found, exc.fix or "")])
    return report


def run_checks(conn: sqlite3.Connection, path: str, *, full: bool = False) -> StoreCheck:
    """Every check, on an open connection to an SQLite plait store."""
    def query(sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return conn.execute(sql, args).fetchall()

    shell = f"sqlite3 {path} "
    return checked(path, {"pages": lambda report: _pages(conn, report, full),
                          "schema": lambda report: _schema(conn, report),
                          "references": lambda report: _references(conn, query, report, shell),
                          "values": lambda report: values(query, report)})


def checked(path: str, checks: dict[str, Check]) -> StoreCheck:
    """Run each check into one report; one that cannot read the store is a problem, not the end."""
    report = StoreCheck(path)
    for name, check in checks.items():
        try:
            check(report)
        except sqlite3.DatabaseError as exc:
            report.add([Problem(name, "the file", f"cannot read the store: "
                                f"{type(exc).__name__}: {exc}", FIX_PAGES.format(path=path))])
        except StoreError as exc:  # meta no longer says plait, or names a newer schema; a server error
            report.add([Problem(name, "meta", exc.summary + (f" ({exc.found})" if exc.found else ""),
                                exc.fix or "")])
    return report


def _pages(conn: sqlite3.Connection, report: StoreCheck, full: bool) -> None:
    pragma = "integrity_check" if full else "quick_check"
    report.checked.append(f"pages: PRAGMA {pragma}" + (" (every index against its table too)" if full else ""))
    found = [line for (row,) in conn.execute(f"PRAGMA {pragma}(1000)") for line in row.splitlines()
             if not line.startswith("*** in database")]
    if found != ["ok"]:
        fix = FIX_PAGES.format(path=report.path)
        report.add([Problem("pages", "the file", what, fix) for what in found])


def _schema(conn: sqlite3.Connection, report: StoreCheck) -> None:
    version = schema.stored_version(conn, report.path)  # connect refused a foreign or newer file
    tables(lambda sql: conn.execute(sql).fetchall(), report, (version, schema.SCHEMA_VERSION),
           schema.expected_columns(version), schema.columns(conn))


def tables(query: Query, report: StoreCheck, versions: tuple[int, int], expected: dict[str, list[str]],
           found: dict[str, list[str]]) -> None:
    """Every expected table and column is there (``versions``: the store's, and this plait's)."""
    version, current = versions
    older = f" (older than {current}: migrated when a run next opens it)"
    report.checked.append(f"schema: version {version}, {len(expected)} tables" + (older if version < current else ""))
    fix = "the store was changed by something other than plait: restore it from a copy"
    for table, columns in expected.items():
        if table not in found:
            report.add([Problem("schema", table, f"table {table} is missing", fix)])
            continue
        missing = [c for c in columns if c not in found[table]]
        if missing:
            report.add([Problem("schema", table, f"table {table} lacks column(s) {', '.join(missing)}", fix)])
        (report.rows[table],) = query(f"SELECT COUNT(*) FROM {table}")[0]


def literal(stored: Any, blob: str = "X'{}'") -> str:
    """A stored column's value as an SQL literal: a hash's bytes as ``blob`` says (SQLite's X'...')."""
    if isinstance(stored, (bytes, memoryview)):
        return blob.format(bytes(stored).hex())
    return "'" + str(stored).replace("'", "''") + "'"


def _references(conn: sqlite3.Connection, query: Query, report: StoreCheck, shell: str) -> None:
    """The references of a store at this plait's layout; one before schema 8 names runs by id, not number."""
    if "run_no" in schema.columns(conn).get("items", ["run_no"]):
        return references(query, report, shell)
    report.checked.append("references: checked once the store is migrated (the next run, resume or gc does it)")


def references(query: Query, report: StoreCheck, shell: str, blob: str = "X'{}'") -> None:
    """Every reference between tables holds (``shell``: the command that runs SQL on the store;
    ``blob``: how that database writes bytes in SQL)."""
    report.checked.append(f"references: {', '.join(name for name, *_ in REFERENCES)}")
    for name, sql, where, what, fix in REFERENCES:
        if report.rows and any(t not in report.rows for t in re.findall(r"FROM (\w+)", sql)):
            continue  # a table of a later schema version, or one the schema check found missing
        (total,) = query(f"SELECT COUNT(*) FROM ({sql}) AS broken")[0]
        rows = query(f"{sql} LIMIT {LISTED}")
        report.add([Problem("references", where.format(*t), what.format(*t),
                            fix.format(*t, path=report.path, shell=shell, literal0=literal(r[0], blob)))
                    for r, t in ((r, [key_text(v) for v in r]) for r in rows)], total)


def values(query: Query, report: StoreCheck) -> None:
    """Every stored value and plan matches its hash and parses as JSON."""
    report.checked.append("values: every stored value and plan matches its hash and parses as JSON")
    bad, damaged = [], 0
    for stored, data in query("SELECT hash, data FROM blobs"):
        value_hash = key_text(stored)
        if (what := _damage(value_hash, bytes(data))) is not None:
            damaged += 1
            if len(bad) < LISTED:
                bad.append(Problem("values", f"blobs (value {value_hash:.12})", what, _value_fix(query, stored)))
    report.add(bad, damaged)
    bad = []
    for plan_hash, plan_json in query("SELECT plan_hash, plan_json FROM plans"):
        if (what := _damage(plan_hash, str(plan_json).encode())) is not None:
            bad.append(Problem("values", f"plans (plan {plan_hash:.12})", what, _plan_fix(query, plan_hash)))
    report.add(bad)


def _damage(expected_hash: str, data: bytes) -> str | None:
    """What is wrong with a stored value, or None."""
    if sha256_hex(data) != expected_hash:
        return f"its bytes do not match its hash (they hash to {sha256_hex(data):.12})"
    try:
        json.loads(data)
    except ValueError as exc:
        return f"it does not parse as JSON: {exc}"
    return None


def _value_fix(query: Query, value_hash: Any) -> str:
    user = next(iter(query(f"SELECT {_RUN_OF}, t.node_id FROM journal t {_NAMED} WHERE t.value_hash=? LIMIT 1",
                           (value_hash,))), None)
    if user is not None:
        return (f"restore the store from a copy; or recompute the nodes that recorded it in a fork, e.g. "
                f"plait rerun {user[0]} --from {user[1]}")
    item = (query(f"SELECT {_RUN_OF} FROM items t {_NAMED} WHERE t.input_hash=? LIMIT 1", (value_hash,)) or [None])[0]
    if item is not None:
        return (f"it is an item's input: restore the store from a copy, or delete the run with "
                f"`plait gc --run {item[0]}`")
    return "nothing uses it: `plait gc` deletes it"


def _plan_fix(query: Query, plan_hash: str) -> str:
    runs = [r[0] for r in query("SELECT run_id FROM runs WHERE plan_hash=? LIMIT 5", (plan_hash,))]
    if not runs:
        return "no run uses it: `plait gc` deletes it (plans are kept for an hour after they are saved)"
    return (f"the runs with this plan cannot be resumed: restore the store from a copy, or delete them with "
            f"`plait gc {' '.join('--run ' + r for r in runs)}`")
