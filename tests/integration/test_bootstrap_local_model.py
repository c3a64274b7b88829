"""BootstrapFewShot's early stop on the embedded model (SmolLM2-135M), on a few items: the teacher
runs the trainset in order and stops at the item that gives the last trace it needs."""

from __future__ import annotations

import pytest

import plait

from tests.integration.test_optimizers_local_model import Classify, exact
from tests.local_model import require_local_model

local = require_local_model()
pytestmark = [pytest.mark.local_model, pytest.mark.slow]

TRAIN = [{"headline": "Lakers win the championship", "topic": "sports"},
         {"headline": "Senate passes the budget bill", "topic": "politics"},
         {"headline": "New planet discovered near a distant star", "topic": "science"},
         {"headline": "Striker scores twice in the cup final", "topic": "sports"},
         {"headline": "Parliament votes on the election reform", "topic": "politics"},
         {"headline": "Chemists build a better battery", "topic": "science"}]


def test_the_teacher_stops_at_the_item_that_gives_its_last_trace(store_path):
    computed = []
    boot = plait.BootstrapFewShot(max_bootstrapped_demos=1, max_labeled_demos=1, teacher_demos=2)
    compiled = plait.compile(Classify(), optimizer=boot, trainset=TRAIN, metric=exact, store=store_path,
                             lm=local.LocalLM(max_tokens=48), progress=False, parse_retries=0,
                             on_event=lambda e: computed.append(e) if getattr(e, "source", None) == "lm" else None)
    node = compiled.plan.node("classify.classify")
    prov = node.params.provenance
    print(f"tried {prov['tried']}, passed {prov['passed']}, demos {[d['headline'] for d in node.params.demos]}")
    assert len(computed) == prov["tried"]  # one LM call per item tried, none after the stop
    if prov["passed"]:
        assert prov["passed"] == 1 and node.params.demos[0] == TRAIN[prov["tried"] - 1]  # the last item tried
    else:
        assert prov["tried"] == len(TRAIN) and len(node.params.demos) == 1  # a labeled demo fills the total
