"""The documentation builds with warnings as errors, covers the code, and renders in headless Chromium.

The build (``sphinx-build -W --keep-going -E``, as ``python3 dev.py docs`` runs it, into a temporary folder) also
executes the tutorials, the notebooks of ``notebooks/``: a notebook cell that raises fails this test with the cell
and its traceback in the message. Broken cross-references, docstrings without Parameters / Returns / Examples and
malformed pages fail it too (docs/conf.py, docs/_ext/tmekit_docs.py).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tmekit as tk

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MODULES = [tk.pp, tk.tl, tk.sp, tk.pl, tk.get, tk.io, tk.datasets, tk.signatures, tk.report]
TUTORIALS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The HTML site, built from scratch as ``python3 dev.py docs`` builds it (the same command and options)."""
    out = tmp_path_factory.mktemp("docs") / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html", str(DOCS), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    problems = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert done.returncode == 0, (
        "The documentation does not build (`python3 dev.py docs` shows the same). Warnings and errors:\n"
        + "\n".join(problems[:40])
        + "\n--- end of the build's output:\n"
        + (done.stdout + done.stderr)[-6000:]
    )
    return out


def test_docs_build_without_warnings(site):
    assert (site / "index.html").is_file()
    assert (site / "search.html").is_file()
    assert (site / "_static" / "tmekit_overview.png").is_file()


def test_every_public_function_and_module_has_a_page(site):
    api = site / "generated" / "api"
    for module in MODULES:
        assert (api / f"{module.__name__}.html").is_file(), module.__name__
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                page = api / f"{module.__name__}.{name}.html"
                assert page.is_file(), f"no API page for {module.__name__}.{name}"
                text = page.read_text()
                if not isinstance(obj, type):
                    assert "Returns" in text and "Examples" in text, page.name


def test_generated_tables_list_every_signature_rule_set_and_command(site):
    library = (site / "reference" / "signatures.html").read_text()
    for name, row in tk.signatures.list().iterrows():
        assert f">{name}<" in library, name
        if row["doi"]:
            assert f"https://doi.org/{row['doi']}" in library, name
    rules = (site / "reference" / "rule-sets.html").read_text()
    for name, rule in tk.tl.RULES.items():
        assert f'id="rule-{name.replace("_", "-")}"' in rules, name
        for key in rule.thresholds:
            assert key in rules, (name, key)
    cli = (site / "cli.html").read_text()
    for command in ("check", "score", "annotate", "classify", "report", "demo", "signatures list"):
        assert f"tmekit {command}" in cli, command
        assert "Usage: tmekit" in cli


def test_refusals_page_has_a_row_per_bad_input_test(site):
    files = [REPO / "tests" / "test_bad_inputs.py", *sorted((REPO / "tests").glob("test_bad_inputs_*.py"))]
    cases = []
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CASES" for t in node.targets):
                cases += [f"{path.name}::test_{case}" for case in ast.literal_eval(node.value)]
    page = (site / "refusals.html").read_text()
    assert len(cases) > 30
    assert all(case in page for case in cases)
    assert page.count("<tr") == len(cases) + 1  # the header row


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorials_are_executed_with_their_figures(site, name):
    page = (site / "tutorials" / f"{name}.html").read_text()
    assert re.search(r"<img[^>]+src=\"[^\"]+\.png\"", page), f"{name}: no figure"
    assert "output traceback" not in page  # an error output (the build also fails on one)


def test_pages_render_and_search_works_in_headless_chromium(site, chromium):
    from selenium.webdriver.support.ui import WebDriverWait

    loaded = "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length"
    broken = "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
    for page, figures in (("index.html", 1), ("tutorials/02_spatial_mibi.html", 1)):
        chromium.get((site / page).as_uri())
        WebDriverWait(chromium, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert chromium.execute_script(loaded) >= figures, page
        assert chromium.execute_script(broken) == 0, page
        assert "tmekit" in chromium.title
    chromium.get((site / "search.html").as_uri() + "?q=classify")
    results = "return document.querySelectorAll('#search-results li, ul.search li').length"
    WebDriverWait(chromium, 30).until(lambda d: d.execute_script(results) > 0)
    links = chromium.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a, ul.search li a')).map(a => a.href)"
    )
    assert any("tmekit.tl.classify.html" in link for link in links), links[:10]
