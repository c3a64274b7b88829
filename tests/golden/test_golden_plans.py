"""Golden printed plans: the text form is stable; a change to it is a deliberate, reviewed diff.

Regenerate with PLAIT_UPDATE_GOLDEN=1 after an intended change, and review the diff.
"""

import os
from pathlib import Path

import pytest

import plait
from tests.human_programs import Gated, Reviewed
from tests.programs import Chain4, Diamond, Pipeline

HERE = Path(__file__).parent
PROGRAMS = {"pipeline": Pipeline, "chain4": Chain4, "diamond": Diamond, "gated": Gated,
            "reviewed": lambda: Reviewed(timeout=86400, default={"approved": False, "comment": "no reply"})}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_printed_plan_matches_golden(name):
    text = repr(plait.compile(PROGRAMS[name]())) + "\n"
    golden = HERE / f"{name}.txt"
    if os.environ.get("PLAIT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_printing_is_stable_across_traces():
    assert repr(plait.compile(Pipeline())) == repr(plait.compile(Pipeline()))
