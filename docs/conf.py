"""Sphinx configuration of tmekit's documentation (``python3 dev.py docs`` builds it into docs/_build/html).

The pages that describe the code (API reference, signature library, rule sets, command line, refused inputs) are
generated from the code at build time by ``_ext/tmekit_docs.py`` into ``docs/generated/`` (git-ignored); the
tutorials are the notebooks of ``notebooks/``, executed during the build. The build must pass with ``-W``
(warnings are errors) and without network: cross-references to other projects resolve through the small
inventories in ``docs/inventories/`` (see the README there), never through a download.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# The notebooks read ../shared/data when it is there (as tests/test_notebooks.py sets it); they run on bundled or
# synthetic data without it. The kernels inherit this environment.
os.environ.setdefault("TMEKIT_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
# The kernels draw inline (ipykernel's default); a backend set by the environment (MPLBACKEND=Agg in CI, say) would
# leave the tutorials without their figures.
os.environ.pop("MPLBACKEND", None)

# sphinx-autodoc-typehints calls a Sphinx API that Sphinx 10 removes: their matter, printed on every page otherwise.
warnings.filterwarnings("ignore", message=r".*set_application' is deprecated", module="sphinx_autodoc_typehints")

import tmekit  # noqa: E402  (after the environment above: the kernels and autodoc import the same package)

project = "tmekit"
author = "tmekit developers"
copyright = "tmekit developers"
release = version = tmekit.__version__

extensions = [
    "myst_nb",  # Markdown pages (MyST) and the notebooks, executed
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # numpy docstrings
    "sphinx_autodoc_typehints",  # parameter types from the annotations (TYPE_CHECKING imports resolved)
    "sphinx.ext.intersphinx",
    "tmekit_docs",  # generated pages and the docstring checks
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "generated/include/*", "inventories/*", "README.md", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
nitpicky = True  # a cross-reference that does not resolve is a warning, hence an error under -W
# Dotted names of other projects that the local inventories do not list are shown as text; every tmekit name, and
# every undotted name (an annotation autodoc could not resolve), must resolve.
nitpick_ignore_regex = [(r"py:.*", r"(?!tmekit\.)[A-Za-z_]\w*\.[\w.]+")]

# --- MyST and notebooks
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every build runs every tutorial: a notebook that no longer runs fails the build
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True

# --- API reference
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True
typehints_defaults = "comma"
typehints_use_signature_return = False
always_use_bars_union = True


def public_module(module: str) -> str:
    """The module a type is documented under: its package, when its own module is private.

    ``anndata._core.anndata`` -> ``anndata``, ``pandas.core.frame`` -> ``pandas``, ``tmekit.tl._phenotype.model``
    -> ``tmekit.tl``.
    """
    parts = module.split(".")
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("_") or (parts[0] == "pandas" and part == "core"):
            return ".".join(parts[:i])
    return module


typehints_fixup_module_name = public_module
suppress_warnings = ["config.cache"]  # the function above cannot be pickled into the environment; nothing else

# --- other projects: local inventories only (no network at build time; see docs/inventories/README.md)
intersphinx_mapping = {
    name: (url, str(DOCS / "generated" / "inventories" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "anndata": "https://anndata.readthedocs.io/en/stable/",
        "scanpy": "https://scanpy.readthedocs.io/en/stable/",
        "squidpy": "https://squidpy.readthedocs.io/en/stable/",
        "numpy": "https://numpy.org/doc/stable/",
        "pandas": "https://pandas.pydata.org/docs/",
    }.items()
}

# --- HTML
html_theme = "sphinx_book_theme"
html_title = f"tmekit {version}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False
