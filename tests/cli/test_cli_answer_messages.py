"""``plait answer`` in-process: its help, its usage errors (message and exit code) and its parsing
of --value. test_cli_answer.py runs the real command across processes."""

from __future__ import annotations

import json

import pytest

import plait
from tests.cli.test_cli_messages import invoke
from tests.human_programs import Gated, Reviewed, draft_lm


@pytest.fixture
def waiting(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.compile(Reviewed()).run([{"topic": "cats"}], store=store, lm=draft_lm(), progress=False)
    return store, run.id


def test_help_has_examples_and_answer_is_listed():
    assert "\n  answer " in invoke("--help").output
    sub = invoke("answer", "--help")
    assert sub.exit_code == 0 and "Examples:" in sub.output and "plait answer latest --list" in sub.output


def test_usage_errors_say_what_to_pass(waiting):
    store, run_id = waiting
    missing = invoke("answer", run_id, "--store", store)
    assert missing.exit_code == 2 and "needs --item and --node" in missing.output
    assert "--item 0 --node reviewed.review --ask 0" in missing.output
    none = invoke("answer", run_id, "--item", "0", "--node", "reviewed.review", "--store", store)
    assert none.exit_code == 2 and "no answer given" in none.output
    both = invoke("answer", run_id, "--item", "0", "--node", "reviewed.review", "--value", "approved=true",
                  "--values", "{}", "--store", store)
    assert both.exit_code == 2 and "not both" in both.output
    bad_json = invoke("answer", run_id, "--item", "0", "--node", "reviewed.review", "--values", "{approved: yes}",
                      "--store", store)
    assert bad_json.exit_code == 2 and "--values is not JSON" in bad_json.output
    wrong_node = invoke("answer", run_id, "--item", "0", "--node", "reviewed.write", "--value", "x", "--store", store)
    assert wrong_node.exit_code == 2 and "no question of run" in wrong_node.output
    assert plait.pending(run_id, store=store)[0].answer is None  # nothing was stored


def test_values_are_json_unless_the_field_is_a_string(waiting):
    store, run_id = waiting
    result = invoke("answer", run_id, "--item", "0", "--node", "reviewed.review", "--value", "approved=false",
                    "--value", "comment=true", "--json", "--store", store)
    assert result.exit_code == 0, result.output
    answered = json.loads(result.output.split("\nplait:")[0])["answered"]
    assert answered["answer"] == {"approved": False, "comment": "true"} and answered["answered_by"] == "human"


def test_a_one_field_question_takes_a_bare_value_even_with_an_equals_sign(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.compile(Gated()).run([{"topic": "cats"}], store=store, lm=draft_lm(), progress=False)
    plait.answer(run.id, "0", "gated.publish", True, store=store)
    plait.resume(run.id, store=store, lm=draft_lm(), progress=False)
    result = invoke("answer", "latest", "--item", "0", "--node", "gated.publish", "--ask", "1",
                    "--value", "x = y", "--store", store)
    assert result.exit_code == 0 and '{"answer": "x = y"}' in result.output
    listed = invoke("answer", "latest", "--list", "--store", store)
    assert "no question of run" in listed.output
