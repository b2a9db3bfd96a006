"""The notebooks in notebooks/ run top to bottom on bundled data (outputs are not committed)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_five_notebooks_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_score_scrna.ipynb", "02_spatial_mibi.ipynb", "03_bulk_expression.ipynb", "04_frameworks.ipynb",
        "05_cohort_outcomes.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    monkeypatch.setenv("TMEKIT_SHARED_DATA", os.environ.get("TMEKIT_SHARED_DATA", str(SHARED_DATA)))  # 04: real data
    client.execute()  # raises CellExecutionError (with the cell and traceback) if any cell errors
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
