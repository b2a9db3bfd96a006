"""What tmekit refuses, and why: one test per bad input a careless user really sends.

``CASES`` is the list, and every case has its test here, named ``test_<case>``. The documentation's table "What
tmekit refuses, and why" (docs/refusals.md) is generated from the ``CASES`` of this file and of
``test_bad_inputs_*.py`` when the docs are built, so it lists exactly what these tests check.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

KEREN_LABELS = tk.datasets.keren2018_labels()

MPU = 800 / 2048  # the Keren MIBI fields: 800 um over 2048 pixels

#: case -> (the bad input, what tmekit does): one row each of the documentation's table.
CASES = {
    "output_is_an_input": (
        "an output path that is an input file (`-o in.h5ad`, also with `--force`, through a symlink, or `-o` and "
        "`--h5ad` naming one file)",
        "refused, exit 2; a command that writes two files writes both or neither",
    ),
    "pixels_without_microns_per_unit": (
        "positions in pixels and no `microns_per_unit` (MIBI: 19 px between neighbouring cells)",
        "refused: the measured spacing, the factor that would fix it, typical values per platform",
    ),
    "coordinates_far_too_large": (
        "positions x1000 (or a grid / contact graph too large for memory)",
        "refused before anything is allocated, with the spacing or the size that would be needed",
    ),
    "coordinates_far_too_small": ("positions x0.001", "refused: cells cannot be 0.007 um apart"),
    "negative_values_scored": (
        "negative values in log data, or `sc.pp.scale` output, scored by `rank` or `mean`",
        "refused, naming `sc.pp.scale` and the layer to use; `pp.check` flags them; log2(x + offset) floors pass",
    ),
    "cells_without_library_key": (
        "`classify_expression` on single cells without `library_key`",
        "refused: each cell would be called as a tumour; the fix names `library_key=`",
    ),
    "tiny_pseudobulk": (
        "a pseudobulk of 1, 2, 5 or 20 cells",
        "indeterminate below 50 cells or 100,000 counts, with the reason",
    ),
    "scale_contradicts_the_data": (
        "`scale='counts'` on z-scores (or 'log2' on counts, 'zscore' on non-negative values)",
        "refused, saying what the values look like",
    ),
    "tumour_without_cd8_cells": (
        "a tumour with no CD8 T cells at all",
        "called desert (a label absent from the object is zero cells, announced); a misspelt label still raises",
    ),
    "report_with_a_one_cell_sample": (
        "a report on an object with a 1-cell sample",
        "written: the sample has its row (indeterminate), its map is listed as not drawn",
    ),
    "truncated_h5ad": (
        "a truncated `.h5ad` (a copy cut in half)",
        "one paragraph, exit 2, in every command: how many bytes are there of how many",
    ),
    "h5ad_without_x": (
        "an `.h5ad` without `X`",
        "read (positions-only files are common); commands that need expression say so and list the layers",
    ),
    "rerun_on_a_file_with_results": (
        "`tmekit score`/`classify` on a file that already has tmekit results",
        "the message names `--overwrite` and `--key-added`, which exist",
    ),
    "write_a_backed_object": (
        "`tk.io.write_h5ad(backed, out)`",
        "the object is then backed by `out` and stays usable; writing onto its own file is refused",
    ),
    "annotate_a_backed_object": ("`tk.tl.annotate` on a backed object", "annotated; X stays on disk"),
    "mean_after_reordering_genes": (
        "`method='mean'` after reordering the genes (columns)",
        "the same control genes and scores (to 1e-12): the draw goes by gene name",
    ),
    "failed_classify_leaves_the_object": (
        "a spatial `classify` that fails half-way",
        "`obs`, `obsm` and `uns` are left as they were",
    ),
    "raw_counts_scored_by_mean": (
        "raw counts with `method='mean'`",
        "refused; the message quotes the true maximum",
    ),
    "killed_during_a_write": (
        "SIGKILL or SIGTERM while a file is written",
        "no partial output; SIGTERM removes the temporary, a killed process's is removed by the next write there",
    ),
}


def _cases_and_tests(path: Path) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """The ``CASES`` dict and the test names of one bad-input test file (read, not imported)."""
    tree = ast.parse(path.read_text())
    cases: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CASES" for t in node.targets):
            cases = ast.literal_eval(node.value)
    tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return cases, tests


#: This file first, then the others in name order: the order of the documentation's rows.
FILES = [Path(__file__), *sorted(Path(__file__).parent.glob("test_bad_inputs_*.py"))]


def test_every_case_has_its_test():
    every: dict[str, tuple[str, str]] = {}
    for path in FILES:
        cases, tests = _cases_and_tests(path)
        assert cases, f"{path.name} has no CASES"
        missing = sorted(f"test_{case}" for case in cases if f"test_{case}" not in tests)
        assert not missing, f"{path.name} lacks {missing}"
        assert not set(cases) & set(every), f"{path.name} repeats a case"
        assert all(isinstance(given, str) and isinstance(done, str) for given, done in cases.values()), path.name
        every.update(cases)


# ---------------------------------------------------------------------------------------------- fixtures
# `keren` (the bundled MIBI fields, a fresh copy), `folder` (keren.h5ad and wu.h5ad in a new folder), `keren_cli`
# (their label options) and `refused` (exit 2, no traceback, the phrases) come from tests/conftest.py, shared by
# every tests/test_bad_inputs*.py file.


def _lognorm(adata: ad.AnnData) -> ad.AnnData:
    out = adata.copy()
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    return out


# ---------------------------------------------------------------------------------------------- the cases
def test_output_is_an_input(cli, folder, monkeypatch, refused, keren_cli):
    before = (folder / "keren.h5ad").read_bytes()
    labels = [*keren_cli, "--microns-per-unit", str(MPU)]
    refused(cli("report", "keren.h5ad", "-o", "keren.h5ad", "--force", cwd=folder), "is the input file")
    refused(cli("classify", "keren.h5ad", "--mode", "spatial", *labels, "-o", "keren.h5ad", "--force", cwd=folder),
             "is the input file")  # fmt: skip
    (folder / "link.h5ad").symlink_to(folder / "wu.h5ad")
    refused(cli("score", "wu.h5ad", "-o", "link.h5ad", "--force", cwd=folder), "Choose another output path")
    refused(cli("report", "keren.h5ad", "wu.h5ad", "-o", "link.h5ad", "--force", cwd=folder), "is the input file")
    both = ["classify", "keren.h5ad", "--mode", "spatial", *labels, "-o", "same.h5ad", "--h5ad", "same.h5ad"]
    refused(cli(*both, cwd=folder), "same file")
    assert (folder / "keren.h5ad").read_bytes() == before
    assert not (folder / "same.h5ad").exists()

    def broken(*_a, **_k):
        msg = "disk full"
        raise OSError(msg)

    import tmekit._cli_files as cli_files

    monkeypatch.setattr(cli_files, "_results_writer", lambda *_a, **_k: broken)  # the .h5ad of the two fails
    done = cli("classify", "keren.h5ad", "--mode", "spatial", *labels, "-o", "calls.csv", "--h5ad", "called.h5ad",
               cwd=folder)  # fmt: skip
    assert done.returncode != 0
    assert not (folder / "calls.csv").exists() and not (folder / "called.h5ad").exists()  # neither, not one
    assert sorted(p.name for p in folder.iterdir()) == ["keren.h5ad", "link.h5ad", "wu.h5ad"]  # no temporaries


def test_pixels_without_microns_per_unit(keren, cli, folder, refused, keren_cli):
    with pytest.raises(ValueError, match=r"do not look like micrometres.*median 1\d(\.\d)? units apart") as err:
        tk.tl.classify(keren, library_key="patient_id", cell_types=KEREN_LABELS)
    assert "800/2048" in str(err.value) and "microns_per_unit=" in str(err.value)
    assert "tmekit_compartment" not in keren.obs
    tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    calls = tk.get.phenotypes(keren)
    assert sorted(calls["phenotype"].astype(str)) == ["excluded", "inflamed", "inflamed", "inflamed"]
    done = cli("classify", "keren.h5ad", "--mode", "spatial", *keren_cli, "-o", "k.csv", cwd=folder)
    refused(done, "--microns-per-unit")
    report = tk.pp.check(keren, library_key="patient_id")
    assert "coordinate_units" in report.codes and report.coordinates["spacing"] > 15


def test_coordinates_far_too_large(keren):
    keren.obsm["spatial"] = keren.obsm["spatial"] * 1000
    with pytest.raises(ValueError, match=r"cannot be further than 60 um.*microns_per_unit=0\.000"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=0)
    with pytest.raises(ValueError, match=r"grid of this sample would have 6\.\d+e\+09 pixels"):
        tk.sp.compartments(tissue, pixel_size=0.01, cell_types={"key": "cell_type", "tumor": "Tumour"})
    # the contact graph is bounded too: tests/sp/test_metrics.py::test_a_contact_graph_too_large_is_refused


def test_coordinates_far_too_small(keren):
    keren.obsm["spatial"] = keren.obsm["spatial"] * 0.001
    with pytest.raises(ValueError, match=r"cannot be closer than 4 um"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    with pytest.raises(ValueError, match="do not look like micrometres"):
        tk.sp.compartments(keren, library_key="patient_id", cell_types={"key": "cell_type", "tumor": "Tumour"})
    assert "tmekit_compartment" not in keren.obs


def test_negative_values_scored(wu_counts):
    logged = _lognorm(wu_counts)
    edited = logged.X.tolil()
    edited[5, logged.var_names.get_loc("PDCD1")] = -1.5
    logged.X = edited.tocsr()
    for method in ("rank", "mean"):
        with pytest.raises(
            ValueError, match=r"negative values \(-1\.5 at the lowest; first in cell 5\).*sc\.pp\.scale"
        ):
            tk.tl.score(logged, ["T-cell exhaustion"], method=method)
    assert "tmekit_scores" not in logged.obsm
    report = tk.pp.check(logged)  # one stray negative value: not a log floor, so not expression
    assert "scaled_values" in report.codes and "without a shared floor" in report.value_detail
    genes = list(dict.fromkeys([*tk.signatures.get("ifng6_ayers2017").genes_up, *wu_counts.var_names[:1000]]))
    scaled = _lognorm(wu_counts)[:, genes].copy()
    scaled.X = scaled.X.toarray()
    sc.pp.scale(scaled)
    with pytest.raises(ValueError, match="layer="):
        tk.tl.score(scaled, ["ifng6_ayers2017"], min_overlap=0.1)
    assert "scaled_values" in tk.pp.check(scaled).codes
    # log2(x + 0.001) of non-negative data: the zeros share one floor value in every gene; ranks are those of x
    offset = wu_counts[:200].copy()
    offset.X = np.log2(offset.X.toarray() + 0.001)
    tk.tl.score(offset, ["ifng6_ayers2017"])
    plain = wu_counts[:200].copy()
    tk.tl.score(plain, ["ifng6_ayers2017"])
    np.testing.assert_allclose(offset.obsm["tmekit_scores"], plain.obsm["tmekit_scores"], atol=1e-12, rtol=0)
    assert "negative_values" in tk.pp.check(offset).codes  # announced, with what it means for scoring


def test_cells_without_library_key(wu_counts):
    with pytest.raises(ValueError, match=r"look like single cells.*library_key=.*\['sample_id'\]"):
        tk.tl.classify_expression(wu_counts)
    assert "tmekit_phenotype" not in wu_counts.uns
    tk.tl.classify_expression(wu_counts, library_key="sample_id")
    table = tk.get.phenotypes(wu_counts)
    assert table.index.tolist() == ["CID4465"] and table["phenotype"].iloc[0] != "indeterminate"


def test_tiny_pseudobulk(wu_counts):
    sample = np.full(wu_counts.n_obs, "whole", dtype=object)
    start = 0
    for size in (1, 2, 5, 20):
        sample[start : start + size] = f"cells_{size}"
        start += size
    wu_counts.obs["tumour"] = sample
    tk.tl.classify_expression(wu_counts, library_key="tumour")
    table = tk.get.phenotypes(wu_counts)
    for size in (1, 2, 5, 20):
        row = table.loc[f"cells_{size}"]
        assert row["phenotype"] == "indeterminate" and row["confidence"] == 0
        assert f"pseudobulk of {size} cells (< min_cells=50)" in row["reason"]
    assert table.loc["whole", "phenotype"] != "indeterminate"
    tk.tl.classify_expression(wu_counts, library_key="tumour", min_cells=1, min_counts=1e9,
                                key_added="again")  # fmt: skip
    few_counts = tk.get.phenotypes(wu_counts, key="again")
    assert few_counts["reason"].str.contains("counts").all()


def test_scale_contradicts_the_data(wu_counts):
    bulk = tk.datasets.imvigor210_bulk()  # per-gene z-scores
    with pytest.raises(ValueError, match=r"scale='counts', but sample .* look like z-scores"):
        tk.tl.classify_expression(bulk, scale="counts")
    pseudo = tk.tl.aggregate(wu_counts, library_key="sample_id")
    counts = ad.AnnData(pseudo.layers["counts"], obs=pseudo.obs[[]], var=pseudo.var)
    with pytest.raises(ValueError, match=r"scale='log2'.*look like counts"):
        tk.tl.classify_expression(counts, scale="log2")
    with pytest.raises(ValueError, match=r"scale='zscore'"):
        tk.tl.classify_expression(pseudo, scale="zscore")
    assert "tmekit_phenotype" not in bulk.uns


def test_tumour_without_cd8_cells(keren):
    one = keren[(keren.obs["patient_id"].astype(str) == "1").to_numpy()].copy()
    cold = one[(one.obs["cell_type"] != "CD8T").to_numpy()].copy()
    with pytest.warns(tk.InputWarning, match=r"No cd8 cells: cd8 labels \['CD8T'\] do not occur"):
        tk.tl.classify(cold, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    table = tk.get.phenotypes(cold)
    assert table["phenotype"].tolist() == ["desert"]
    assert table["density_cd8_core"].iloc[0] == 0 and table["density_cd8_margin"].iloc[0] == 0
    mixed = ad.concat([keren[(keren.obs["patient_id"].astype(str) != "1").to_numpy()], cold])
    with warnings.catch_warnings():
        warnings.simplefilter("error", tk.InputWarning)  # CD8T occurs in the object: no warning
        tk.tl.classify(mixed, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
        calls = tk.get.phenotypes(mixed)
    assert calls.loc["1", "phenotype"] == "desert"
    with pytest.raises(ValueError, match=r"'Tumor' -> 'Tumour'.*misspelling"):
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU,
                       cell_types={**KEREN_LABELS, "tumor": ["Tumor"]})  # fmt: skip


def test_report_with_a_one_cell_sample(keren, tmp_path):
    keren.obs["patient_id"] = keren.obs["patient_id"].astype(str)
    keren.obs.loc[keren.obs_names[0], "patient_id"] = "lonely"
    tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU, cell_types=KEREN_LABELS)
    table = tk.get.phenotypes(keren)
    assert table.loc["lonely", "phenotype"] == "indeterminate"
    page = tk.report.html(keren, tmp_path / "r.html")
    assert ">lonely</a></td>" in page and "Not drawn: dataset lonely (1 cell)." in page  # listed, linked, not drawn
    assert page.count("compartments and boundary</figcaption>") == 4  # the four real patients are drawn


def test_truncated_h5ad(cli, folder, refused):
    data = (folder / "wu.h5ad").read_bytes()
    (folder / "cut.h5ad").write_bytes(data[: len(data) // 2])
    commands = [
        ["check", "cut.h5ad"],
        ["score", "cut.h5ad", "-o", "s.h5ad"],
        ["classify", "cut.h5ad", "--mode", "expression", "--library-key", "sample_id", "-o", "c.csv"],
        ["report", "cut.h5ad", "-o", "r.html"],
    ]
    for args in commands:
        refused(cli(*args, cwd=folder), "is damaged: it is truncated", f"{len(data) // 2:,} of its {len(data):,} bytes")


def test_h5ad_without_x(cli, folder, refused, keren_cli):
    shutil.copyfile(folder / "wu.h5ad", folder / "nox.h5ad")
    with h5py.File(folder / "nox.h5ad", "r+") as fh:
        del fh["X"]
    assert tk.io.read_h5ad(folder / "nox.h5ad", backed="r").X is None
    checked = cli("check", "nox.h5ad", cwd=folder)
    assert checked.returncode == 0 and "no expression matrix" in checked.stdout
    refused(cli("score", "nox.h5ad", "-o", "s.h5ad", cwd=folder), "`adata.X` is empty", "no layers")
    positions_only = cli("classify", "keren.h5ad", "--mode", "spatial", *keren_cli, "--microns-per-unit", str(MPU),
                         "-o", "k.csv", cwd=folder)  # fmt: skip
    assert positions_only.returncode == 0, positions_only.stderr  # the bundled MIBI file has no X either


def test_rerun_on_a_file_with_results(cli, folder, refused, keren_cli):
    assert cli("score", "wu.h5ad", "-o", "once.h5ad", cwd=folder).returncode == 0
    refused(cli("score", "once.h5ad", "-o", "twice.h5ad", cwd=folder), "`--overwrite`", "`--key-added`")
    assert cli("score", "once.h5ad", "-o", "twice.h5ad", "--overwrite", cwd=folder).returncode == 0
    assert cli("score", "once.h5ad", "-o", "both.h5ad", "--key-added", "scores_2", cwd=folder).returncode == 0
    both = ad.read_h5ad(folder / "both.h5ad")
    assert {"tmekit_scores", "scores_2"} <= set(both.obsm)
    pd.testing.assert_frame_equal(both.obsm["tmekit_scores"], both.obsm["scores_2"])
    args = ["classify", "keren.h5ad", "--mode", "spatial", *keren_cli, "--microns-per-unit", str(MPU)]
    assert cli(*args, "-o", "a.csv", "--h5ad", "called.h5ad", cwd=folder).returncode == 0
    again = ["classify", "called.h5ad", *args[2:]]
    refused(cli(*again, "-o", "b.csv", cwd=folder), "`--overwrite`")
    assert cli(*again, "-o", "b.csv", "--overwrite", cwd=folder).returncode == 0


def test_write_a_backed_object(tmp_path, wu_counts):
    source = tk.io.write_h5ad(wu_counts, tmp_path / "in.h5ad")
    backed = tk.io.read_h5ad(source, backed="r")
    with pytest.raises(ValueError, match="is the input file"):
        tk.io.write_h5ad(backed, source, overwrite=True)
    out = tk.io.write_h5ad(backed, tmp_path / "out.h5ad")
    assert Path(backed.filename) == out and backed.isbacked
    memory = backed.to_memory()
    assert (memory.X != wu_counts.X).nnz == 0
    tk.io.write_h5ad(backed, tmp_path / "again.h5ad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.h5ad", "in.h5ad", "out.h5ad"]


def test_annotate_a_backed_object(tmp_path, wu_counts):
    backed = tk.io.read_h5ad(tk.io.write_h5ad(wu_counts, tmp_path / "in.h5ad"), backed="r")
    tk.tl.annotate(backed)
    assert backed.isbacked
    tk.tl.annotate(wu_counts)
    pd.testing.assert_series_equal(backed.obs["tmekit_cell_type"], wu_counts.obs["tmekit_cell_type"])


def test_mean_after_reordering_genes(wu_lognorm):
    sets = ["ifng6_ayers2017", "hypoxia_buffa2010", "caf_bagaev2021"]
    first = wu_lognorm.copy()
    tk.tl.score(first, sets, method="mean")
    order = np.random.default_rng(3).permutation(first.n_vars)
    shuffled = wu_lognorm[:, order].copy()
    tk.tl.score(shuffled, sets, method="mean")
    for name in sets:
        a = first.uns["tmekit_scores"]["signatures"][name]["control_genes"]
        assert a == shuffled.uns["tmekit_scores"]["signatures"][name]["control_genes"]
    np.testing.assert_allclose(shuffled.obsm["tmekit_scores"], first.obsm["tmekit_scores"], atol=1e-12, rtol=0)


def test_failed_classify_leaves_the_object(keren):
    obs, uns, obsm = keren.obs.copy(), set(keren.uns), set(keren.obsm)
    with pytest.raises(ValueError, match="'CD8 T' -> 'CD8T'"):  # compartments done, then the CD8 labels fail
        tk.tl.classify(keren, library_key="patient_id", microns_per_unit=MPU,
                       cell_types={**KEREN_LABELS, "cd8": ["CD8 T"]})  # fmt: skip
    pd.testing.assert_frame_equal(keren.obs, obs)
    assert set(keren.uns) == uns and set(keren.obsm) == obsm


def test_raw_counts_scored_by_mean(wu_counts):
    top = wu_counts.X.max()
    assert top == 5167  # the true maximum, in cell 1,000 or later
    with pytest.raises(ValueError, match=rf"raw counts .*the maximum is {top:.0f}\)"):
        tk.tl.score(wu_counts, ["ifng6_ayers2017"], method="mean")


def test_killed_during_a_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    from tmekit._atomic import _HOST as host

    stale = tmp_path / f".out.csv.tmekit-{host}-{dead.stdout.strip()}-abc123.tmp"
    live = tmp_path / f".out.csv.tmekit-{host}-{os.getpid()}-def456.tmp"
    stale.write_text("half of a file from a process that was killed")
    live.write_text("another process of ours, still writing")
    tk.io.atomic_write_text(tmp_path / "out.csv", "a,b\n1,2\n")
    assert not stale.exists() and live.exists()
    live.unlink()
    ready = tmp_path / "ready"
    code = (
        "import pathlib, time, tmekit as tk\n"
        f"def writer(tmp):\n    tmp.write_text('partial'); pathlib.Path({str(ready)!r}).touch(); time.sleep(60)\n"
        f"tk.io.atomic_write(pathlib.Path({str(tmp_path / 'big.h5ad')!r}), writer)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    for _ in range(600):  # wait (up to a minute) until the temporary exists, then stop the writer
        if ready.exists():
            break
        time.sleep(0.1)
    assert ready.exists()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "ready"]  # no output, no temporary
    assert "Traceback" not in stderr.decode()
