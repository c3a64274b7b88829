"""Storage of agent loops grows linearly with the iterations: each iteration stores its own entry
(thought, tool, args, observation), never a copy of the history so far.

Measured at 20 and at 200 iterations of a ReAct agent (scripted LM, a cheap tool), two ways: the
bytes of the loop node's values (its iteration rows and its final value), and the growth of the
SQLite file. Per iteration, 200 iterations may cost at most 1.5x what 20 do; a full copy of the
history per iteration would cost ~10x.
"""

from __future__ import annotations

import os

import plait
from tests import loop_programs as lp

ITERATIONS = (20, 200)


def measure(tmp_path, iterations: int) -> dict[str, float]:
    path = str(tmp_path / f"loop-{iterations}.db")
    lm = plait.ScriptedLM(lp.ticking_answer(iterations))
    compiled = plait.compile(lp.ticking_agent(iterations))
    compiled.run([{"question": "warm-up"}], store=path, lm=lm, progress=False)  # the plan, the schema
    before = os.path.getsize(path)
    run = compiled.run([{"question": "count"}], store=path, lm=lm, progress=False)
    assert run.status == "done" and run.items[0].outputs.answer == iterations
    store = plait.SQLiteStore(path)
    try:
        store.vacuum()
        rows = [r for k, r in store.journal(run.id).items() if k[1] == "re_act"]
        assert sorted(r.iteration for r in rows) == list(range(iterations + 1))
        values = sum(len(store.read_value(r.value_hash)) for r in rows)
    finally:
        store.close()
    return {"values": values / iterations, "file": (os.path.getsize(path) - before) / iterations}


def test_loop_storage_grows_linearly(tmp_path, capsys):
    small, large = (measure(tmp_path, n) for n in ITERATIONS)
    with capsys.disabled():
        print(f"\nloop storage, bytes per iteration: values {small['values']:.0f} at 20, {large['values']:.0f} at 200;"
              f" store file {small['file']:.0f} at 20, {large['file']:.0f} at 200")
    assert large["values"] <= 1.5 * small["values"]
    assert large["file"] <= 1.5 * small["file"]
