"""Writes the notebooks from their cells (kept here as plain Python, reviewed like code).

Run: .venv/bin/python notebooks/make_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

QUICKSTART = [
    ("md", """# plait quickstart

Declare a pipeline, compile it, evaluate it, optimize its prompts, and rerun it from checkpoints:
all on the embedded SmolLM2-135M model, with no API key. (The same story as `make demo`, on a
smaller split so that it runs in about a minute.)"""),
    ("code", """import plait
from plait.demo.data import load

plait.configure(lm=plait.LocalLM())   # the embedded model: llama.cpp on the CPU
STORE = "quickstart.db"               # every node output of every run is recorded here"""),
    ("md", """## 1. Declare

Three typed LM modules: find who the question is about, find the sentence about them, answer in
one word. `forward` only wires modules together; Python logic on their outputs belongs in a
`@plait.step`."""),
    ("code", """class FindPerson(plait.Signature):
    \"\"\"Name the person the question asks about.\"\"\"
    question: str = plait.InputField()
    person: str = plait.OutputField(desc="a first name")

class FindFact(plait.Signature):
    \"\"\"Copy the one sentence of the context that is about the person.\"\"\"
    context: str = plait.InputField()
    person: str = plait.InputField()
    fact: str = plait.OutputField(desc="one sentence of the context")

class Answer(plait.Signature):
    \"\"\"Answer the question with one word taken from the fact.\"\"\"
    question: str = plait.InputField()
    fact: str = plait.InputField()
    answer: str = plait.OutputField(desc="one word")

class PeopleQA(plait.Module):
    def __init__(self):
        self.find_person = plait.Predict(FindPerson, max_tokens=16)
        self.find_fact = plait.Predict(FindFact, max_tokens=40)
        self.answer = plait.Predict(Answer, max_tokens=16)

    def forward(self, context: str, question: str):
        person = self.find_person(question=question).person
        fact = self.find_fact(context=context, person=person).fact
        return self.answer(question=question, fact=fact)"""),
    ("md", "## 2. Compile\n\nTracing gives every node a stable id and your source line; the plan prints the same way every time."),
    ("code", """compiled = plait.compile(PeopleQA())
print(compiled)"""),
    ("md", "## 3. Evaluate\n\nAn evaluation is a checkpointed run plus a score with a bootstrap confidence interval."),
    ("code", """data = load()
train, dev = data[:12], data[-20:]
print(dev[0])

def exact_match(example, prediction):
    return example["answer"].lower() == prediction.answer.strip(" .").lower()

before = plait.evaluate(compiled, dev, exact_match, store=STORE, parse_retries=1)
print(before)
before.items[0]"""),
    ("md", """## 4. Optimize

`BootstrapFewShot` runs the pipeline on the training items (through the executor, so it is
checkpointed too), keeps the runs whose answer is right, and turns each node's inputs and outputs in
them into that node's demos."""),
    ("code", """optimized = plait.compile(PeopleQA(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=4, teacher_demos=3),
                          trainset=train, metric=exact_match, store=STORE, parse_retries=1)
print(compiled.diff(optimized)[:1500])"""),
    ("code", """after = plait.evaluate(optimized, dev, exact_match, store=STORE, parse_retries=1)
print("uncompiled:", before)
print("optimized: ", after)"""),
    ("md", """## 5. Rerun from checkpoints

Run the same evaluation again: every node's content key matches a stored output, so no LM call
is made. A crashed run is finished with `plait.resume(run_id, store=...)` the same way."""),
    ("code", """again = plait.evaluate(optimized, dev, exact_match, store=STORE)
print(again.run.stats)
assert again.lm_calls == 0 and again.score == after.score
resumed = plait.resume(after.run.id, store=STORE)
print(resumed)"""),
    ("md", "## 6. Save the compiled plan\n\nPlain JSON (no pickle): the prompts, the demos and which optimizer chose them."),
    ("code", """optimized.save("quickstart_plan.json")
loaded = plait.CompiledPipeline.load("quickstart_plan.json")
assert loaded == optimized
print(loaded.plan.node("people_qa.answer").params.demos[0])"""),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    nbformat.write(build(QUICKSTART), HERE / "quickstart.ipynb")
