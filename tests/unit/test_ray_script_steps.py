"""A Ray driver that is a script: its plan names its steps by the script's path, and they still
travel with the run to workers that may not reach that file (plait/runtime/shards.py)."""

from __future__ import annotations

import json

import plait
from plait.runtime.options import RunOptions
from plait.runtime.shards import RunSpec, load_plan
from tests.programs import Diamond, join


def test_steps_named_by_the_driver_scripts_path_load_from_what_the_spec_brought(tmp_path):
    store = plait.SQLiteStore(tmp_path / "runs.db")
    script = "/nowhere/on/this/worker/driver.py"
    plan = plait.compile(Diamond()).to_json()
    step = next(n for n in plan["nodes"] if n["op"] == "step")
    step["params"]["path"] = f"{script}:join"
    plan_hash = store.save_plan(json.dumps(plan, sort_keys=True))
    spec = RunSpec(str(tmp_path / "runs.db"), "r1", plan_hash, None, RunOptions(), plait.lm.config.Settings(),
                   main={"join": join}, main_location=script)
    loaded = load_plan(store, spec)
    assert loaded.get("diamond.join").params.func is join.func
    store.close()
