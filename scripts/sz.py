#!/usr/bin/env python3
"""plait's size, per package and per file, as tinygrad's sz.py: lines of code, that is lines that
hold code, not blank lines, comments or docstrings.

Fails (exit status 1) when the core, everything but the layers built on the facade (cli, demo,
display, optimizers), holds more than CORE_BUDGET lines of code; flags files longer than
FILE_FLAG lines (STYLE.md: a file that long holds two ideas). The README's "Layout" states both.

    python scripts/sz.py
"""

from __future__ import annotations

import io
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

# About a quarter above the core when the layers were drawn (5,511 lines, issue 12): room for the work
# merged with it, not for a second copy of anything. Lower it when the core shrinks. +100 for the
# PostgreSQL store (issue 13): a second backend (its connection, schema, faults: ~180 lines) and `plait
# copy`, net of the SQLite store's SQL it now shares (sql_store.py); the lead may ask for cuts instead.
# +1,500 for issues 14-17: the DSPy bridge (compiled and journaled, ~700 lines), the store's group
# writer and per-request spend, the grammar bounds of the embedded model, templates of f-strings,
# the custom-LM check and the map of lazily imported public names. +600 for issue 17's goals (its
# second round): items streamed through the store and results read back from it (admit.py, feed.py,
# item_view.py), the one-pass replay of finished items (replay.py), binary keys at the store's
# boundary (layout.py), cache lookups off the event loop (lookups.py), and the embedded model's
# prefix-ordered call queue and greedy grammar sampler (prefix_queue.py, greedy_grammar.py). +100 for
# its third round: replay's one-query reads (replay_reads.py) and run numbers in place of run ids
# on every journal and items row (run_numbers.py, the schema 8 / 4 migrations), and the embedded
# model run as a pool of instances (model_pool.py). +20: the store's writer sending each statement
# once per batch (sql_store.py, 3-4% less CPU per durable run). +60 for its fourth round: a batch's
# rows as many-row INSERTs (batch_rows.py) and one query per batch of cache lookups (lookup_many).
# The C encoder of canonical JSON (hashing.py, +12) fit after the IN-list reads shared one helper.
# +80 for journaled re-asks (contract 4): each reply that did not parse is written before its re-ask
# and re-read on resume (calls.py's Reply, nodes.py, journal.py), in loop iterations and journaled
# DSPy calls too (loops.py), its value deleted as the row moves on (Record.drop: a finished run
# stores what it did before), and an optimization goes on with the evaluation a kill cut short (named.py).
CORE_BUDGET = 9860
FILE_FLAG = 400
OUTSIDE_CORE = {"cli", "demo", "display", "optimizers"}
PACKAGE = Path(__file__).resolve().parent.parent / "plait"
CODE = {tokenize.OP, tokenize.NAME, tokenize.NUMBER, tokenize.STRING}
STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def code_lines(source: str) -> int:
    """Lines holding a token of code; a string that is a statement of its own (a docstring) is not code."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL)]
    lines: set[int] = set()
    for before, token, after in zip([None, *tokens], tokens, [*tokens[1:], None]):
        docstring = (token.type == tokenize.STRING and (before is None or before.type in STATEMENT_START)
                     and after is not None and after.type == tokenize.NEWLINE)
        if token.type in CODE and not docstring:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def package_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "(top level)"


def main() -> int:
    per_package: dict[str, int] = defaultdict(int)
    flagged = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        per_package[package_of(path)] += code_lines(text)
        if text.count("\n") > FILE_FLAG:
            flagged.append((path.relative_to(PACKAGE.parent), text.count("\n")))
    core = sum(n for p, n in per_package.items() if p not in OUTSIDE_CORE)
    for package, lines in sorted(per_package.items(), key=lambda kv: -kv[1]):
        print(f"{package:<14} {lines:>6}{'' if package in OUTSIDE_CORE else '  core'}")
    print(f"{'core':<14} {core:>6}  of a budget of {CORE_BUDGET}")
    print(f"{'total':<14} {sum(per_package.values()):>6}")
    for path, lines in flagged:
        print(f"flagged: {path} has {lines} lines (over {FILE_FLAG}): split it")
    if core > CORE_BUDGET:
        print(f"the core has {core} lines of code, over its budget of {CORE_BUDGET}: make it smaller", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
