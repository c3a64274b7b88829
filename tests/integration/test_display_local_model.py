"""The displays of a run on the embedded model: real tokens and timings land in the node table,
the item table and the graph."""

from __future__ import annotations


import pytest

import plait

from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model


class Capital(plait.Signature):
    """Name the capital city of the country."""

    country: str = plait.InputField()
    capital: str = plait.OutputField(desc="a city")


def test_a_local_model_run_fills_the_tables_and_the_graph(tmp_path):
    compiled = plait.compile(plait.Predict(Capital, max_tokens=12))
    run = compiled.run([{"country": "France"}, {"country": "Japan"}], store=str(tmp_path / "r.db"),
                       lm=plait.LocalLM(), progress=False)
    nodes = run.node_table()
    assert nodes["node"].tolist() == ["predict"]
    row = nodes.iloc[0]
    assert row["lm_calls"] + row["failed_nodes"] == 2 and row["lm_calls"] == run.stats.lm_calls
    assert row["prompt_tokens"] == run.stats.prompt_tokens > 0 and row["seconds"] > 0
    items = run.to_pandas()
    assert items["item"].tolist() == ["0", "1"] and list(items.columns) == ["item", "status", "error", "capital"]
    done = items[items["status"] == "done"]
    assert done["capital"].tolist() == [r.outputs.capital for r in run.items if r.status == "done"]
    page = run._repr_html_()
    expected = "failed" if run.failed else "done"
    assert f'data-node="predict" data-op="predict" data-status="{expected}"' in page
    assert f"{run.stats.prompt_tokens} prompt" in page
