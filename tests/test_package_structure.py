"""The public API shape of STYLE.md: adata first, at most one more positional argument, options keyword-only."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import tmekit as tk

PUBLIC_MODULES = [tk.signatures, tk.pp, tk.io, tk.datasets, tk.tl, tk.sp, tk.pl]


def _public_functions():
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield pytest.param(obj, id=f"{module.__name__}.{name}")


@pytest.mark.parametrize("func", list(_public_functions()))
def test_public_function_shape(func):
    """scanpy's rule: adata first, at most one more positional argument, boolean options keyword-only."""
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params]
    if "adata" in names:
        assert names[0] == "adata", "adata must be the first argument"
    assert len(positional) <= 2, f"at most two positional arguments, got {[p.name for p in positional]}"
    for p in params:
        if isinstance(p.default, bool):
            assert p.kind == p.KEYWORD_ONLY, f"boolean option {p.name!r} must be keyword-only"
    assert not {"copy", "inplace"} <= set(names)
    assert func.__doc__, "public functions are documented"


def test_top_level_namespace():
    assert {"signatures", "pp", "io", "datasets", "tl", "sp", "pl", "report"} <= set(tk.__all__)
    assert tk.__version__ != "0+unknown"


def test_importing_configures_no_log_handlers():
    code = "import logging, tmekit; h = logging.getLogger('tmekit').handlers; print([type(x).__name__ for x in h])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['NullHandler']"
