"""`tk.get`: results read back as tables, equal to what the writers stored, with the fix when there are none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tmekit as tk


def test_every_accessor_says_what_to_run_when_there_is_nothing_to_read():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    for name, writer in [("scores", "tk.tl.score"), ("signatures_scored", "tk.tl.score"),
                         ("phenotypes", "tk.tl.classify"), ("evidence", "tk.tl.classify"),
                         ("phenotype_params", "tk.tl.classify"), ("compartments", "tk.sp.compartments"),
                         ("spot_content", "tk.sp.spot_content")]:  # fmt: skip
        with pytest.raises(KeyError, match=rf"not found: run `{writer}"):
            getattr(tk.get, name)(adata)


def test_scores_and_their_provenance(wu_lognorm):
    adata = wu_lognorm.copy()
    with pytest.warns(tk.MissingGenesWarning, match="FER1L4"):
        tk.tl.score(adata, ["ifng6_ayers2017", "hypoxia_ragnum2015"])
    scores = tk.get.scores(adata)
    pd.testing.assert_frame_equal(scores, adata.obsm["tmekit_scores"])
    scores.iloc[0, 0] = -1.0  # a copy
    assert adata.obsm["tmekit_scores"].iloc[0, 0] != -1.0
    used = tk.get.signatures_scored(adata)
    assert used.loc["hypoxia_ragnum2015", "genes_missing"] == ["FER1L4"]
    assert used.loc["ifng6_ayers2017", "doi"] == "10.1172/JCI91190" and used.loc["ifng6_ayers2017", "n_found"] == 6


def test_phenotypes_evidence_and_params_of_a_spatial_call():
    adata = tk.datasets.synthetic_tissue("excluded", rng=2)
    tk.tl.classify(
        adata, cell_types={"key": "cell_type", "tumor": "Tumour", "immune": ["CD8T", "CD4T"], "cd8": ["CD8T"]}
    )
    table = tk.get.phenotypes(adata)
    assert table["phenotype"].dtype == "category" and list(table["phenotype"].cat.categories) == list(tk.tl.CALLS)
    evidence = tk.get.evidence(adata)
    assert {"density_cd8_core", "density_cd8_margin", "threshold_core_cd8_per_mm2"} <= set(evidence)
    assert not {"phenotype", "confidence", "reason"} & set(evidence)
    params = tk.get.phenotype_params(adata)
    assert params["mode"] == "spatial" and params["rules"] == "cd8_density" and "e009550" in params["source"]
    regions = tk.get.compartments(adata)
    assert regions.loc["all", "n_cells"] == adata.n_obs
    assert np.isclose(evidence.loc["all", "area_core_mm2"], regions.loc["all", "core_area_mm2"])
