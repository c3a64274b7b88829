"""The tasks ``bench_optimizers.py`` compares optimizers on: the demo's PeopleQA (three LM nodes) and
two single-node tasks of plait's own making (``bench/tasks/make_tasks.py``): a classification
(review -> positive/negative) and a short answer (the opposite of a word). Each has a plait program,
its DSPy twin (the same signatures, instructions and token limits) and a deterministic metric."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import dspy

import plait
from plait.demo.data import load as load_people
from plait.demo.pipeline import Answer, FindFact, FindPerson, PeopleQA, normalize

TASKS = Path(__file__).resolve().parent / "tasks"


class Sentiment(plait.Signature):
    """Classify the sentiment of the restaurant review."""

    review: str = plait.InputField()
    sentiment: Literal["positive", "negative"] = plait.OutputField()


class Antonym(plait.Signature):
    """Answer with the one word that means the opposite."""

    question: str = plait.InputField()
    answer: str = plait.OutputField(desc="one lower-case word")


class Classify(plait.Module):
    def __init__(self) -> None:
        self.classify = plait.Predict(Sentiment, max_tokens=16)

    def forward(self, review: str):
        return self.classify(review=review)


class Opposite(plait.Module):
    def __init__(self) -> None:
        self.answer = plait.Predict(Antonym, max_tokens=16)

    def forward(self, question: str):
        return self.answer(question=question)


class DSPyPeopleQA(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.find_person = dspy.Predict(FindPerson, max_tokens=16)
        self.find_fact = dspy.Predict(FindFact, max_tokens=40)
        self.answer = dspy.Predict(Answer, max_tokens=16)

    def forward(self, context: str, question: str) -> dspy.Prediction:
        person = self.find_person(question=question).person
        fact = self.find_fact(context=context, person=person).fact
        return self.answer(question=question, fact=fact)


class DSPyClassify(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.classify = dspy.Predict(Sentiment, max_tokens=16)

    def forward(self, review: str) -> dspy.Prediction:
        return self.classify(review=review)


class DSPyOpposite(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict(Antonym, max_tokens=16)

    def forward(self, question: str) -> dspy.Prediction:
        return self.answer(question=question)


@dataclass(frozen=True)
class Task:
    name: str
    load: Callable[[], list[dict]]
    plait_program: Callable[[], Any]
    dspy_program: Callable[[], Any]
    inputs: tuple[str, ...]
    label: str  # the final output field, scored by exact match after normalizing

    def metric(self, example: Any, prediction: Any, trace: Any = None) -> bool:
        """The label, lower-cased and without punctuation or articles, equals the prediction's."""
        return normalize(example[self.label]) == normalize(getattr(prediction, self.label, "") or "")

    def dspy_examples(self, items: list[dict]) -> list[dspy.Example]:
        return [dspy.Example(**item).with_inputs(*self.inputs) for item in items]


def _jsonl(name: str) -> Callable[[], list[dict]]:
    return lambda: [json.loads(line) for line in (TASKS / f"{name}.jsonl").read_text().splitlines() if line.strip()]


ALL = {
    "people": Task("people", load_people, PeopleQA, DSPyPeopleQA, ("context", "question"), "answer"),
    "sentiment": Task("sentiment", _jsonl("sentiment"), Classify, DSPyClassify, ("review",), "sentiment"),
    "antonyms": Task("antonyms", _jsonl("antonyms"), Opposite, DSPyOpposite, ("question",), "answer"),
}
