"""Sphinx extension of tmekit's docs: the pages that come from the code, written when a build starts.

At ``config-inited`` (before Sphinx looks for source files) it writes, into ``docs/generated/`` (git-ignored):

- ``api/<module>.rst``: one page per public module, listing its ``__all__`` (functions and classes through
  autosummary, one page each; constants with the ``#:`` comment that documents them). A function added to a
  module's ``__all__`` gets its page at the next build, with no change here;
- ``include/*.md``: the signature library, the rule sets and models, the command-line help and the refused
  inputs (``tmekit_tables``), included by the hand-written pages;
- ``inventories/*.inv``: the cross-reference inventories of other projects, compiled from ``docs/inventories``;

and copies ``notebooks/*.ipynb`` to ``docs/tutorials/`` (git-ignored there), where myst-nb executes them.

A public object without a docstring, or a public function whose docstring lacks a Parameters (when it takes
any), Returns or Examples section, is a warning (an error under ``-W``); :func:`missing_sections` is the rule,
which ``tests/test_docs.py`` applies too.
"""

from __future__ import annotations

import inspect
import shutil
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

import tmekit as tk

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "generated"
LOGGER = logging.getLogger(__name__)

#: The public modules, in the order of the API reference, with the heading of each page.
MODULES = {
    "tmekit.pp": "Preprocessing: input checks and cell-type roles",
    "tmekit.tl": "Tools: scoring, annotation, classification",
    "tmekit.sp": "Spatial: compartments, evidence, spots",
    "tmekit.pl": "Plots",
    "tmekit.get": "Results as tables",
    "tmekit.io": "Reading and writing",
    "tmekit.datasets": "Datasets",
    "tmekit.signatures": "Signature library",
    "tmekit.report": "HTML report",
    "tmekit": "Top level: version and warning classes",
}
SECTIONS = ("Parameters", "Returns", "Examples")


def public_objects(module: object) -> dict[str, object]:
    """``name -> object`` for the module's ``__all__`` (submodules left out)."""
    return {n: getattr(module, n) for n in module.__all__ if not inspect.ismodule(getattr(module, n))}


def is_function(obj: object) -> bool:
    """A public callable that is not a class (functions, and wrappers such as ``functools.cache``)."""
    return callable(obj) and not isinstance(obj, type)


def missing_sections(obj: object) -> list[str]:
    """The numpy sections a public function's docstring lacks (Parameters only when it takes parameters)."""
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return ["a docstring"]
    params = inspect.signature(obj).parameters
    wanted = [s for s in SECTIONS if s != "Parameters" or params]
    return [s for s in wanted if f"\n{s}\n{'-' * len(s)}\n" not in f"\n{doc}\n"]


def _write(path: Path, text: str) -> None:
    """Write only when the text changed (Sphinx rebuilds what is newer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _constant_doc(value: object) -> str:
    """The ``#:`` comment documenting a constant, in the tmekit module that defines it (under any name)."""
    for modname in sorted(m for m in sys.modules if m == "tmekit" or m.startswith("tmekit.")):
        module = sys.modules[modname]
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # no source to analyse: try the next module
            continue
        for (owner, attr), lines in docs.items():
            if not owner and getattr(module, attr, None) is value:
                return "\n".join(lines).strip()
    return ""


def _module_page(module_name: str, heading: str) -> str:
    module = sys.modules[module_name]
    objects = public_objects(module)
    qual = list(objects)
    functions = [q for q, o in zip(qual, objects.values(), strict=True) if is_function(o)]
    classes = [q for q, o in zip(qual, objects.values(), strict=True) if isinstance(o, type)]
    constants = {q: o for q, o in zip(qual, objects.values(), strict=True) if not callable(o)}
    title = f"``{module_name}``: {heading}"
    lines = [title, "=" * len(title), "", f".. module:: {module_name}", "   :no-index:", ""]
    lines += [f".. currentmodule:: {module_name}"]
    summary = (inspect.getdoc(module) or "").split("\n\n")[0]
    lines += ["", summary, ""]
    for what, names, template in (("Functions", functions, None), ("Classes", classes, "class.rst")):
        if names:
            lines += [what, "-" * len(what), "", ".. autosummary::", "   :toctree: .", "   :nosignatures:"]
            lines += [f"   :template: {template}"] if template else []
            lines += ["", *(f"   {n}" for n in names), ""]
    if constants:
        lines += ["Constants", "---------", ""]
        for name, value in constants.items():
            doc = _constant_doc(value)
            if not doc:
                LOGGER.warning("%s.%s is public but has no `#:` comment documenting it", module_name, name)
            lines += [f".. py:data:: {name}", f"   :module: {module_name}", f"   :type: {type(value).__name__}", ""]
            lines += [f"   {line}" if line else "" for line in (doc or "(undocumented)").splitlines()]
            lines += [""]
    for qual_name, obj in zip(qual, objects.values(), strict=True):
        missing = missing_sections(obj) if is_function(obj) else ([] if inspect.getdoc(obj) else ["a docstring"])
        if missing:
            LOGGER.warning("%s.%s: the docstring lacks %s", module_name, qual_name, ", ".join(missing))
    return "\n".join(lines) + "\n"


def _api_pages() -> None:
    toc = ["API reference", "=============", ""]
    toc += ["Every public object of every module, generated from the modules' ``__all__`` and the docstrings.", ""]
    toc += [".. toctree::", "   :maxdepth: 1", ""]
    for module_name, heading in MODULES.items():
        _write(GENERATED / "api" / f"{module_name}.rst", _module_page(module_name, heading))
        toc.append(f"   {module_name}")
    _write(GENERATED / "api" / "index.rst", "\n".join(toc) + "\n")


def _inventories() -> None:
    """``docs/inventories/<project>.txt`` (``name domain:role uri``) -> Sphinx's ``objects.inv`` format."""
    for source in sorted((DOCS / "inventories").glob("*.txt")):
        entries = []
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                name, role, uri = line.split()
                entries.append(f"{name} {role} 1 {uri} -\n")
        header = f"# Sphinx inventory version 2\n# Project: {source.stem}\n# Version: stable\n"
        header += "# The remainder of this file is compressed using zlib.\n"
        out = GENERATED / "inventories" / f"{source.stem}.inv"
        out.parent.mkdir(parents=True, exist_ok=True)
        data = header.encode() + zlib.compress("".join(entries).encode())
        if not out.is_file() or out.read_bytes() != data:
            out.write_bytes(data)


def _notebooks() -> None:
    """The tutorials are the notebooks of ``notebooks/`` (copied when changed; executed by myst-nb)."""
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = DOCS / "tutorials" / notebook.name
        if not target.is_file() or target.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, target)


def generate(_app: Sphinx, _config: Config) -> None:
    """Write every generated page (see the module docstring)."""
    from tmekit_tables import cli_reference, headline_table, refusal_table, rule_tables, rules_summary, signature_tables

    _inventories()
    _notebooks()
    _api_pages()
    include = GENERATED / "include"
    _write(include / "headline.md", headline_table())
    _write(include / "signatures.md", signature_tables())
    _write(include / "rules-summary.md", rules_summary())
    _write(include / "rules.md", rule_tables())
    _write(include / "cli.md", cli_reference())
    _write(include / "refusals.md", refusal_table(ROOT / "tests"))


def wrapper_signature(_app: Sphinx, what: str, _name: str, obj: object, *_args: object) -> tuple[str, None] | None:
    """The signature a decorated function declares (``__signature__``), not the wrapped function's.

    ``accepts_spatialdata`` adds ``table_key=`` and ``coordinate_system=``; sphinx-autodoc-typehints would show the
    signature of the function it wraps.
    """
    if what != "function" or not hasattr(obj, "__wrapped__") or "__signature__" not in vars(obj):
        return None
    sig = inspect.signature(obj)
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=bare, return_annotation=inspect.Signature.empty)), None


def setup(app: Sphinx) -> dict[str, object]:
    """Register :func:`generate` and :func:`wrapper_signature` (Sphinx calls this when it loads the extension)."""
    app.connect("config-inited", generate)
    app.connect("autodoc-process-signature", wrapper_signature, priority=400)  # before sphinx-autodoc-typehints
    return {"version": tk.__version__, "parallel_read_safe": True, "parallel_write_safe": True}
