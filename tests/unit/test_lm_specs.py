"""What a run records about its LMs (plait/runtime/lm_specs.py): enough for ``plait resume`` to make
them again, as JSON, and never a credential, wherever the credential was given."""

from __future__ import annotations

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait.cli.lms import rebuild
from plait.runtime.lm_specs import describe
from tests.programs import echo_answer

secrets = st.text(string.ascii_letters + string.digits, min_size=12, max_size=40).map(lambda s: "sk-" + s)


@settings(max_examples=25, deadline=None)
@given(secret=secrets, user=st.text(string.ascii_lowercase, min_size=3, max_size=10))
def test_a_dspy_lm_is_recorded_without_its_credentials_and_made_again_alike(secret, user):
    lm = plait.DSPyLM("openai/test-model", api_base=f"http://{user}:{secret}@127.0.0.1:8000/v1?key={secret}",
                      api_key=secret, temperature=0.3, headers={"Authorization": f"Bearer {secret}"},
                      extra_body={"session_token": secret, "top_k": 5}, adapter="json")
    record = describe(lm)
    text = json.dumps(record)
    assert secret not in text and f"{user}:" not in text and "***" not in text and "%2A" not in text
    # no key, no userinfo, no masked query parameter, and no setting that holds a credential (extra_body)
    assert record == {"name": "openai/test-model", "spec": "openai/test-model",
                      "kwargs": {"temperature": 0.3, "api_base": "http://127.0.0.1:8000/v1", "adapter": "json"}}
    again = rebuild(json.loads(text))  # as the CLI reads it back from the store: its key from the environment
    assert again.lm.kwargs.get("api_key") is None and again.adapter == "json"


def test_a_dspy_lm_is_made_again_with_the_same_identity():
    lm = plait.DSPyLM("openai/test-model", api_base="http://127.0.0.1:8000/v1", api_key="sk-x", temperature=0.3,
                      max_tokens=100, name="mine", json_schema=False)
    again = rebuild(json.loads(json.dumps(describe(lm))))
    assert again.identity() == lm.identity()
    assert (again.name, again.json_schema, again.adapter) == ("mine", False, "chat")


def test_the_local_model_is_recorded_with_its_settings():
    lm = plait.LocalLM(temperature=0.2, max_tokens=64, n_ctx=1024)
    record = describe(lm)
    assert record == {"name": "smollm2-135m-instruct", "spec": "local",
                      "kwargs": {"name": "smollm2-135m-instruct", "temperature": 0.2, "max_tokens": 64, "seed": 0,
                                 "n_ctx": 1024}}
    again = rebuild(record)
    assert (again.defaults, again.n_ctx) == (lm.defaults, lm.n_ctx)


def test_an_lm_made_in_python_is_recorded_by_name_unless_the_caller_says_how_it_was_named():
    lm = plait.ScriptedLM(echo_answer, name="mine")
    assert describe(lm) == {"name": "mine", "spec": None, "kwargs": {}}
    assert describe(lm, "scripted:app:mine")["spec"] == "scripted:app:mine"


class Judged(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")
        self.judge = plait.Predict("answer -> verdict", lm="judge")

    def forward(self, question: str):
        return self.judge(answer=self.answer(question=question).answer)


def test_a_run_records_its_default_named_and_fallback_lms(store_path):
    judge = plait.DSPyLM("openai/judge-model", api_key="sk-never-stored")
    backups = [plait.ScriptedLM(lambda t: {"answer": "b", "verdict": "b"}, name="backup"), plait.DSPyLM("openai/spare")]
    run = plait.compile(Judged()).run([{"question": "q"}], store=store_path, lm=plait.ScriptedLM(echo_answer),
                                      lms={"judge": judge}, fallbacks={"scripted": backups},
                                      lm_specs={"lm": "scripted:app:lm", "fallbacks": {"scripted": ["scripted:app:b"]}},
                                      budget=plait.Budget(lm_calls=0), progress=False)
    store = plait.SQLiteStore(store_path)
    lms = store.get_run(run.id).config["lms"]
    store.close()
    assert lms["lm"] == {"name": "scripted", "spec": "scripted:app:lm", "kwargs": {}}
    assert lms["named"]["judge"]["spec"] == "openai/judge-model"
    assert [r["spec"] for r in lms["fallbacks"]["scripted"]] == ["scripted:app:b", "openai/spare"]
    assert "sk-never-stored" not in json.dumps(lms)
