"""The call wrapper's reply scrubbing on the real embedded model (SmolLM2-135M): a reply that quotes
a credential of the environment is recorded without it, and a reply that quotes none is untouched.
The other paths (errors, events, the CLI) are in test_secrets.py."""

from __future__ import annotations

import sqlite3

import pytest

import plait
from tests.local_model import require_local_model

local = require_local_model()

pytestmark = pytest.mark.local_model

CANARY = "sk-canary-5f3e2a91c0d4"  # fixed: the small model copies this one exactly (greedy decoding)


class Echo(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")
        self.answer.demos = [{"question": "Repeat this code exactly: ab-12-cd-34", "answer": "ab-12-cd-34"},
                             {"question": "Repeat this code exactly: zq-77-mm-01", "answer": "zq-77-mm-01"}]

    def forward(self, question: str):
        return self.answer(question=question)


def recorded_output(store, run_id: str) -> bytes:
    row = sqlite3.connect(store).execute(
        "SELECT b.data FROM journal j JOIN blobs b ON b.hash = j.value_hash "
        "WHERE j.run_no=(SELECT run_no FROM runs WHERE run_id=?) AND j.node_id = 'echo.answer'", (run_id,)).fetchone()
    return bytes(row[0])


def test_a_real_reply_quoting_an_environment_credential_is_recorded_without_it(tmp_path, monkeypatch):
    lm = local.LocalLM(max_tokens=32)
    items = [{"question": f"Repeat this code exactly: {CANARY}"}]
    compiled = plait.compile(Echo())
    before = compiled.run(items, store=tmp_path / "before.db", lm=lm)
    assert before.outputs[0].answer == CANARY  # not a credential yet: the reply is the model's, untouched

    monkeypatch.setenv("ECHO_SERVICE_API_KEY", CANARY)
    after = compiled.run(items, store=tmp_path / "after.db", lm=lm)
    assert after.outputs[0].answer == "[redacted:ECHO_SERVICE_API_KEY]"
    stored = recorded_output(tmp_path / "after.db", after.id)
    assert CANARY.encode() not in stored and b"[redacted:ECHO_SERVICE_API_KEY]" in stored
