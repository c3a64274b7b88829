"""Jupyter's HTML displays of a compiled pipeline and of a run.

A pipeline shows its DAG, each node's prompt state and its text form; a run shows its counts
(items by status, LM calls, tokens, cost, wall time), its DAG coloured by status, its nodes and
its failed items. Every user string (ids, instructions, demos, outputs, errors) is escaped:
nothing from a pipeline or an LM reply can inject markup or script. One small stylesheet, scoped to
``.plait-display``, styles every display; a wide graph scrolls instead of being cut off.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from plait.checkpoints.spend import cost_text
from plait.display.status import node_statuses
from plait.display.styles import PROMPT_COLUMNS, style_of
from plait.display.svg import Graph, plan_svg
from plait.display.tables import item_rows, node_rows
from plait.ir.plan import Plan
from plait.ir.printer import format_plan

SHOWN_ITEMS = 10
# Scoped to the display's root, so it styles nothing else on a notebook's page; colours inherit
# the page's (light or dark theme) except the lines and the header row's tint.
STYLE = """<style>
.plait-display { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; font-size: 13px; line-height: 1.4; }
.plait-display .plait-title { font-weight: 600; font-size: 14px; margin-bottom: 4px; }
.plait-display .plait-heading { font-weight: 600; margin: 10px 0 4px; }
.plait-display .plait-scroll { overflow-x: auto; max-width: 100%; }
.plait-display table { border-collapse: collapse; font-size: 12px; }
.plait-display th, .plait-display td { padding: 2px 8px; text-align: left; vertical-align: top;
  border-bottom: 1px solid rgba(127, 127, 127, 0.3); }
.plait-display th { background: rgba(127, 127, 127, 0.12); font-weight: 600; }
.plait-display pre { font-size: 12px; max-height: 24em; overflow: auto; margin: 4px 0; }
.plait-display summary { cursor: pointer; }
</style>"""


def pipeline_html(plan: Plan) -> str:
    return _section(f"plan {plan.name} ({len(plan)} nodes)", [
        _scroll(plan_svg(plan)),
        _heading("prompt state"), table_html(PROMPT_HEADERS, prompt_rows(plan)),
        f"<details><summary>text form</summary><pre>{_esc(format_plan(plan))}</pre></details>"])


PROMPT_HEADERS = ["node", "op", *PROMPT_COLUMNS]


def prompt_rows(plan: Plan) -> list[list[Any]]:
    """Per node: its prompt state (PREDICT), its function and version (STEP), ... by its op's style."""
    return [[node.id, getattr(node.op, "value", str(node.op)), *style_of(node).prompt_row(node)]
            for node in plan.nodes]


def run_statuses(run: Any) -> dict | None:
    if run.plan is None:
        return None
    records = run.tally.cells if run.tally is not None else {}
    return node_statuses(run.plan, records, [(r.item_id, r.status) for r in run.items])


def run_graph(run: Any) -> Graph | None:
    statuses = run_statuses(run)
    return Graph(plan_svg(run.plan, statuses)) if statuses is not None else None


def run_html(run: Any) -> str:
    parts = [table_html(["", ""], summary_rows(run))]
    graph = run_graph(run)
    if graph is not None:
        parts += [_heading("graph"), _scroll(graph.svg)]
    nodes = node_rows(run)
    if nodes:
        parts += [_heading("nodes"), table_html(list(nodes[0]), [_rounded(row.values()) for row in nodes])]
    parts += _items_parts(run)
    return _section(f"run {run.id}: {run.status}", parts)


def summary_rows(run: Any) -> list[list[Any]]:
    """The run's totals over every invocation (LM calls sent, answered or not; tokens and cost of
    every reply), then what this invocation did, when it is not the whole run."""
    s, statuses = run.stats, Counter(r.status for r in run.items)
    t = getattr(run, "totals", None) or s
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    rows = [["items", f"{len(run.items)} ({by_status or 'none'})"],
            ["LM calls", f"{t.lm_calls} ({t.lm_answered} answered)"],
            ["tokens", f"{t.prompt_tokens + t.completion_tokens} ({t.prompt_tokens} prompt, {t.completion_tokens} completion)"],
            ["cost", cost_text(t.cost)]]
    if (t.lm_calls, t.tokens, t.cost) != (s.lm_calls, s.tokens, s.cost):
        rows.append(["this invocation", f"{s.lm_calls} LM calls, {s.tokens} tokens, cost {cost_text(s.cost)}"])
    rows += [["reused", f"{s.reused} ({s.cache_hits} cache hits, {s.replayed} replayed)"],
             ["wall time", f"{s.seconds:.2f} s"], ["store", run.store or "none"]]
    if run.stop_reason:
        rows.append(["stopped", run.stop_reason])
    return rows


def _items_parts(run: Any) -> list[str]:
    rows = item_rows(run)
    shown = rows[:SHOWN_ITEMS]
    parts = [_heading(f"items (first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else "items")]
    if shown:
        parts.append(table_html(list(shown[0]), [list(r.values()) for r in shown]))
    failed = [r for r in rows if r["error"]][:SHOWN_ITEMS]
    for r in failed:
        parts.append(f"<details><summary>error of item {_esc(r['item'])}</summary><pre>{_esc(r['error'])}</pre></details>")
    return parts


def table_html(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return _esc(text if len(text) <= 300 else text[:297] + "...")


def _rounded(values: Any) -> list[Any]:
    return [f"{v:.2f}" if isinstance(v, float) else v for v in values]


def _heading(text: str) -> str:
    return f'<div class="plait-heading">{_esc(text)}</div>'


def _section(title: str, parts: list[str]) -> str:
    return (f'<div class="plait-display">{STYLE}<div class="plait-title">{_esc(title)}</div>'
            + "\n".join(parts) + "</div>")


def _scroll(svg: str) -> str:
    return f'<div class="plait-scroll">{svg}</div>'


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)
