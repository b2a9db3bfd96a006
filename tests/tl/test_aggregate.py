"""`tk.tl.aggregate`: pseudobulk sums equal scanpy's, every array type and chunk size, summaries."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

COMPOSITIONS = {
    "s1": {"Cancer Epithelial": 0.5, "T-cells": 0.5},
    "s2": {"CAFs": 0.7, "Myeloid": 0.3},
    "s3": {"Cancer Epithelial": 0.2, "Plasmablasts": 0.3, "Endothelial": 0.5},
}


@pytest.fixture(scope="module")
def cohort(_wu_counts_session):
    return tk.datasets.mix_samples(
        _wu_counts_session, COMPOSITIONS, cell_type_key="cell_type_major", n_cells=120, rng=3
    )


def test_sums_equal_scanpy_and_log_cpm_is_hand_computable(cohort):
    before = cohort.X.copy()
    bulk = tk.tl.aggregate(cohort, library_key="sample")
    ref = sc.get.aggregate(cohort, by="sample", func="sum")
    ref_sums = np.asarray(ref.layers["sum"].toarray() if hasattr(ref.layers["sum"], "toarray") else ref.layers["sum"])
    order = [list(ref.obs_names).index(s) for s in bulk.obs_names]
    np.testing.assert_array_equal(bulk.layers["counts"], ref_sums[order])
    # hand check of one value: log2(count / total * 1e6 + 1)
    g = list(bulk.var_names).index("CD3E")
    total = bulk.layers["counts"][0].sum()
    assert bulk.X[0, g] == pytest.approx(np.log2(bulk.layers["counts"][0, g] / total * 1e6 + 1))
    assert list(bulk.obs_names) == ["s1", "s2", "s3"]
    assert bulk.obs["n_cells"].tolist() == [120, 120, 120]
    assert (before != cohort.X).nnz == 0  # input untouched


def test_identical_on_every_array_type_and_chunk_size(cohort, array_type):
    _, convert = array_type
    ref = tk.tl.aggregate(cohort, library_key="sample")
    other = ad.AnnData(X=convert(cohort.X.toarray()), obs=cohort.obs.copy(), var=cohort.var.copy())
    got = tk.tl.aggregate(other, library_key="sample", chunk_size=47)
    np.testing.assert_array_equal(got.layers["counts"], ref.layers["counts"])
    np.testing.assert_array_equal(got.X, ref.X)


def test_backed_file_in_chunks(cohort, tmp_path):
    path = tmp_path / "cohort.h5ad"
    cohort.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    got = tk.tl.aggregate(backed, library_key="sample", chunk_size=50)
    np.testing.assert_array_equal(got.layers["counts"], tk.tl.aggregate(cohort, library_key="sample").layers["counts"])
    backed.file.close()


def test_cell_type_fractions_and_score_summaries(cohort):
    adata = cohort.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    tk.tl.score(adata, ["cd8_teff_mariathasan2018", "caf_bagaev2021"], method="rank")
    adata.layers["counts"] = cohort.X
    bulk = tk.tl.aggregate(adata, library_key="sample", cell_type_key="cell_type_major", layer="counts")
    frac = bulk.obsm["cell_type_fractions"]
    np.testing.assert_allclose(frac.sum(axis=1), 1.0)
    assert frac.loc["s2", "CAFs"] == pytest.approx(0.7, abs=0.01)
    assert frac.loc["s1", "CAFs"] == 0
    means = bulk.obsm["score_means"]
    by_hand = adata.obsm["tmekit_scores"][adata.obs["sample"] == "s2"]["caf_bagaev2021"].mean()
    assert means.loc["s2", "caf_bagaev2021"] == pytest.approx(by_hand)
    assert means.loc["s2", "caf_bagaev2021"] > means.loc["s1", "caf_bagaev2021"]  # CAF-rich sample
    long = bulk.uns["tmekit_aggregate"]["score_means_by_cell_type"]
    assert set(long.columns) == {"sample", "cell_type", "signature", "mean_score", "n_cells"}
    row = long.query("sample == 's1' and cell_type == 'T-cells' and signature == 'cd8_teff_mariathasan2018'")
    assert row["n_cells"].item() == 60


def test_refuses_log_data_and_missing_samples(cohort, wu_lognorm):
    with pytest.raises(ValueError, match="raw counts"):
        tk.tl.aggregate(wu_lognorm, library_key="sample_id")
    with pytest.raises(KeyError, match="library_key"):
        tk.tl.aggregate(cohort, library_key="patient")
    broken = cohort.copy()
    broken.obs["sample"] = broken.obs["sample"].astype(object)
    broken.obs.iloc[0, broken.obs.columns.get_loc("sample")] = np.nan
    with pytest.raises(ValueError, match="no sample"):
        tk.tl.aggregate(broken, library_key="sample")


def test_mix_samples_composition_is_exact(wu_cells):
    mix = tk.datasets.mix_samples(
        wu_cells, {"a": {"T-cells": 1, "CAFs": 3}}, cell_type_key="cell_type_major", n_cells=100, rng=0
    )
    counts = pd.Series(mix.obs["cell_type_major"].astype(str)).value_counts()
    assert counts.to_dict() == {"CAFs": 75, "T-cells": 25}
    with pytest.raises(ValueError, match="no cells of type"):
        tk.datasets.mix_samples(wu_cells, {"a": {"Neurons": 1}}, cell_type_key="cell_type_major")
