"""The README is the landing page: the two commands first, short, its example runs, its links lead somewhere.

The manual lives in docs/ (tests/test_docs.py builds it); the README must not grow back into it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_BYTES = 10_000


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    block = text[text.index("```bash") : text.index("```", text.index("```bash") + 3)]
    assert text.startswith("# tmekit\n\n```bash\npython3 dev.py demo")
    assert [line.split()[:3] for line in block.splitlines()[1:]] == [
        ["python3", "dev.py", "demo"],
        ["python3", "dev.py", "test"],
    ]


def test_readme_is_a_landing_page():
    text = README.read_text()
    assert len(text.encode()) < MAX_BYTES, f"README is {len(text.encode()):,} bytes: move the detail to docs/"
    assert not re.search(r"(?m)^\|.*\|$", text), "a table in the README: tables belong in the docs (or are generated)"
    assert len(re.findall(r"(?m)^## ", text)) <= 5


def test_readme_links_and_figure_exist():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert "docs/_static/tmekit_overview.png" in targets
    missing = [t for t in targets if not t.startswith("http") and not (REPO / t).exists()]
    assert not missing


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    code = text[text.index("```python") + len("```python") : text.index("```", text.index("```python") + 3)]
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the example shows the calls; warnings are tested elsewhere
        exec(compile(code, "README.md", "exec"), {})  # the README's own example

    plt.close("all")
    printed = capsys.readouterr().out
    assert "phenotype" in printed and "inflamed" in printed
    assert "n_cd8" in printed and "frac_terminal_exhausted" in printed  # T-cell states from raw counts, no label
    assert (tmp_path / "report.html").stat().st_size > 10_000
