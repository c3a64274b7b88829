"""Multi-hop retrieval: write a query, retrieve, repeat, answer.

Each question needs two facts from the corpus: "Which province was Ilsa born in?" needs the town
Ilsa was born in (hop 1), then the province of that town (hop 2). The corpus is a few dozen short
facts about an invented world, generated with a fixed seed below (written for plait, Apache-2.0).

    python -m examples.multihop          # on the embedded model; run it twice: the second run is free

Every retrieval is a node in the run's journal like an LM call: kill the run and resume it, and no
finished retrieval or LM call repeats; run it again, and everything is reused by content key.
"""

from __future__ import annotations

import random

import plait

SEED = 7
PEOPLE = ["Ilsa", "Bram", "Odile", "Tomas", "Wren", "Kasimir", "Noor", "Fenna", "Anselm", "Ysolde", "Dario", "Maeve"]
TOWNS = ["Harrowgate", "Lindmoor", "Quellen", "Brisca", "Tollvik", "Marrow", "Sennet", "Ostra", "Vellum", "Craike",
         "Dunmere", "Pellow"]
PROVINCES = ["Arden", "Calder", "Esk", "Morva"]
TRADES = ["glassblower", "cartographer", "beekeeper", "luthier", "ferryman", "weaver"]


def world(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(facts, questions): each person's birth town and trade, each town's province."""
    rng = random.Random(seed)
    towns = rng.sample(TOWNS, len(PEOPLE))
    facts, questions = [], []
    for town in TOWNS:
        facts.append({"id": f"town-{town}", "text": f"{town} is a town in the province of {rng.choice(PROVINCES)}."})
    province = {f["id"][5:]: f["text"].split()[-1].rstrip(".") for f in facts}
    for person, town in zip(PEOPLE, towns):
        facts.append({"id": f"born-{person}", "text": f"{person} was born in {town}."})
        facts.append({"id": f"trade-{person}", "text": f"{person} works as a {rng.choice(TRADES)}."})
        questions.append({"question": f"Which province was {person} born in?", "answer": province[town]})
    return facts, questions


class GenerateQuery(plait.Signature):
    """Write a short search query for the fact still missing to answer the question."""

    question: str = plait.InputField()
    context: list[str] = plait.InputField(desc="facts found so far")
    query: str = plait.OutputField()


class Answer(plait.Signature):
    """Answer the question with one word taken from the context."""

    question: str = plait.InputField()
    context: list[str] = plait.InputField()
    answer: str = plait.OutputField()


@plait.step
def gather(context: list[str], passages: list[str]) -> list[str]:
    """The context so far plus the new passages, without repeats, in the order found."""
    return context + [p for p in passages if p not in context]


def worked_example() -> dict[str, list[dict]]:
    """One solved question (the last person's, which main() never asks) as demos for each node:
    a 135M model follows a shown example far better than an instruction."""
    facts, questions = world()
    text = {f["id"]: f["text"] for f in facts}
    person = PEOPLE[-1]
    born, trade = text[f"born-{person}"], text[f"trade-{person}"]
    town = born.split()[-1].rstrip(".")
    question, answer = questions[-1]["question"], questions[-1]["answer"]
    return {
        "hop0": [{"question": question, "context": [], "query": f"{person} born"}],
        "hop1": [{"question": question, "context": [born, trade], "query": f"{town} province"}],
        "answer": [{"question": question, "context": [born, trade, text[f"town-{town}"]], "answer": answer}],
    }


class MultiHop(plait.Module):
    def __init__(self, corpus: list | str | None = None, hops: int = 2, k: int = 2, index_dir: str | None = None):
        self.hops = hops
        self.generate_query = [plait.Predict(GenerateQuery) for _ in range(hops)]
        self.retrieve = plait.Retrieve(corpus if corpus is not None else world()[0], k=k, index_dir=index_dir)
        self.answer = plait.Predict(Answer)
        demos = worked_example()
        for hop, predict in enumerate(self.generate_query):
            predict.demos = demos["hop0" if hop == 0 else "hop1"]
        self.answer.demos = demos["answer"]

    def forward(self, question: str):
        context: list[str] = []
        for hop in range(self.hops):  # a loop over a constant: it unrolls while tracing
            query = self.generate_query[hop](question=question, context=context).query
            context = gather(context=context, passages=self.retrieve(query=query).passages)
        return self.answer(question=question, context=context)


def main(items: int = 4, store: str = ".plait/multihop.db") -> None:
    plait.configure(lm=plait.LocalLM(max_tokens=32))
    compiled = plait.compile(MultiHop())
    print(compiled)
    questions = world()[1][:items]
    run = compiled.run(questions, store=store)
    for item, result in zip(questions, run.items):
        got = result.outputs.answer if result.status == "done" else f"failed: {result.error}"
        print(f"{item['question']}  expected {item['answer']}, got {got!r}")
    print(f"LM calls {run.stats.lm_calls}, retrievals and steps {run.stats.steps}, "
          f"reused {run.stats.cache_hits}, {run.stats.seconds:.1f} s")


if __name__ == "__main__":
    main()
