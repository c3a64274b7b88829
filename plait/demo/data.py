"""The demo dataset: short reading-comprehension items, generated with a fixed seed.

Each item gives three facts about three people and asks about one of them ("Where does Tom
live?"); the answer is one word taken from the context. Items also carry the intermediate labels
(the person asked about, the sentence that answers) so that every node of the demo pipeline can
get labeled demos. The set is written for plait (Apache-2.0,
like the project) by this generator; ``python -m plait.demo.data`` rewrites ``people.jsonl``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PATH = Path(__file__).with_name("people.jsonl")
SEED = 0
SIZE = 160

NAMES = ["Tom", "Maria", "Ana", "Ravi", "Lena", "Omar", "Yuki", "Pedro", "Chloe", "Ivan", "Sara", "Kofi",
         "Nina", "Leo", "Mei", "Hugo", "Zara", "Finn", "Aisha", "Jonas"]
CITIES = ["Lisbon", "Oslo", "Cairo", "Lima", "Hanoi", "Dublin", "Vienna", "Nairobi", "Quito", "Riga",
          "Seoul", "Porto", "Tunis", "Bergen", "Accra", "Kyoto"]
JOBS = ["baker", "pilot", "nurse", "teacher", "farmer", "lawyer", "chef", "dentist", "plumber", "painter",
        "sailor", "judge", "miner", "tailor", "florist", "surgeon"]
PETS = ["cat", "dog", "parrot", "rabbit", "turtle", "hamster", "goldfish", "pony", "ferret", "lizard"]

RELATIONS = {
    "city": ("{n} lives in {v}.", "Where does {n} live?", CITIES),
    "job": ("{n} works as a {v}.", "What is {n}'s job?", JOBS),
    "pet": ("{n} has a pet {v}.", "What pet does {n} have?", PETS),
}


def make_item(rng: random.Random, index: int) -> dict:
    relation = rng.choice(sorted(RELATIONS))
    fact, question, values = RELATIONS[relation]
    people = rng.sample(NAMES, 3)
    answers = rng.sample(values, 3)
    facts = [fact.format(n=n, v=v) for n, v in zip(people, answers)]
    target = rng.randrange(3)
    return {"id": f"p{index:03d}", "context": " ".join(facts), "question": question.format(n=people[target]),
            "person": people[target], "fact": facts[target], "answer": answers[target]}


def generate(size: int = SIZE, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    return [make_item(rng, i) for i in range(size)]


def load() -> list[dict]:
    return [json.loads(line) for line in PATH.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    PATH.write_text("".join(json.dumps(item) + "\n" for item in generate()))
    print(f"wrote {SIZE} items to {PATH}")
