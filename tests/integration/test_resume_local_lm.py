"""`plait resume` on the embedded model: a run made with it goes on with it, rebuilt from the run's
record with the same settings, and its recorded nodes replay (issues 11 and 15)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.local_model import require_local_model

require_local_model()
import plait  # noqa: E402
from plait.cli import cli  # noqa: E402
from tests.cli import fixtures  # noqa: E402

pytestmark = pytest.mark.local_model


def test_resume_goes_on_with_the_recorded_local_model_and_replays_what_it_recorded(tmp_path):
    store = str(tmp_path / "runs.db")
    lm = plait.LocalLM(max_tokens=24)
    first = plait.compile(fixtures.QA()).run([{"question": "Capital of France?"}, {"question": "Two plus two?"}],
                                             store=store, lm=lm, budget=plait.Budget(lm_calls=1), concurrency=1,
                                             progress=False)
    assert first.status == "stopped" and first.items[0].status == "done"
    result = CliRunner().invoke(cli, ["resume", first.id, "--store", store, "--json"], catch_exceptions=False)
    assert "plait: resuming with the run's LM: local (recorded)" in result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["replayed"] == 1 and report["stats"]["lm_calls"] == 1
    assert report["results"][0]["outputs"] == {"answer": first.items[0].outputs.answer}
    store_lm = plait.SQLiteStore(store)
    recorded = store_lm.get_run(first.id).config["lms"]["lm"]
    store_lm.close()
    assert recorded["kwargs"]["max_tokens"] == 24  # rebuilt as it was, so its answers cache alike
