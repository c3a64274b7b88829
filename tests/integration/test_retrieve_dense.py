"""Dense retrieval with the bundled all-MiniLM-L6-v2 (the ``dense`` extra), offline.

Runs in a subprocess with the Hugging Face hub switched off and every proxy pointed at a closed
port, so a model or file fetched from the network at run time fails the test instead of passing
unnoticed. Skipped when the extra is not installed.
"""

import json
import os
import subprocess
import sys

import pytest

from plait.pipeline.retrieval.indexes import dense_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not dense_available(), reason="the dense extra is not installed")]

SCRIPT = r"""
import json, sys
import plait

CORPUS = ["The cat purred on the warm sofa.", "Stock markets fell sharply on Monday.",
          "The violinist played a sonata by Bach.", "Heavy rain flooded the valley roads."]

class Search(plait.Module):
    def __init__(self):
        self.retrieve = plait.Retrieve(CORPUS, k=2, method="dense", index_dir=sys.argv[1])
    def forward(self, question: str):
        return self.retrieve(query=question)

program = Search()
compiled = plait.compile(program)
run = compiled.run([{"question": "a kitten napping"}, {"question": "classical music concert"}],
                   store=sys.argv[2], progress=False)
retriever = program.retrieve.retriever()
calls = retriever.calls
eager = program.retrieve(query="a storm over the roads")  # outside a run: opens the index
print(json.dumps({"ids": [o.ids for o in run.outputs], "scores": [o.scores for o in run.outputs],
                  "steps": run.stats.steps, "hits": run.stats.cache_hits, "calls": calls,
                  "builds": retriever.builds, "eager": eager.ids}))
"""


def _run(tmp_path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "indexes"), str(tmp_path / "runs.db")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dense_retrieval_finds_meaning_without_shared_words_and_is_reused(tmp_path):
    first = _run(tmp_path)
    assert [ids[0] for ids in first["ids"]] == ["0", "2"]  # kitten -> cat, concert -> violinist
    assert first["scores"][0][0] > first["scores"][0][1] and first["calls"] == 2 and first["builds"] == 1
    assert (tmp_path / "indexes").is_dir() and any((tmp_path / "indexes").glob("*/embeddings.npy"))
    second = _run(tmp_path)  # a new process: the index loads from disk, the results from the store
    assert second["ids"] == first["ids"] and second["steps"] == 0 and second["hits"] == 2
    assert second["calls"] == 0 and second["builds"] == 0  # the eager search loaded the saved index
    assert first["eager"][0] == second["eager"][0] == "3"
