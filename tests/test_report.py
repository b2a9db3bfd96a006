"""The HTML report: built by `tmekit demo` from bundled real data, checked as text and in headless Chromium."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest

import tmekit as tk


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """`tmekit demo` exactly as the README's first command runs it (the real entry point, a subprocess)."""
    folder = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "tmekit", "demo", "-o", str(folder)], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Report written to {folder / 'report.html'}" in done.stdout.replace("\n", "")
    (folder / "stdout.txt").write_text(done.stdout)
    (folder / "stderr.txt").write_text(done.stderr)
    return folder


def test_demo_shows_only_tmekit_warnings(demo_dir):
    """No third-party deprecation or template noise in what the user reads: the terminal and the report."""
    printed = (demo_dir / "stdout.txt").read_text() + (demo_dir / "stderr.txt").read_text()
    printed = re.sub(r"\x1b\[[0-9;]*m", "", printed)  # rich colours its log lines
    noise = re.compile(r"\b(FutureWarning|DeprecationWarning|PendingDeprecationWarning|SyntaxWarning)\b|^\s*INFO\b")
    assert not [line for line in printed.splitlines() if noise.search(line)]  # nor squidpy's per-graph INFO line
    page = (demo_dir / "report.html").read_text()
    section = page[page.index('<section id="warnings">') : page.index("</section>", page.index('id="warnings"'))]
    notes = re.findall(r"<div class='warn'>(.*?)</div>", section)
    assert notes  # the demo does warn: missing genes, weights the rank method cannot use
    for note in notes:
        category = re.match(r"(\w+Warning): ", html.unescape(note))
        if category:  # a caught warning: only tmekit's own categories are listed
            cls = getattr(tk, category.group(1), None)
            assert isinstance(cls, type) and issubclass(cls, tk.TmekitWarning), note
    assert "MissingGenesWarning: Scoring with the genes found" in html.unescape(section)


def test_demo_summary_puts_each_module_where_the_biology_says(demo_dir):
    text = (demo_dir / "stdout.txt").read_text()
    assert "raw_counts" in text  # the input check saw the bundled counts
    assert "Scored 59 library signatures on 1,564 cells" in text  # every human set of the library
    assert "T-cell exhaustion: T-cells; M2 TAM: Myeloid; CXCL13+ T cells: T-cells" in text
    assert "Hypoxia: Cancer Epithelial" in text
    assert "FER1L4" in text  # library genes absent from this matrix are reported, not hidden


def test_demo_writes_the_report_and_the_tables(demo_dir):
    page = (demo_dir / "report.html").read_text()
    for section in tk.report.SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.count("data:image/png;base64,") >= 10  # overview, scores (heatmap + 5 violins), 4 maps, plane
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched when opened
    assert "10.1172/JCI91190" in page  # signature provenance (Ayers IFN-gamma)
    assert "balanced accuracy" in page  # expression model provenance
    assert "FER1L4" in page  # a missing gene is reported in the warnings
    assert f"tmekit {tk.__version__}" in page
    for name in ("wu2021_tnbc", "keren2018_mibi", "imvigor210_bulk"):
        assert (demo_dir / f"{name}_calls.csv").stat().st_size > 0


def test_report_api_on_a_synthetic_tissue(tmp_path):
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    tk.tl.classify(adata, cell_types={"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T", "CD4T",
                   "Macrophage"], "cd8": ["CD8T"]})  # fmt: skip
    page = tk.report.html(adata, tmp_path / "r.html", title="one tissue")
    assert (tmp_path / "r.html").read_text() == page
    assert "<title>one tissue</title>" in page
    assert "No expression-based calls in this cohort." in page  # an empty section says why
    assert "inflamed: 1" in page
    with pytest.raises(FileExistsError):
        tk.report.html(adata, tmp_path / "r.html")


def test_report_renders_in_headless_chromium(demo_dir, tmp_path, chromium):
    driver = chromium
    driver.get((demo_dir / "report.html").as_uri())
    assert driver.title == "tmekit demo: three real datasets"
    images = driver.execute_script("return document.images.length")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
    )
    assert images >= 10
    assert broken == 0
    for section in tk.report.SECTIONS:
        height = driver.execute_script(f"return document.getElementById('{section}').offsetHeight")
        assert height > 20, section  # every section is laid out and visible
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    """A 1,044-sample cohort (the bundled 348 IMvigor210 tumours three times, as three datasets) in one page."""
    folder = tmp_path_factory.mktemp("big")
    objects = {}
    for k in range(3):
        bulk = tk.datasets.imvigor210_bulk()
        bulk.obs_names = [f"{name}_{k}" for name in bulk.obs_names]
        tk.tl.classify_expression(bulk, scale="zscore")
        objects[f"cohort{k}"] = bulk
    page = folder / "report.html"
    tk.report.html(objects, page)
    return page, tk.report.cohort_table(objects)


def test_cohort_table_sorts_and_filters_in_the_browser(big_report, chromium):
    """Issue 19: on 1,044 samples, filtering and sorting change what is shown, in the page alone (no network)."""
    page, table = big_report
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    driver = chromium
    driver.get(page.as_uri())
    visible = "return Array.from(document.querySelectorAll('#sample-table tbody tr'))" \
              ".filter(r => r.style.display !== 'none')"  # fmt: skip
    assert driver.execute_script(visible + ".length") == len(table) == 1044
    inflamed = int((table["phenotype"].astype(str) == "inflamed").sum())
    driver.execute_script("var s = document.getElementById('f-phenotype'); s.value = 'inflamed';"
                          "s.dispatchEvent(new Event('change'));")  # fmt: skip
    assert driver.execute_script(visible + ".length") == inflamed
    assert driver.find_element("id", "n-shown").text == str(inflamed)
    driver.execute_script("var c = document.getElementById('f-confidence'); c.value = '0.6';"
                          "c.dispatchEvent(new Event('input'));")  # fmt: skip
    sure = int(((table["phenotype"].astype(str) == "inflamed") & (table["confidence"] >= 0.6)).sum())
    assert driver.execute_script(visible + ".length") == sure < inflamed
    driver.execute_script("var s = document.getElementById('f-dataset'); s.value = 'cohort1';"
                          "s.dispatchEvent(new Event('change'));")  # fmt: skip
    assert driver.execute_script(visible + ".length") == sure // 3  # the same tumours in each dataset
    # sort by confidence: ascending, then descending, on the rows shown
    header = driver.execute_script(
        "return Array.from(document.querySelectorAll('#sample-table thead th')).findIndex(h => "
        "h.textContent === 'confidence')"
    )
    first = visible + f".map(r => parseFloat(r.cells[{header}].dataset.value))"
    driver.execute_script(f"document.querySelectorAll('#sample-table thead th')[{header}].click()")
    up = driver.execute_script("return " + first.removeprefix("return "))
    assert up == sorted(up)
    driver.execute_script(f"document.querySelectorAll('#sample-table thead th')[{header}].click()")
    down = driver.execute_script("return " + first.removeprefix("return "))
    assert down == sorted(up, reverse=True)
    # each sample links to its evidence row
    link = driver.execute_script(visible + "[0].cells[0].querySelector('a').getAttribute('href')")
    assert driver.execute_script(f"return document.getElementById('{link[1:]}') !== null")
    assert page.stat().st_size < 8_000_000  # one file that opens fast
