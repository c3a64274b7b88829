"""``plait show`` reads each item's outputs as the JSON the store recorded, importing no user code:
a run whose steps cannot be imported here (their module is gone) shows in full, outputs included."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

import plait
from plait.cli import cli
from tests.programs import echo_answer

MODULE = '''
import plait

@plait.step
def shout(text: str) -> str:
    return text.upper()

class Loud(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str):
        return {"loud": shout(text=self.answer(question=question).answer)}
'''


def test_show_without_the_steps_module_shows_the_run_and_its_outputs(tmp_path, monkeypatch):
    (tmp_path / "gone_steps.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_steps

    store = str(tmp_path / "runs.db")
    run = plait.compile(gone_steps.Loud()).run([{"question": "owls"}], store=store, lm=plait.ScriptedLM(echo_answer))
    shown = CliRunner().invoke(cli, ["show", run.id, "--store", store, "--json"], catch_exceptions=False)
    assert json.loads(shown.stdout)["items"][0]["outputs"] == {"loud": "ANSWER(OWLS)"}

    (tmp_path / "gone_steps.py").unlink()
    monkeypatch.delitem(sys.modules, "gone_steps")
    shown = CliRunner().invoke(cli, ["show", run.id, "--store", store], catch_exceptions=False)
    assert shown.exit_code == 0 and shown.stderr == ""
    assert f"run {run.id}  done" in shown.stdout and '{"loud": "ANSWER(OWLS)"}' in shown.stdout
