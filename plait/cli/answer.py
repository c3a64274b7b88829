"""``plait answer``: list the questions a run's items wait on, and answer one of them."""

from __future__ import annotations

import json
from typing import Any

import click

import plait
from plait.cli.common import emit_json, existing_store, first_line, json_option, resolve_run, say, store_option, table, usage, utc


@click.command(epilog="""\b
Examples:
  plait answer latest --list
  plait answer latest --item 0 --node pipeline.review --value approved=true --value comment="looks good"
  plait answer latest --item 3 --node pipeline.publish --ask 1 --value "Cats at night"
  plait answer latest --item 0 --node pipeline.review --values '{"approved": false, "comment": "no"}'
\b
A value is read as JSON (true, 3, [1, 2]) unless its field is a string; a
question with one field (any plait.ask) takes --value VALUE without a name.
The answer is checked against the question's types; a refused answer changes
nothing and the item keeps waiting. Then continue with: plait resume RUN
(answering while a process runs the run is fine: the next resume uses it).""")
@click.argument("run_ref", metavar="RUN")
@click.option("--list", "listing", is_flag=True, help="List the unanswered questions and exit.")
@click.option("--item", "item_id", metavar="ID", help="The waiting item's id.")
@click.option("--node", "node_id", metavar="NODE", help="The node that asks (a HumanInput, or a step calling plait.ask).")
@click.option("--ask", "ask_index", default=0, show_default=True, type=click.IntRange(0),
              help="Which question of the node: 0 for a HumanInput, the n-th plait.ask call of a step.")
@click.option("--iteration", default=0, show_default=True, type=click.IntRange(0), help="The loop iteration.")
@click.option("--value", "values", multiple=True, metavar="FIELD=VALUE", help="One field of the answer (repeat).")
@click.option("--values", "values_json", metavar="JSON", help="The whole answer as a JSON object.")
@store_option
@json_option
def answer(run_ref: str, listing: bool, item_id: str | None, node_id: str | None, ask_index: int, iteration: int,
           values: tuple[str, ...], values_json: str | None, store: str, as_json: bool) -> None:
    """Answer a question that a run's item waits on (HumanInput, plait.ask, plait.approve)."""
    with existing_store(store) as opened:
        run_id = resolve_run(opened, run_ref)
        waiting = opened.asks(run_id, unanswered=True)
    if listing:
        return _list(run_id, waiting, as_json)
    if not item_id or not node_id:
        raise usage("plait answer needs --item and --node (or --list)", found=_choices(waiting),
                    fix=f"see what waits with: plait answer {run_id} --list")
    question = next((q for q in waiting if q.key == (run_id, item_id, node_id, iteration, ask_index)), None)
    given = _answer_of(question, values, values_json)
    stored = plait.answer(run_id, item_id, node_id, given, store=store, ask=ask_index, iteration=iteration)
    left = len(waiting) - 1
    if as_json:
        emit_json({"answered": question_row(stored), "still_waiting": left})
    else:
        click.echo(f"answered item {item_id}, node {node_id}, ask {ask_index}: {json.dumps(stored.answer)}")
    say(f"plait: {left} question(s) still wait; continue the run with: plait resume {run_id}")


def _list(run_id: str, waiting: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([question_row(q) for q in waiting])
    elif not waiting:
        say(f"plait: no question of run {run_id} waits for an answer")
    else:
        click.echo(questions_table(waiting))


def _answer_of(question: Any, values: tuple[str, ...], values_json: str | None) -> Any:
    if values_json is not None and values:
        raise usage("pass --value or --values, not both", fix="put every field in one of them")
    if values_json is not None:
        try:
            return json.loads(values_json)
        except json.JSONDecodeError as exc:
            raise usage("--values is not JSON", found=f"{values_json!r}: {exc}",
                        fix="""quote the object for the shell: --values '{"approved": true}'""") from None
    if not values:
        raise usage("no answer given", fix="pass --value FIELD=VALUE (repeat for each field), or --values JSON")
    expected = question.expected if question is not None else {}
    pairs = [_pair(v, expected) for v in values]
    if len(pairs) == 1 and pairs[0][0] is None:
        return pairs[0][1]  # a one-field question's bare value
    return {name: value for name, value in pairs}


def _pair(text: str, expected: dict[str, str]) -> tuple[str | None, Any]:
    name, sep, raw = text.partition("=")
    if not sep or name not in expected:
        only = next(iter(expected.values()), "Any") if len(expected) == 1 else "Any"
        return None, _value(text, only)
    return name, _value(raw, expected[name])


def _value(raw: str, type_name: str) -> Any:
    """JSON when it parses (true, 3, [1]) unless the field is a string: then the text as typed."""
    if type_name == "str":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _choices(waiting: list[Any]) -> str:
    return "; ".join(f"--item {q.item_id} --node {q.node_id} --ask {q.ask}" for q in waiting[:5]) or "nothing waits"


def question_row(q: Any) -> dict[str, Any]:
    """A question as JSON for scripts: where it waits, what it asks, what it expects."""
    return {"run_id": q.run_id, "item": q.item_id, "node": q.node_id, "iteration": q.iteration, "ask": q.ask,
            "question": q.question, "context": q.context, "expected": q.expected, "deadline": q.deadline,
            "default": q.default, "asked_at": q.asked_at, "answer": q.answer, "answered_by": q.answered_by}


def questions_table(waiting: list[Any]) -> str:
    rows = [[q.item_id, q.node_id, q.ask, first_line(q.question, 60),
             ", ".join(f"{k}: {t}" for k, t in q.expected.items()),
             f"{utc(q.deadline)} UTC" if q.deadline else "-", first_line(json.dumps(q.context), 60)]
            for q in waiting]
    return table(["ITEM", "NODE", "ASK", "QUESTION", "EXPECTS", "DEADLINE", "CONTEXT"], rows)
