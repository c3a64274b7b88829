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
    ("md", "In a notebook the compiled pipeline displays itself: its graph and each node's prompt state."),
    ("code", """compiled"""),
    ("md", "## 3. Evaluate\n\nAn evaluation is a checkpointed run plus a score with a bootstrap confidence interval."),
    ("code", """data = load()
train, dev = data[:12], data[-20:]
print(dev[0])

def exact_match(example, prediction):
    return example["answer"].lower() == prediction.answer.strip(" .").lower()

before = plait.evaluate(compiled, dev, exact_match, store=STORE, parse_retries=1)
print(before)
before.items[0]"""),
    ("md", "The run behind the evaluation displays its counts and its graph coloured by status; `node_table()` has a row per node."),
    ("code", """before.run"""),
    ("code", """before.run.node_table()"""),
    ("md", """## 4. Optimize

`BootstrapFewShot` runs the pipeline on the training items (through the executor, so it is
checkpointed too), keeps the runs whose answer is right, and turns each node's inputs and outputs in
them into that node's demos."""),
    ("code", """optimized = plait.compile(PeopleQA(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=4, max_labeled_demos=4, teacher_demos=3),
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


OPTIMIZE = [
    ("md", """# Optimizing prompts with plait

Compile the demo pipeline with `BootstrapFewShot` on the embedded SmolLM2-135M model, compare the
evaluations before and after, see exactly what changed in the plan, and look at the notebook
displays of a compiled pipeline and of a run."""),
    ("code", """import plait
from plait.demo.data import load
from plait.demo.pipeline import PeopleQA, exact_match

plait.configure(lm=plait.LocalLM())
STORE = "optimize.db"
data = load()
train, dev = data[:8], data[-8:]"""),
    ("md", """## The uncompiled pipeline

A compiled pipeline displays itself: its DAG (each node with its op, id and types), every node's
prompt state (instructions, demos, adapter, LM, where the demos came from) and its text form."""),
    ("code", """baseline = plait.compile(PeopleQA())
baseline"""),
    ("code", """before = plait.evaluate(baseline, dev, exact_match, store=STORE, parse_retries=1)
before"""),
    ("md", """## Compile with BootstrapFewShot

The optimizer runs the pipeline on the training items (a checkpointed run, with its own progress
bar), keeps the items whose answer is right, and turns each node's inputs and outputs in them into
that node's demos."""),
    ("code", """optimized = plait.compile(PeopleQA(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=3, max_labeled_demos=3, teacher_demos=3),
                          trainset=train, metric=exact_match, store=STORE, parse_retries=1)
optimized"""),
    ("md", "## What changed\n\n`diff` lists, node by node, the instructions, demos, types and settings that differ."),
    ("code", """print(baseline.diff(optimized)[:2000])"""),
    ("md", "## Compare the evaluations\n\nEach score comes with a 95% bootstrap interval; a failed item scores 0 and keeps its error."),
    ("code", """after = plait.evaluate(optimized, dev, exact_match, store=STORE, parse_retries=1)
print("uncompiled:", before)
print("optimized: ", after)
print("intervals overlap:", before.overlaps(after))"""),
    ("md", """## The run behind an evaluation

A run displays its counts (items by status, LM calls, tokens, cost, wall time) and its graph
coloured by status. `to_pandas()` gives one row per item, `node_table()` one row per node."""),
    ("code", """after.run"""),
    ("code", """after.run.to_pandas().head()"""),
    ("code", """table = after.run.node_table()
assert table["lm_calls"].sum() == after.run.stats.lm_calls
table"""),
]

DURABLE = [
    ("md", """# Durable runs: stop, resume, edit, rerun

Every node output of every run is recorded in a SQLite store. A run that stops part-way (here: its
LM-call budget runs out; a crash or a Ctrl-C is the same) is finished by `plait.resume` without
repeating recorded work, and after you edit one prompt only that node calls the LM again."""),
    ("code", """import plait
from plait.demo.data import load
from plait.demo.pipeline import PeopleQA

plait.configure(lm=plait.LocalLM())
STORE = "durable.db"
items = load()[:3]
compiled = plait.compile(PeopleQA())"""),
    ("md", """## 1. A run that stops part-way

A budget of 4 LM calls covers fewer than 2 of the 3 items (3 calls each). The run stops cleanly:
the calls in flight finish and are recorded, unfinished items are `interrupted`, and the graph
shows where each node stands."""),
    ("code", """stopped = compiled.run(items, store=STORE, budget=plait.Budget(lm_calls=4))
assert stopped.status == "stopped"
stopped"""),
    ("md", "## 2. Resume\n\nRecorded nodes replay from the journal; only the missing ones call the LM."),
    ("code", """resumed = plait.resume(stopped.id, store=STORE)
assert resumed.status in ("done", "failed") and stopped.stats.lm_calls + resumed.stats.lm_calls <= 3 * len(items)
print(f"first attempt: {stopped.stats.lm_calls} LM calls; resume: {resumed.stats.lm_calls} LM calls, "
      f"{resumed.stats.replayed} node results replayed")
resumed.node_table()"""),
    ("md", """## 3. Edit one prompt and rerun

Change the instructions of the last node. Its content key changes, so it recomputes; the two
nodes above it have the same keys and inputs, so their recorded outputs are reused."""),
    ("code", """edited = compiled.update("people_qa.answer", instructions="Reply with the single word from the fact that answers the question.")
print(compiled.diff(edited))
rerun = edited.run(items, store=STORE)
table = rerun.node_table().set_index("node")
upstream = table.loc[["people_qa.find_person", "people_qa.find_fact"]]
assert upstream["lm_calls"].sum() == 0 and (upstream["cache_hits"] == len(items)).all()
assert table.loc["people_qa.answer", ["lm_calls", "failed_nodes"]].sum() == len(items)  # one call each; a reply may not parse
table"""),
    ("code", """rerun"""),
    ("code", """rerun.to_pandas()"""),
    ("md", """## 4. Inside Jupyter's own event loop

The cells above called the synchronous API while this kernel's event loop is running: plait runs
the work on a fresh loop in a worker thread, so nothing patches the notebook's loop and no
`nest_asyncio` is needed. Async code can `await` the same runs."""),
    ("code", """import asyncio, sys
loop = asyncio.get_running_loop()
assert "nest_asyncio" not in sys.modules and not hasattr(loop, "_nest_patched")
finished = [item for item, result in zip(items, rerun.items) if result.status == "done"]
again = await edited.arun(finished, store=STORE)
assert again.stats.lm_calls == 0 and again.outputs == [r.outputs for r in rerun.items if r.status == "done"]
again.stats"""),
    ("md", """## 5. A person in the loop

A `plait.HumanInput` node asks a person, typed by a signature like any LM node. The item waits,
durably: this kernel could exit, and the answer could come hours later from `plait answer` in a
terminal. Resuming after the answer replays the LM nodes: none of them is called again."""),
    ("code", """class Review(plait.Signature):
    \"\"\"Is this answer right?\"\"\"

    question: str = plait.InputField()
    answer: str = plait.InputField()
    approved: bool = plait.OutputField()


class Reviewed(plait.Module):
    def __init__(self):
        self.qa = PeopleQA()
        self.review = plait.HumanInput(Review)

    def forward(self, context: str, question: str):
        answer = self.qa(context=context, question=question).answer
        return {"answer": answer, "approved": self.review(question=question, answer=answer).approved}


answered = [item for item, result in zip(items, resumed.items) if result.status == "done"][:1]
waiting = plait.compile(Reviewed()).run(answered, store=STORE)
assert waiting.status == "waiting"
waiting.pending()"""),
    ("code", """question = waiting.pending()[0]
plait.answer(waiting.id, question.item_id, question.node_id, {"approved": True}, store=STORE)
reviewed = plait.resume(waiting.id, store=STORE)
assert reviewed.status == "done" and reviewed.stats.lm_calls == 0
reviewed.outputs[0]"""),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable ids: regenerating a notebook changes only what was edited
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    nbformat.write(build(QUICKSTART), HERE / "quickstart.ipynb")
    nbformat.write(build(OPTIMIZE), HERE / "optimize.ipynb")
    nbformat.write(build(DURABLE), HERE / "durable.ipynb")
