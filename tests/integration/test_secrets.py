"""DESIGN.md contract 10, end to end: a credential never reaches the store, a saved plan, the logs,
an event, an error or the CLI's output, wherever it comes from and even when the provider quotes
it back.

Each test plants a canary (random, so that no other text can hold it) on one path: the provider's
environment variable, ``api_key=``, the userinfo of ``api_base``, a token only the provider knows.
It runs a small pipeline to completion against tests/openai_server.py (real DSPy and LiteLLM
clients over a real socket; the items fail), then greps everything plait wrote or showed: the
SQLite file and its WAL (while the run holds them open, and after), a saved plan, DEBUG records of
plait's, DSPy's and LiteLLM's loggers, every event, the items' errors and exceptions (str, repr,
args, the whole chain), ``plait show --json`` and ``plait runs --json``. One test runs
``plait run --json`` in a subprocess with the key only in the environment.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait.cli import cli
from plait.lm.dspy_lm import DSPyLM
from plait.lm.secrets import is_credential_variable
from plait.runtime import events as ev
from tests.cli.test_cli import plait_cmd
from tests.integration.test_hosted_lm import ENGINES
from tests.openai_server import OpenAIServer

ITEMS = [{"question": "first"}, {"question": "second"}]
FAST = plait.RetryPolicy(initial=0, maximum=0, max_attempts=2)  # transient failures: retried once, at once


class Pipeline(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str):
        return self.answer(question=question)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def canary() -> str:
    return f"sk-canary-{uuid.uuid4().hex}"


@pytest.fixture
def server():
    with OpenAIServer(lambda inputs, fields: {name: "ok" for name in fields}) as s:
        yield s


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Evidence:
    """Everything a run wrote or showed, as text, by where it was found."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.places: dict[str, str] = {}
        self.events: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        self.events.append(event)
        if isinstance(event, ev.RunFinished):  # the run still holds the store: its WAL has the last pages
            self.files("while open")

    def files(self, when: str) -> None:
        for path in sorted(self.store.parent.glob(self.store.name + "*")):
            self.places[f"{path.name} ({when})"] = path.read_bytes().decode("latin-1")

    def gather(self, run, logs) -> None:
        self.files("after the run")
        self.places["plan.json"] = (self.store.parent / "plan.json").read_text()
        self.places["events"] = "\n".join(repr(e) for e in self.events)
        self.places["logs"] = "\n".join(logging.Formatter().format(r) for r in logs.records)
        self.places["run"] = f"{run!r}\n{run.items!r}\n{run.failed!r}"
        self.places["exceptions"] = "\n".join(exception_texts(item.exception) for item in run.items)
        for command in (["show", run.id, "--json"], ["runs", "--json"]):
            result = CliRunner().invoke(cli, [*command, "--store", str(self.store)], catch_exceptions=False)
            self.places[f"plait {command[0]} --json"] = result.output
        self.files("after plait show")

    def leaks(self, secret: str) -> list[str]:
        return [where for where, text in self.places.items() if secret in text]


def exception_texts(exc: BaseException | None) -> str:
    """str, repr and args of ``exc`` and of every exception in its chain."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


def run_to_failure(tmp_path: Path, lm, logs) -> Evidence:
    """Run the pipeline over ITEMS until every item failed; gather what it wrote and showed."""
    evidence = Evidence(tmp_path / "runs.db")
    compiled = plait.compile(Pipeline())
    run = compiled.run(ITEMS, store=evidence.store, lm=lm, retry=FAST, on_event=evidence.on_event, progress=False)
    assert run.status == "failed" and len(run.failed) == len(ITEMS), run.items
    compiled.save(tmp_path / "plan.json")
    evidence.gather(run, logs)
    return evidence


def assert_scrubbed(evidence: Evidence, secret: str, marker: str) -> None:
    assert evidence.leaks(secret) == []
    errors = [item for item in json.loads(evidence.places["plait show --json"])["items"]]
    assert errors and all(marker in item["error"] for item in errors), errors  # the quote was there
    assert any(isinstance(e, ev.NodeFailed) and marker in e.error for e in evidence.events)


# -- (1) the provider's environment variable ------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_key_from_the_environment_quoted_back_by_the_provider_is_nowhere(
        server, tmp_path, all_logs, monkeypatch, canary, engine):
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    server.fail(401, times=100, message="Incorrect API key provided: {key}")
    lm = DSPyLM("openai/test-model", api_base=server.url + "/v1", engine=engine)
    evidence = run_to_failure(tmp_path, lm, all_logs)
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {canary}"}  # it was used
    assert_scrubbed(evidence, canary, "[redacted:OPENAI_API_KEY]")


@pytest.mark.slow
def test_plait_run_json_with_the_key_only_in_the_environment_prints_and_stores_no_key(server, tmp_path, canary):
    server.fail(401, times=100, message="Incorrect API key provided: {key}")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    store = tmp_path / "runs.db"
    # OPENAI_BASE_URL sends DSPy's openai/ route through LiteLLM, which reads both variables.
    result = plait_cmd("run", "tests.cli.fixtures:Pipeline", str(data), "--lm", "openai/test-model",
                       "--store", str(store), "--json",
                       env={"OPENAI_API_KEY": canary, "OPENAI_BASE_URL": server.url + "/v1",
                            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "127.0.0.1"})
    assert result.returncode == 3, result.stderr
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {canary}"}
    report = json.loads(result.stdout)
    assert all("[redacted:OPENAI_API_KEY]" in r["error"] for r in report["results"]), report["results"]
    assert canary not in result.stdout and canary not in result.stderr
    for path in sorted(tmp_path.glob("runs.db*")):
        assert canary.encode() not in path.read_bytes(), path.name


# -- (2) api_key= ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_an_api_key_argument_quoted_back_by_the_provider_is_nowhere(server, tmp_path, all_logs, canary, engine):
    server.fail(401, times=100, message="Incorrect API key provided: {key}")
    lm = DSPyLM("openai/test-model", api_base=server.url + "/v1", api_key=canary, engine=engine)
    evidence = run_to_failure(tmp_path, lm, all_logs)
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {canary}"}
    assert_scrubbed(evidence, canary, "[redacted:api_key]")
    assert canary not in repr(lm) and canary not in json.dumps(lm.identity())


# -- (3) the userinfo of api_base -----------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_password_in_api_base_is_not_in_a_connection_error(tmp_path, all_logs, canary, engine):
    lm = DSPyLM("openai/test-model", api_base=f"http://user:{canary}@127.0.0.1:{closed_port()}/v1", api_key="sk-x",
                engine=engine)
    evidence = run_to_failure(tmp_path, lm, all_logs)
    assert evidence.leaks(canary) == []
    assert sum(isinstance(e, ev.NodeRetried) for e in evidence.events) == len(ITEMS)  # transient: retried


@pytest.mark.slow
def test_a_password_in_api_base_quoted_in_a_server_error_is_nowhere(server, tmp_path, all_logs, monkeypatch, canary):
    # LiteLLM's httpx transport sends the userinfo as Basic auth (its aiohttp one refuses it next to a bearer key).
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    server.fail(500, times=100, message="upstream http://user:{key}@10.0.0.7/v1 refused the request")
    api_base = server.url.replace("http://", f"http://user:{canary}@") + "/v1"
    lm = DSPyLM("openai/test-model", api_base=api_base, api_key="sk-x", engine="litellm")
    evidence = run_to_failure(tmp_path, lm, all_logs)
    assert len(server.requests) == 2 * len(ITEMS)  # reached, and retried: a 5xx is transient
    assert_scrubbed(evidence, canary, "[redacted:api_base userinfo]")
    assert any(isinstance(e, ev.NodeRetried) and "[redacted:" in e.reason for e in evidence.events)


# -- (4) a credential only the provider knows -----------------------------------------------------


@pytest.mark.parametrize("message, marker", [
    ("gateway: upstream refused Authorization: Bearer {canary}", "Bearer [redacted:token]"),
    ('gateway: upstream config {{"api_key": "{canary}"}} rejected', '"api_key": "[redacted:value]"'),
    ("gateway: https://gw:{canary}@10.1.2.3/v1 is down", "https://[redacted:userinfo]@10.1.2.3/v1"),
])
def test_a_token_plait_was_never_given_is_scrubbed_by_its_shape(server, tmp_path, all_logs, message, marker):
    token = f"tok{uuid.uuid4().hex}"  # not sk-shaped: only the shape around it gives it away
    server.fail(502, times=100, message=message.format(canary=token))
    lm = DSPyLM("openai/test-model", api_base=server.url + "/v1", api_key="sk-test-key")
    evidence = run_to_failure(tmp_path, lm, all_logs)
    assert_scrubbed(evidence, token, marker)


# -- any LM: the wrapper scrubs what plait's own backends did not --------------------------------


class KeyedLM(plait.ScriptedLM):
    """A user's LM: it holds its own key and passes it in ``credentials()``."""

    def __init__(self, answer, key: str, **kwargs) -> None:
        super().__init__(answer, **kwargs)
        self.key = key

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.key}


def test_any_lm_s_error_and_reply_are_scrubbed_at_the_call_wrapper(tmp_path, all_logs, monkeypatch, canary):
    monkeypatch.setenv("MY_GATEWAY_TOKEN", canary + "-env")

    def answer(task):
        if task.inputs["question"] == "first":
            raise ConnectionError(f"cannot reach the gateway with key {canary}")
        return {"answer": f"the gateway said {canary}-env"}

    lm = KeyedLM(answer, canary)
    evidence = Evidence(tmp_path / "runs.db")
    run = plait.compile(Pipeline()).run(ITEMS, store=evidence.store, lm=lm, retry=FAST, on_event=evidence.on_event)
    assert [i.status for i in run.items] == ["failed", "done"]
    assert run.outputs[1].answer == "the gateway said [redacted:MY_GATEWAY_TOKEN]"
    assert "ConnectionError: cannot reach the gateway with key [redacted:api_key]" in run.items[0].error
    (tmp_path / "plan.json").write_text("{}")
    evidence.gather(run, all_logs)
    assert evidence.leaks(canary) == []


# -- which environment variables are credentials ----------------------------------------------


def upstream_credential_variables() -> set[str]:
    """The credential variables LiteLLM's and DSPy's own tables name: LiteLLM's provider keys
    (its Sentry deny list and its JSON-declared OpenAI-compatible providers) and the keys of
    every provider DSPy's native engine knows."""
    import litellm.constants
    from dspy._vendor.lm15.registry import PROVIDERS  # DSPy's table; no public name for it

    listed = {name for name in litellm.constants.SENTRY_DENYLIST
              if name.isupper() and re.search(r"KEY|TOKEN|SECRET|PASSWORD", name) and not name.endswith("_URL")}
    providers = json.loads((Path(litellm.__file__).parent / "llms/openai_like/providers.json").read_text())
    declared = {p["api_key_env"] for p in providers.values() if p.get("api_key_env")}
    native = {name for provider in PROVIDERS.values() for name in provider.env_keys}
    return listed | declared | native


@pytest.mark.slow  # imports LiteLLM (~4 s)
def test_every_credential_variable_litellm_and_dspy_name_is_recognized():
    names = upstream_credential_variables()
    assert {"OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"} <= names and len(names) > 30
    assert sorted(name for name in names if not is_credential_variable(name)) == []
