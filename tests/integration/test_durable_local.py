"""plait.durable on the embedded model: a 2-predictor DSPy program over 2 items, stopped by its budget,
then finished by `plait resume` in the CLI, which rebuilds the program from the class path the run
recorded and the LM from the run's record; the recorded calls replay."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.local_model import require_local_model

require_local_model()
import plait  # noqa: E402
from plait.cli import cli  # noqa: E402
from tests.crash import durable_programs as programs  # noqa: E402

pytestmark = pytest.mark.local_model


def test_a_durable_dspy_program_on_the_embedded_model_resumes_from_the_cli(tmp_path):
    store = str(tmp_path / "runs.db")
    items = [{"question": "Capital of France?"}, {"question": "Two plus two?"}]
    first = plait.durable(programs.Chain()).run(items, store=store, lm=plait.LocalLM(max_tokens=24),
                                                budget=plait.Budget(lm_calls=3), concurrency=1, progress=False)
    assert first.status == "stopped" and first.items[0].status == "done"
    assert isinstance(first.items[0].outputs.answer, str)
    result = CliRunner().invoke(cli, ["resume", first.id, "--store", store, "--json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert report["status"] == "done"
    assert report["stats"]["lm_calls"] == 1  # only item 2's second call: its first is recorded
    assert report["results"][0]["outputs"]["answer"] == first.items[0].outputs.answer
