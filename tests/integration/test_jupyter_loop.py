"""Inside a real Jupyter kernel (its event loop running): the synchronous API works without
nest_asyncio, ``await`` works too, and pipelines and runs display as HTML through IPython."""

from __future__ import annotations

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

CELLS = [
    """import asyncio, sys
import plait

class Pair(plait.Module):
    def __init__(self):
        self.left = plait.Predict("question -> a")
        self.right = plait.Predict("question -> b")
        self.join = plait.Predict("a, b -> answer")

    def forward(self, question: str):
        return self.join(a=self.left(question=question).a, b=self.right(question=question).b)

plait.configure(lm=plait.ScriptedLM(lambda task: {f: f"{f}({task.inputs})" for f in task.output_fields}))
compiled = plait.compile(Pair())
compiled""",
    """loop = asyncio.get_running_loop()
run = compiled.run([{"question": "a"}, {"question": "b"}], store="jupyter.db")
assert run.status == "done" and run.stats.lm_calls == 6
assert "nest_asyncio" not in sys.modules and not hasattr(loop, "_nest_patched")
assert asyncio.get_running_loop() is loop  # the kernel's own loop, untouched
run""",
    """again = await compiled.arun([{"question": "a"}, {"question": "b"}], store="jupyter.db")
assert again.stats.lm_calls == 0 and again.stats.cache_hits == 6
print(again.node_table()["cache_hits"].tolist())""",
]


def test_the_sync_api_and_the_displays_inside_a_running_kernel(tmp_path):
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert [o for out in outputs for o in out if o.output_type == "error"] == []
    pipeline_html = outputs[0][-1]["data"]["text/html"]
    assert 'class="plait-graph"' in pipeline_html and 'data-node="pair.join"' in pipeline_html
    bars = [o for o in outputs[1] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(bars) == 1 and "plait" in bars[0]["data"]["text/plain"]  # tqdm.auto's widget, on by default here
    run_html = outputs[1][-1]["data"]["text/html"]
    assert ": done</div>" in run_html and 'data-status="done"' in run_html
    assert "[2, 2, 2]" in outputs[2][-1]["text"]
