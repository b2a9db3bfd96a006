"""The notebooks in notebooks/ are the tutorials of the documentation: committed without outputs.

They are executed by the documentation build (myst-nb, ``nb_execution_raise_on_error``), which the suite runs in
``tests/test_docs.py``: a notebook that no longer runs fails ``test_docs_build_without_warnings`` with the cell
and its traceback. Executing them here as well would only double the time.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "index.md"


def test_there_are_five_notebooks_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_score_scrna.ipynb", "02_spatial_mibi.ipynb", "03_bulk_expression.ipynb", "04_frameworks.ipynb",
        "05_cohort_outcomes.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), path.name


def test_every_notebook_is_a_tutorial_of_the_docs():
    listed = TUTORIALS.read_text()
    assert all(f"\n{path.stem}\n" in listed for path in NOTEBOOKS)
