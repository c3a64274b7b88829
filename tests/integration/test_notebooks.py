"""Every notebook in notebooks/ executes top to bottom on the embedded model (a failing cell fails),
and shows the displays it advertises: a cell that ends with a compiled pipeline or a run renders HTML
with its SVG graph."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.local_model
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    shown = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip() in DISPLAYED]
    assert all("<svg" in _html(cell) for cell in shown), [cell.source for cell in shown if "<svg" not in _html(cell)]
    if path.stem == "quickstart":
        assert {cell.source.strip() for cell in shown} == {"compiled", "before.run"}


DISPLAYED = {"compiled", "before.run", "after.run", "baseline", "optimized"}  # cells that are one displayed object


def _html(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs if o.output_type == "execute_result")
