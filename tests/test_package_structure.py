"""The package's shape: one API convention for every public function, and the import contract between layers.

The convention (docs/development.md, "API conventions"): an AnnData argument is called ``adata`` and comes first,
with at most one more positional argument; writers (they add results to the object) take keyword-only ``key_added``,
``overwrite`` and ``copy=False`` and return ``AnnData | None``; queries (``tk.get``) return tables and never change
the object; plots take ``ax=`` and return the Figure; boolean options are keyword-only.

The import contract: no module imports a private module (``_name``) of another subpackage, and the subpackages
and top-level modules form no import cycle.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import tmekit as tk

SRC = Path(tk.__file__).parent
PUBLIC_MODULES = [tk.signatures, tk.pp, tk.io, tk.datasets, tk.tl, tk.sp, tk.pl, tk.get, tk.report]
WRITER_RETURN = "AnnData | None"


def _public_functions():
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield pytest.param(obj, id=f"{module.__name__}.{name}")


#: Issue 28: `classify` had 36 parameters; a public function with more than ~20 is a design smell.
MAX_PARAMETERS = 20
#: The label parameters every spatial function used to repeat; now the keys of `tk.pp.cell_types` / `cell_types=`.
#: (`cell_type_key` stays on functions that count cells per type without roles: `pseudo_visium`, `aggregate`.)
ROLE_PARAMETERS = {"tumor_labels", "immune_labels", "cd8_labels", "t_labels", "pdl1_key", "pdl1_threshold"}
#: The functions that read cell-type roles: each takes the one override, `cell_types=`.
ROLE_READERS = ("tl.classify", "tl.tcell_states", "sp.compartments", "sp.tile_table", "sp.infiltration",
                "sp.spot_table", "sp.spot_reference")  # fmt: skip


@pytest.mark.parametrize("name", ROLE_READERS)
def test_role_readers_take_one_override(name):
    module, func = name.split(".")
    sig = inspect.signature(getattr(getattr(tk, module), func))
    assert "cell_types" in sig.parameters and sig.parameters["cell_types"].default is None
    assert "cell_type_key" not in sig.parameters  # the column is the declaration's `key`


@pytest.mark.parametrize("func", list(_public_functions()))
def test_public_function_shape(func):
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 2, f"at most two positional arguments, got {[p.name for p in positional]}"
    data = [p for p in positional if "AnnData" in str(p.annotation) and "Mapping" not in str(p.annotation)]
    for p in data:  # (a second object, e.g. a reference cohort, is a keyword-only option)
        assert p.name == "adata" and params[0] is p, f"the AnnData argument is `adata` and comes first, not {p.name!r}"
    for p in params:
        if isinstance(p.default, bool):
            assert p.kind == p.KEYWORD_ONLY, f"boolean option {p.name!r} must be keyword-only"
    names = set(sig.parameters)
    assert not {"copy", "inplace"} <= names
    assert len(params) <= MAX_PARAMETERS, f"{len(params)} parameters (at most {MAX_PARAMETERS}): {list(names)}"
    if func is not tk.pp.cell_types:
        assert not names & ROLE_PARAMETERS, f"roles are declared once (tk.pp.cell_types), not {names & ROLE_PARAMETERS}"
    if (
        sig.return_annotation == WRITER_RETURN and func is not tk.pp.cell_types
    ):  # a writer (the declaration has one home)
        for option in ("key_added", "overwrite", "copy"):
            assert option in names and sig.parameters[option].kind == inspect.Parameter.KEYWORD_ONLY, option
        assert sig.parameters["copy"].default is False
    assert ("copy" in names) == (sig.return_annotation == WRITER_RETURN), "copy= only on writers, and on all of them"
    if sig.return_annotation == "Figure":
        assert "ax" in names and sig.parameters["ax"].kind == inspect.Parameter.KEYWORD_ONLY
    assert func.__doc__, "public functions are documented"


@pytest.mark.parametrize("name", tk.get.__all__)
def test_queries_return_tables(name):
    sig = inspect.signature(getattr(tk.get, name))
    assert next(iter(sig.parameters)) == "adata"
    assert sig.return_annotation in {"pd.DataFrame", "pd.Series"}


def test_queries_never_change_the_object():
    adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    tk.tl.classify(adata, cell_types={"key": "cell_type", "tumor": "Tumour", "immune": ["CD8T", "CD4T"],
                                      "cd8": ["CD8T"]})  # fmt: skip
    before = (adata.obs.copy(), {k: id(v) for k, v in adata.uns.items()}, dict(adata.uns["tmekit_phenotype"]))
    table = tk.get.phenotypes(adata)
    table["phenotype"] = "desert"  # a copy: editing it changes nothing stored
    tk.get.evidence(adata), tk.get.compartments(adata), tk.get.phenotype_params(adata)
    assert adata.obs.equals(before[0]) and {k: id(v) for k, v in adata.uns.items()} == before[1]
    assert adata.uns["tmekit_phenotype"]["table"]["phenotype"].iloc[0] == "excluded"


def test_top_level_namespace():
    assert {"signatures", "pp", "io", "datasets", "tl", "sp", "pl", "get", "report"} <= set(tk.__all__)
    assert tk.__version__ != "0+unknown"


def test_importing_configures_no_log_handlers():
    code = "import logging, tmekit; h = logging.getLogger('tmekit').handlers; print([type(x).__name__ for x in h])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['NullHandler']"


# ------------------------------------------------------------------------------------------ the import contract
def _unit(path: Path) -> str:
    """The layer a module belongs to: its subpackage, or the top-level module itself."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tmekit"):
            names = [node.module + "." + a.name for a in node.names]
            out += [(n, node.lineno) for n in names]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("tmekit")]
    return out


MODULES = [p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC]
SUBPACKAGES = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}


def test_no_private_import_across_subpackages():
    bad = []
    for path in MODULES:
        me = _unit(path)
        for name, line in _imports(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[1] in SUBPACKAGES and parts[1] != me and parts[2].startswith("_"):
                bad.append(f"{path.relative_to(SRC)}:{line} imports {'.'.join(parts[:3])}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_layers():
    units = {_unit(p) for p in MODULES}
    graph: dict[str, set[str]] = {u: set() for u in units}
    for path in MODULES:
        me = _unit(path)
        for name, _ in _imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in units and parts[1] != me:
                graph[me].add(parts[1])
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif len(trail) < len(units):
                visit(nxt, [*trail, nxt])

    for unit in sorted(units):
        visit(unit, [unit])
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_no_source_file_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_a_rule_set_is_one_module_and_one_registry_line():
    folder = SRC / "tl" / "_phenotype"
    registered = {name for name, _ in _imports(folder / "__init__.py")}
    for name in ("cd8_density", "keren2018", "spot_cd8"):
        assert f"tmekit.tl._phenotype.{name}" in registered
        text = (folder / f"{name}.py").read_text()
        assert "register_rule(" in text and "def decide(" in text
        assert tk.tl.RULES[name].source and tk.tl.RULES[name].thresholds


def test_no_merge_conflict_markers_in_tracked_text():
    root = SRC.parents[1]
    files = [*root.glob("*.md"), *root.glob("*.toml"), *(root / "src").rglob("*.py"), *(root / "tests").rglob("*.py"),
             *(root / "benchmarks").glob("*.md"), *(root / "requirements").glob("*.lock")]  # fmt: skip
    marked = [f"{p.relative_to(root)}:{k + 1}" for p in files
              for k, line in enumerate(p.read_text(encoding="utf-8").splitlines())
              if line.startswith(("<<<<<<< ", ">>>>>>> "))]  # fmt: skip
    assert not marked, f"merge conflict markers left in: {marked}"
