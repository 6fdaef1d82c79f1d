"""docs/notebooks/tour.ipynb runs top to bottom in a fresh kernel (nbclient), and what it shows is
right: values checked by hand, the displays of each kind present, the TransformerLens model's
trace equal to the simulator's."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebooks" / "tour.ipynb"


@pytest.mark.slow
def test_the_tour_notebook_runs_and_shows_the_right_things() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # the stored outputs are for readers; these come from this run
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = ["".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream") for cell in cells]
    shown = [{key: value for o in cell.outputs for key, value in o.get("data", {}).items()} for cell in cells]

    assert printed[0].strip() == "[1, 1, 2, 2, 1]"  # histogram of "hello"
    assert "<table" in shown[0]["text/html"] and ">2</td>" in shown[0]["text/html"]
    assert shown[1]["text/html"].count("■") == 7  # "hello" == itself: 5 diagonal cells and l-l twice
    assert printed[2].strip() == "['c', 'c', 'b', 'a']"
    assert "data:image/png;base64," in shown[2]["text/html"] and ">head<" in shown[2]["text/html"]
    assert printed[3].startswith("matches the simulator: True") and "image/png" in shown[3]
    assert "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #" in printed[4]
    assert "equal to the simulator's trace: True" in printed[4]
    assert "(batch, heads, query, key)" in printed[5]
    assert "attends to position" in printed[6]
