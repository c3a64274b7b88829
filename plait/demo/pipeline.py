"""The demo pipeline: find the person, find the fact about them, answer from the fact."""

from __future__ import annotations

import re

import plait


class FindPerson(plait.Signature):
    """Name the person the question asks about."""

    question: str = plait.InputField()
    person: str = plait.OutputField(desc="a first name")


class FindFact(plait.Signature):
    """Copy the one sentence of the context that is about the person."""

    context: str = plait.InputField()
    person: str = plait.InputField()
    fact: str = plait.OutputField(desc="one sentence of the context")


class Answer(plait.Signature):
    """Answer the question with one word taken from the fact."""

    question: str = plait.InputField()
    fact: str = plait.InputField()
    answer: str = plait.OutputField(desc="one word")


class PeopleQA(plait.Module):
    """Three LM nodes: extract (who is asked about), retrieve (which fact), answer (one word)."""

    def __init__(self) -> None:
        self.find_person = plait.Predict(FindPerson, max_tokens=16)
        self.find_fact = plait.Predict(FindFact, max_tokens=40)
        self.answer = plait.Predict(Answer, max_tokens=16)

    def forward(self, context: str, question: str):
        person = self.find_person(question=question).person
        fact = self.find_fact(context=context, person=person).fact
        return self.answer(question=question, fact=fact)


def normalize(text: str) -> str:
    words = re.sub(r"[^a-z ]", " ", str(text).lower()).split()
    return " ".join(w for w in words if w not in ("a", "an", "the"))


def exact_match(example: dict, prediction: plait.Prediction) -> bool:
    """The answer, lower-cased and without punctuation or articles, equals the label."""
    return normalize(example["answer"]) == normalize(prediction.answer)
