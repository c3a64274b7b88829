"""GEPA's merge step: combine two Pareto candidates that improved different nodes of one program.

Two candidates that descend from a common ancestor along different lines often fixed different
steps. The merge is system-aware: per node, it keeps the instruction that changed relative to the
ancestor (if only one candidate changed it), the shared one (if they agree), and the better
candidate's (if both changed it differently). A merge is proposed only when it is new: at least
one node takes the other candidate's change, and no candidate in the pool already has the result.
"""

from __future__ import annotations

import random
from itertools import combinations
from typing import Any, Sequence

from plait.ir.nodes import Op

Instructions = dict[str, str]


def instructions_of(compiled: Any) -> Instructions:
    return {n.id: n.params.instructions for n in compiled.plan.of_op(Op.PREDICT)}


def ancestors(parents: Sequence[tuple[int, ...]], index: int) -> set[int]:
    """Every candidate ``index`` descends from (``parents[i]``: the candidates ``i`` was made from)."""
    seen: set[int] = set()
    todo = list(parents[index])
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(parents[i])
    return seen


def merged_instructions(ancestor: Instructions, first: Instructions, second: Instructions,
                        first_better: bool) -> Instructions | None:
    """Per node, the change relative to ``ancestor``; None when the result equals ``first`` or ``second``."""
    merged = {}
    for node, base in ancestor.items():
        a, b = first[node], second[node]
        if a == b or b == base:
            merged[node] = a
        elif a == base:
            merged[node] = b
        else:
            merged[node] = a if first_better else b
    return None if merged in (first, second) else merged


def pick_merge(pool: Sequence[Any], front: Sequence[int], rng: random.Random,
               tried: set[tuple[int, int]]) -> tuple[int, int, Instructions] | None:
    """(i, j, merged instructions) for a pair of front candidates not tried yet, or None."""
    parents = [c.parents for c in pool]
    known = [instructions_of(c.compiled) for c in pool]
    options = []
    for i, j in combinations(sorted(front), 2):
        up_i, up_j = ancestors(parents, i), ancestors(parents, j)
        common = up_i & up_j
        if (i, j) in tried or not common or i in up_j or j in up_i:
            continue
        merged = merged_instructions(known[max(common)], known[i], known[j], pool[i].mean >= pool[j].mean)
        if merged is not None and merged not in known:
            options.append((i, j, merged))
    return rng.choice(options) if options else None
