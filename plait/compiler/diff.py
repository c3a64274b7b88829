"""A readable diff of two plans: nodes added and removed, and what changed in each node."""

from __future__ import annotations

import difflib
import json
from typing import Any

from plait.ir.nodes import Node
from plait.ir.plan import Plan
from plait.ir.rules import rule_for
from plait.ir.serialize import node_to_json


def diff_plans(old: Plan, new: Plan) -> str:
    """Text listing every difference that changes what runs; empty plans diff to 'no changes'."""
    lines: list[str] = []
    old_ids, new_ids = [n.id for n in old.nodes], [n.id for n in new.nodes]
    for node_id in new_ids:
        if node_id not in old:
            lines.append(f"+ node {node_id}")
    for node_id in old_ids:
        if node_id not in new:
            lines.append(f"- node {node_id}")
    for node_id in new_ids:
        if node_id in old:
            lines.extend(_node_changes(old.node(node_id), new.node(node_id)))
    return "\n".join(lines) if lines else "no changes"


def _node_changes(old: Node, new: Node) -> list[str]:
    a, b = _comparable(old), _comparable(new)
    changed = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    body = _body_changes(old, new)
    if not changed and not body:
        return []
    lines = [f"~ node {new.id}"]
    for key in changed:
        lines.extend(f"    {line}" for line in _field_diff(key, a.get(key), b.get(key)))
    return lines + [f"    {line}" for line in body]


def _body_changes(old: Node, new: Node) -> list[str]:
    """A sub-plan (a loop's body), diffed node by node like a plan of its own."""
    if old.op is not new.op:
        return []  # the op line already says what changed
    lines = []
    for a, b in zip(rule_for(old.op).bodies(old.params), rule_for(new.op).bodies(new.params)):
        text = diff_plans(a, b)
        lines += [] if text == "no changes" else ["body:", *(f"  {line}" for line in text.splitlines())]
    return lines


def _comparable(node: Node) -> dict[str, Any]:
    data = node_to_json(node)
    params = data.pop("params")
    data.pop("source")
    data.pop("id")
    return {**data, **(rule_for(node.op).diffed(params) if params is not None else {})}


def _field_diff(key: str, old: Any, new: Any) -> list[str]:
    if key == "demos":
        return _demo_diff(old or [], new or [])
    if key == "provenance":
        return _provenance_diff(old or {}, new or {})
    if isinstance(old, str) and isinstance(new, str) and key == "instructions":
        return [f"{key}:", *(f"  {l}" for l in difflib.ndiff([old], [new]) if not l.startswith("?"))]
    return [f"{key}: {_short(old)} -> {_short(new)}"]


def _demo_diff(old: list, new: list) -> list[str]:
    lines = [f"demos: {len(old)} -> {len(new)}"]
    old_keys = {json.dumps(d, sort_keys=True) for d in old}
    new_keys = {json.dumps(d, sort_keys=True) for d in new}
    lines += [f"  + {_short(json.loads(k))}" for k in sorted(new_keys - old_keys)]
    lines += [f"  - {_short(json.loads(k))}" for k in sorted(old_keys - new_keys)]
    return lines


def _provenance_diff(old: dict, new: dict) -> list[str]:
    """Which optimizer set the node, and, for a search, what it chose and the scores behind it."""
    lines = [f"optimized by: {old.get('optimizer') or '(none)'} -> {new.get('optimizer') or '(none)'}"]
    if new.get("chosen") is not None:
        lines.append(f"  chosen: {new['chosen']} (score {new.get('score')} on {new.get('items')} items, "
                     f"{new.get('trials')} trials, {new.get('lm_calls')} LM calls)")
        lines += [f"  candidate {label}: {score}" for label, score in (new.get("candidates") or {}).items()]
    return lines


def _short(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
