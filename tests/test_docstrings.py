"""Every public function is documented the numpy way (Parameters, Returns, Examples), and its examples run.

The API reference (docs/) is generated from these docstrings, so a function added to a module's ``__all__`` is
checked here without any change to this file. The rule is the docs extension's own (``missing_sections`` in
``docs/_ext/tmekit_docs.py``), which also fails the docs build. Examples run as doctests in a fresh folder, with
``tk``, ``sc``, ``np``, ``pd`` and ``plt`` imported; their printed output is compared with ellipsis allowed.
"""

from __future__ import annotations

import doctest
import importlib.util
import inspect
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

EXTENSION = Path(__file__).resolve().parents[1] / "docs" / "_ext" / "tmekit_docs.py"
_spec = importlib.util.spec_from_file_location("tmekit_docs", EXTENSION)
assert _spec and _spec.loader
docs_ext = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_ext)

MODULES = [tk.pp, tk.tl, tk.sp, tk.pl, tk.get, tk.io, tk.datasets, tk.signatures, tk.report]
FUNCTIONS = {
    f"{module.__name__}.{name}": obj
    for module in MODULES
    for name, obj in docs_ext.public_objects(module).items()
    if docs_ext.is_function(obj)
}


def test_the_api_reference_covers_every_module():
    assert set(docs_ext.MODULES) == {m.__name__ for m in MODULES} | {"tmekit"}
    assert len(FUNCTIONS) > 70


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_docstring_has_parameters_returns_examples(name):
    missing = docs_ext.missing_sections(FUNCTIONS[name])
    assert not missing, f"{name}: the docstring lacks {', '.join(missing)} (numpy style, as tk.tl.score's)"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    doc = inspect.getdoc(FUNCTIONS[name]) or ""
    globs = {"tk": tk, "sc": sc, "np": np, "pd": pd, "plt": plt}
    test = doctest.DocTestParser().get_doctest(doc, globs, name, None, 0)
    assert test.examples, f"{name}: no `>>>` example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the examples show what a call returns; warnings are tested elsewhere
            runner.run(test, out=report.append)
    finally:
        plt.close("all")
    assert runner.failures == 0, "".join(report)
