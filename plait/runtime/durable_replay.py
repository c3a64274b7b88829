"""Replaying a journaled DSPy program's calls, and knowing when a replay has left the record.

An item's calls are numbered in the order its ``forward`` makes them (the *ordinal*); each is
journaled under (run, item, call path, ordinal), the way Temporal and DBOS number a workflow's
steps. On resume ``forward`` runs again from the start, and the call at ordinal n must be the one
recorded at n: the same predictor (or tool), the same prompt state and the same inputs. Then its
recorded output returns with no LM call. Anything else means the program took another path than
the recorded one (its code, its prompts or the data changed, or it is not deterministic outside
its LM calls), and replaying further would mix two executions: :class:`ReplayDiverged`.
"""

from __future__ import annotations

import json
from typing import Any

from plait.checkpoints.protocol import JournalRow, Status
from plait.errors import PlaitError


class ReplayDiverged(PlaitError):
    """A resumed item asked, at some call ordinal, another call than the one its journal records."""


def recorded_calls(rows: dict[tuple[str, str, int], JournalRow], call_ids: set[str]) -> dict[str, dict[int, JournalRow]]:
    """item id -> ordinal -> the call recorded there (finished calls only)."""
    calls: dict[str, dict[int, JournalRow]] = {}
    for (item_id, node_id, ordinal), row in rows.items():
        if node_id in call_ids and row.status == Status.OK:
            calls.setdefault(item_id, {})[ordinal] = row
    return calls


def check_same_call(row: JournalRow, item_id: str, node_id: str, ordinal: int, replay: str,
                    inputs: dict[str, Any], source: Any = None) -> None:
    """Raise ReplayDiverged unless ``row`` (recorded at ``ordinal``) is this call."""
    if row.node_id == node_id and row.replay_key == replay:
        return
    if row.node_id != node_id:
        what = f"a call of '{row.node_id}'"
        asked = f"a call of '{node_id}' with {_short(inputs)}"
    else:
        what = f"a call of '{node_id}' with other inputs or another prompt state than now"
        asked = f"'{node_id}' with {_short(inputs)} (other inputs, or an edited prompt or demos)"
    raise ReplayDiverged(
        f"item {item_id}: the replay diverged at call {ordinal}: forward asked {asked}, but the run recorded {what}",
        node=node_id, source=source, expected=f"call {ordinal} as recorded: {what}", found=asked,
        fix="forward must make the same calls in the same order when it runs again: keep the program, its "
            "prompts and the item as they were and resume, or start a new run (program.run(...)) for the "
            "changed program; randomness or clocks outside the LM calls must be made deterministic")


def _short(inputs: Any) -> str:
    text = json.dumps(inputs, default=repr, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."
