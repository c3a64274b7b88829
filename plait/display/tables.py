"""A run as tables: one row per item (``run.to_pandas()``) and one row per node
(``run.node_table()``). The rows are plain dicts; pandas is needed only for the DataFrames."""

from __future__ import annotations

from typing import Any

from plait.errors import PlaitError
from plait.ir.nodes import Op
from plait.runtime.tally import NodeCounts


def output_names(run: Any) -> list[str]:
    """The pipeline's output fields, in order: from the plan, else from the items that finished."""
    if run.plan is not None:
        return [p.name for node in run.plan.of_op(Op.OUTPUT) for p in node.inputs]
    names: dict[str, None] = {}
    for r in run.items:
        names.update(dict.fromkeys(dict(r.outputs or {})))
    return list(names)


def item_rows(run: Any) -> list[dict[str, Any]]:
    """Per item: its id, status, error, and each output field (None where it did not finish)."""
    names = output_names(run)
    rows = []
    for r in run.items:
        outputs = dict(r.outputs or {})
        rows.append({"item": r.item_id, "status": r.status, "error": r.error,
                     **{name: outputs.get(name) for name in names}})
    return rows


def node_rows(run: Any) -> list[dict[str, Any]]:
    """Per node the run executed (plan order; INPUT and OUTPUT have no events): op and counts."""
    tally = run.tally.nodes if run.tally is not None else {}
    nodes = [n for n in run.plan.nodes if n.op not in (Op.INPUT, Op.OUTPUT)] if run.plan is not None else []
    ops = {n.id: getattr(n.op, "value", str(n.op)) for n in nodes}
    ids = [*ops, *(nid for nid in tally if nid not in ops)]  # a node only the events know comes last
    return [{"node": nid, "op": ops.get(nid), **tally.get(nid, NodeCounts()).as_dict()} for nid in ids]


def items_frame(run: Any) -> Any:
    return _pandas("run.to_pandas()").DataFrame(item_rows(run), columns=["item", "status", "error", *output_names(run)])


def nodes_frame(run: Any) -> Any:
    columns = ["node", "op", *NodeCounts().as_dict()]
    return _pandas("run.node_table()").DataFrame(node_rows(run), columns=columns)


def _pandas(caller: str) -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise PlaitError(f"{caller} needs pandas, which is not installed", found=f"{type(exc).__name__}: {exc}",
                         fix="pip install 'plait[notebook]' (or pip install pandas); the run itself is "
                             "unaffected: run.items holds every item's outputs and error") from None
    return pandas
