"""Zero-shot parse failures of the embedded model, per task and adapter (a count, not a timing).

Run: PYTHONPATH=. .venv/bin/python bench/embedded_replies.py [--items 20] [--adapters compact,json,chat]
         [--tasks count,sum,people.find_person,people.find_fact,people.answer]

Each item is one LM call (no re-ask) formatted by a plait adapter, sent to ``LocalLM`` with its
defaults, and parsed by the same adapter. Per (task, adapter) it prints: items, replies that do not
parse, replies cut off at max_tokens (finish_reason "length"), and exact-match accuracy, so a change
to the decoding defaults shows what it does to well-formedness and to the answers.

Tasks: the demo's three nodes on ``plait/demo/people.jsonl`` (gold inputs for each node), and two
generated ones with an open answer where SmolLM2 used to loop ("4,4,4,..."): a count and a sum.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path

import dspy

from plait.demo.pipeline import Answer, FindFact, FindPerson, normalize
from plait.lm.adapters import adapter_named, task_for
from plait.lm.local import LocalLM

PEOPLE = Path(__file__).resolve().parent.parent / "plait" / "demo" / "people.jsonl"


class Count(dspy.Signature):
    """Count how many times the word appears in the list."""

    words: str = dspy.InputField()
    word: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Sum(dspy.Signature):
    """Add the numbers."""

    numbers: str = dspy.InputField()
    answer: str = dspy.OutputField()


def count_items(n: int) -> list[dict]:
    rng = random.Random(0)
    items = []
    for _ in range(n):
        words = [rng.choice(["cat", "dog", "fox", "owl"]) for _ in range(rng.randint(4, 9))]
        word = rng.choice(words)
        items.append({"words": ", ".join(words), "word": word, "answer": str(words.count(word))})
    return items


def sum_items(n: int) -> list[dict]:
    rng = random.Random(1)
    items = []
    for _ in range(n):
        numbers = [rng.randint(1, 20) for _ in range(rng.randint(2, 4))]
        items.append({"numbers": " + ".join(map(str, numbers)), "answer": str(sum(numbers))})
    return items


def people_tasks(n: int) -> list[tuple[str, type, int, list[dict], str]]:
    rows = [json.loads(line) for line in PEOPLE.read_text().splitlines()[:n]]
    return [("people.find_person", FindPerson, 16, rows, "person"),
            ("people.find_fact", FindFact, 40, rows, "fact"),
            ("people.answer", Answer, 16, rows, "answer")]


def measure(lm: LocalLM, adapter_name: str, signature, max_tokens: int, items: list[dict], field: str,
            verbose: bool = False) -> dict:
    adapter = adapter_named(adapter_name)
    failures = cut = right = 0
    for item in items:
        inputs = {name: item[name] for name in signature.input_fields}
        request = adapter.format(signature, (), inputs)
        request = replace(request, settings={"max_tokens": max_tokens},
                          task=task_for(field, signature, (), inputs))
        response = lm.call(request)
        cut += response.finish_reason == "length"
        try:
            value = adapter.parse(signature, response.text)[field]
        except Exception:  # noqa: BLE001 - any parse failure counts, whatever the adapter raises
            failures += 1
            value = None
        right += value is not None and normalize(str(value)) == normalize(item[field])
        if verbose:  # one line per reply, so a slow run shows what it has so far
            print(f"  {signature.__name__} {adapter_name}: {'unparsed' if value is None else 'parsed'}, "
                  f"{response.finish_reason}, {response.usage.completion_tokens} tokens: {response.text[:70]!r}",
                  flush=True)
    return {"items": len(items), "parse_failures": failures, "cut_at_max_tokens": cut, "exact": right}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--adapters", default="compact,json,chat")
    parser.add_argument("--tasks", default="count,sum,people.find_person,people.find_fact,people.answer")
    parser.add_argument("--verbose", action="store_true", help="print each reply as it comes")
    args = parser.parse_args()
    lm = LocalLM()
    every = [("count", Count, 64, count_items(args.items), "answer"), ("sum", Sum, 64, sum_items(args.items), "answer"),
             *people_tasks(args.items)]
    tasks = [next(task for task in every if task[0] == name) for name in args.tasks.split(",")]
    print(f"{lm!r}")
    print(f"{'task':<20} {'adapter':<8} {'items':>5} {'unparsed':>8} {'cut':>4} {'exact':>5}")
    for adapter_name in args.adapters.split(","):
        for label, signature, max_tokens, items, field in tasks:
            row = measure(lm, adapter_name, signature, max_tokens, items, field, args.verbose)
            print(f"{label:<20} {adapter_name:<8} {row['items']:>5} {row['parse_failures']:>8} "
                  f"{row['cut_at_max_tokens']:>4} {row['exact']:>5}", flush=True)


if __name__ == "__main__":
    main()
