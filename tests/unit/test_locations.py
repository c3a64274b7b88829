"""Where a saved plan says a step or type lives, and what loading it says when it is gone."""

from __future__ import annotations

import sys

import pytest

import plait
from plait.ir.locations import SCRIPT_MODULE, import_qualified, module_location, qualified_name


def test_a_script_loaded_by_path_keeps_its_path_as_its_name(tmp_path):
    script = tmp_path / "app.py"
    script.write_text("import pydantic\nclass Out(pydantic.BaseModel):\n    x: int\n"
                      "if __name__ == '__main__':\n    raise SystemExit('the main block ran')\n")
    cls = import_qualified(f"{script}:Out")
    assert cls.__module__.startswith(SCRIPT_MODULE)
    assert qualified_name(cls) == f"{script}:Out"  # saved again, it names the same file
    assert import_qualified(f"{script}:Out") is cls  # loaded once per process
    del sys.modules[cls.__module__]


def test_an_ordinary_module_keeps_its_name():
    assert module_location("tests.programs") == "tests.programs"
    assert qualified_name(plait.Predict) == "plait.pipeline.predict:Predict"


def test_a_moved_script_says_so_and_how_to_go_on(tmp_path):
    with pytest.raises(plait.PlanLoadError) as info:
        import_qualified(f"{tmp_path}/gone.py:clean")
    text = str(info.value)
    assert f"cannot import {tmp_path}/gone.py:clean named by the saved plan" in text
    assert "FileNotFoundError" in text and "was moved or deleted" in text and "--pipeline" in text


def test_a_notebook_step_says_only_the_pipeline_object_can_load_it():
    with pytest.raises(plait.PlanLoadError) as info:
        import_qualified("__main__:defined_in_a_cell")
    text = str(info.value)
    assert "notebook or an interactive session" in text and "pipeline=compiled" in text
    assert "make the module importable" not in text


def test_a_script_that_fails_when_loaded_names_the_error_and_the_fix(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("raise RuntimeError('no database here')\n")
    with pytest.raises(plait.PlanLoadError) as info:
        import_qualified(f"{script}:step")
    text = str(info.value)
    assert "RuntimeError: no database here" in text and 'if __name__ == "__main__":' in text


def test_an_unimportable_module_says_where_to_run_from():
    with pytest.raises(plait.PlanLoadError) as info:
        import_qualified("no_such_module_here:step")
    assert "ModuleNotFoundError" in str(info.value) and "PYTHONPATH" in str(info.value)
