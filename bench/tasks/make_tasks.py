"""Two small tasks of plait's own making for ``bench_optimizers.py``, generated with a fixed seed.

- ``sentiment.jsonl``: a short restaurant review (two clauses from word lists) -> positive or
  negative. A classification task: the label is decided by the words the generator picked.
- ``antonyms.jsonl``: "What is the opposite of 'hot'?" in one of several phrasings -> one word.
  A short-answer task scored by exact match on the lower-cased word.

Written for plait (Apache-2.0, like the project). ``python bench/tasks/make_tasks.py`` rewrites both.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SEED, SIZE = 0, 200

GOOD = ["delicious", "wonderful", "fresh", "excellent", "lovely", "tasty", "perfect", "superb", "great", "friendly"]
BAD = ["cold", "awful", "stale", "terrible", "bland", "greasy", "rude", "soggy", "dirty", "disappointing"]
THINGS = ["soup", "pasta", "service", "bread", "dessert", "coffee", "staff", "salad", "pizza", "fish"]
SHAPES = ["The {t} was {a}.", "Honestly, the {t} was {a}.", "We found the {t} {a}.", "Our {t} arrived {a}."]
LINKS = [" and ", ", and also ", ". Also, ", ". "]

PAIRS = [("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"), ("old", "new"), ("happy", "sad"),
         ("light", "dark"), ("open", "closed"), ("early", "late"), ("full", "empty"), ("hard", "soft"),
         ("high", "low"), ("long", "short"), ("rich", "poor"), ("strong", "weak"), ("wet", "dry"),
         ("clean", "dirty"), ("first", "last"), ("inside", "outside"), ("win", "lose"), ("yes", "no"),
         ("day", "night"), ("left", "right"), ("push", "pull"), ("buy", "sell"), ("give", "take"),
         ("true", "false"), ("thick", "thin"), ("loud", "quiet"), ("near", "far"), ("begin", "end"),
         ("love", "hate"), ("alive", "dead"), ("cheap", "expensive"), ("north", "south"), ("east", "west")]
ASK = ["What is the opposite of '{w}'?", "Give the antonym of '{w}'.", "Opposite of the word '{w}'?",
       "Which word means the opposite of '{w}'?"]


def review(rng: random.Random, index: int) -> dict:
    positive = rng.random() < 0.5
    words = GOOD if positive else BAD
    things = rng.sample(THINGS, 2)
    clauses = [rng.choice(SHAPES).format(t=t, a=rng.choice(words)) for t in things]
    link = rng.choice(LINKS)
    second = clauses[1] if link.endswith(". ") else clauses[1][0].lower() + clauses[1][1:]
    text = clauses[0].rstrip(".") + link + second
    return {"id": f"s{index:03d}", "review": text, "sentiment": "positive" if positive else "negative"}


def antonym(rng: random.Random, index: int) -> dict:
    word, opposite = rng.choice(PAIRS)
    if rng.random() < 0.5:
        word, opposite = opposite, word
    return {"id": f"a{index:03d}", "question": rng.choice(ASK).format(w=word), "answer": opposite}


def generate(make, size: int = SIZE, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    return [make(rng, i) for i in range(size)]


def write(name: str, items: list[dict]) -> None:
    (FOLDER / f"{name}.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))


if __name__ == "__main__":
    write("sentiment", generate(review))
    write("antonyms", generate(antonym))
    print(f"wrote {SIZE} items each to {FOLDER}/sentiment.jsonl and antonyms.jsonl")
