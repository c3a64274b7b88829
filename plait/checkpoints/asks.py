"""Questions to people, as the store keeps them: one row per ask, keyed by
(run, item, node, iteration, ask index), holding the question, its context, the expected answer
fields, the deadline and default, and, once given, the answer and who gave it.

An ask is recorded before its item waits and answered at most once: a second answer, or a default
applied at the deadline after a person answered, changes nothing (``WHERE answer IS NULL``).
Answers are written without the run's lease: a person may answer while a process runs the run,
and the next resume uses the answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from plait.checkpoints.run_numbers import NUMBER_OF
from plait.ir.nodes import Field
from plait.ir.types import type_from_json, type_name


@dataclass(frozen=True)
class Question:
    """One question an item asked. ``fields``: the expected answer, [[name, type as JSON], ...];
    ``answered_by``: 'human' or 'default' (the deadline passed). ``ask``: its index in the node
    (0 for a HumanInput node; the n-th ``plait.ask`` call of a step)."""

    run_id: str
    item_id: str
    node_id: str
    iteration: int
    ask: int
    question: str
    context: dict[str, Any]
    fields: list[list[Any]]
    deadline: float | None = None
    default: dict[str, Any] | None = None
    asked_at: float = 0.0
    answer: dict[str, Any] | None = None
    answered_at: float | None = None
    answered_by: str | None = None

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.run_id, self.item_id, self.node_id, self.iteration, self.ask)

    @property
    def expected(self) -> dict[str, str]:
        """The answer's fields and their types, readable: {'approved': 'bool'}."""
        return {name: type_name(type_from_json(t)) for name, t in self.fields}

    def answer_fields(self) -> tuple[Any, ...]:
        return tuple(Field(name, type_from_json(t)) for name, t in self.fields)

    def overdue(self, now: float | None = None) -> bool:
        return self.deadline is not None and (time.time() if now is None else now) >= self.deadline


COLUMNS = ("run_id, item_id, node_id, iteration, ask_index, question, context, fields, deadline,"
            " default_answer, asked_at, answer, answered_at, answered_by")
_KEY = "run_id=? AND item_id=? AND node_id=? AND iteration=? AND ask_index=?"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _question(row: tuple) -> Question:
    (run_id, item_id, node_id, iteration, index, question, context, fields, deadline, default, asked_at,
     answer, answered_at, by) = row
    return Question(run_id, item_id, node_id, iteration, index, question, json.loads(context), json.loads(fields),
                    deadline, _load(default), asked_at, _load(answer), answered_at, by)


class StoredAsks:
    """The asks table's methods, mixed into the SQL stores (sql_store.py provides _transact, _query,
    _one and _check_holder). Asks keep the run's id (they are few); the items they mark waiting are
    keyed by its number (run_numbers.py)."""

    def record_ask(self, q: Question, *, owner: str | None = None) -> None:
        """Record the question (once) and mark its item waiting, in one transaction."""
        def work(tx: Any) -> None:
            if owner is not None:
                self._check_holder(tx, q.run_id, owner)
            tx.execute(f"INSERT INTO asks ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       (*q.key, q.question, _dump(q.context), _dump(q.fields), q.deadline, _dump(q.default),
                        q.asked_at, _dump(q.answer), q.answered_at, q.answered_by))
            tx.execute("UPDATE items SET status='waiting', error=NULL"
                       f" WHERE run_no=({NUMBER_OF}) AND item_id=?", (q.run_id, q.item_id))

        self._transact(work)

    def asks(self, run_id: str, *, unanswered: bool = False) -> list[Question]:
        """The run's questions in the order they were asked; ``unanswered``: only those that wait."""
        where = " AND answer IS NULL" if unanswered else ""
        rows = self._query(f"SELECT {COLUMNS} FROM asks WHERE run_id=?{where}"
                           " ORDER BY asked_at, item_id, node_id, iteration, ask_index", (run_id,))
        return [_question(r) for r in rows]

    def question(self, key: tuple[str, str, str, int, int]) -> Question | None:
        """The question at (run, item, node, iteration, ask index), answered or not."""
        row = self._one(f"SELECT {COLUMNS} FROM asks WHERE {_KEY}", key)
        return _question(row) if row else None

    def answer_ask(self, key: tuple[str, str, str, int, int], answer: dict[str, Any], by: str) -> Question | None:
        """Record the answer unless one is recorded; return the question as stored afterwards
        (with whichever answer came first), None if nobody asked it. The item stays 'waiting'
        while another of its questions is unanswered, else becomes 'pending' (ready to resume)."""
        def work(tx: Any) -> tuple | None:
            tx.execute(f"UPDATE asks SET answer=?, answered_at=?, answered_by=? WHERE {_KEY} AND answer IS NULL",
                       (_dump(answer), time.time(), by, *key))
            row = tx.execute(f"SELECT {COLUMNS} FROM asks WHERE {_KEY}", key).fetchone()
            (left,) = tx.execute("SELECT COUNT(*) FROM asks WHERE run_id=? AND item_id=? AND answer IS NULL",
                                 key[:2]).fetchone()
            tx.execute(f"UPDATE items SET status=? WHERE run_no=({NUMBER_OF}) AND item_id=? AND status='waiting'",
                       ("waiting" if left else "pending", *key[:2]))
            return row

        row = self._transact(work)
        return _question(row) if row else None
