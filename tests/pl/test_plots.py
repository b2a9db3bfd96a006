"""tk.pl: every plot draws on the given axes, returns its figure, and never shows or saves by itself."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import tmekit as tk


@pytest.fixture(scope="module")
def scored(wu_lognorm):
    adata = wu_lognorm.copy()
    tk.tl.score(adata, ["cd8_teff_mariathasan2018", "caf_bagaev2021"], method="rank")
    return adata


@pytest.mark.parametrize("kind", ["heatmap", "dotplot"])
def test_score_groups_draws_the_group_means(scored, kind):
    fig, ax = plt.subplots()
    assert tk.pl.score_groups(scored, groupby="cell_type_major", kind=kind, ax=ax) is fig
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "CAFs" in labels and "T-cells" in labels
    if kind == "heatmap":
        image = ax.get_images()[0].get_array()
        means = scored.obsm["tmekit_scores"].groupby(scored.obs["cell_type_major"].astype(str).to_numpy()).mean()
        np.testing.assert_allclose(np.asarray(image), means.to_numpy())
    plt.close(fig)


def test_violin_spatial_and_phenotype_plots(scored):
    fig, ax = plt.subplots()
    assert tk.pl.score_violin(scored, "caf_bagaev2021", groupby="cell_type_major", ax=ax) is fig
    assert any("CAFs (379)" in t.get_text() for t in ax.get_xticklabels())
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=0)
    tissue.obsm["tmekit_scores"] = pd.DataFrame({"toy": np.arange(tissue.n_obs, dtype=float)}, index=tissue.obs_names)
    fig2 = tk.pl.score_spatial(tissue, "toy")
    dots = fig2.axes[0].collections[0]
    assert len(dots.get_offsets()) == tissue.n_obs
    np.testing.assert_array_equal(dots.get_offsets(), tissue.obsm["spatial"])  # each cell at its position ...
    np.testing.assert_array_equal(dots.get_array(), np.arange(tissue.n_obs))  # ... coloured by its own score
    tk.tl.classify(tissue, cell_types={"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T"], "cd8": ["CD8T"]})
    table = tk.get.phenotypes(tissue)
    fig3 = tk.pl.phenotypes(table)
    assert fig3.axes[0].patches[0].get_height() == pytest.approx(table["confidence"].iloc[0])
    with pytest.raises(KeyError, match=r"tk\.tl\.score"):
        tk.pl.score_groups(tissue, groupby="cell_type", key="nothing")
    with pytest.raises(KeyError, match="were not scored"):
        tk.pl.score_violin(scored, "hypoxia_buffa2010", groupby="cell_type_major")
    plt.close("all")


def test_teff_ftbrs_plane():
    calls = tk.get.phenotypes(tk.tl.classify_expression(tk.datasets.imvigor210_bulk(), scale="zscore", copy=True))
    fig = tk.pl.teff_ftbrs(calls)
    assert len(fig.axes[0].collections) == calls["phenotype"].nunique()
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 348
    for dots, label in zip(fig.axes[0].collections, [t.get_text() for t in fig.axes[0].get_legend().get_texts()],
                           strict=True):  # fmt: skip
        sel = calls["phenotype"].astype(str) == label.split(" ")[0]
        expected = calls.loc[sel, ["score_cd8_teff", "score_pan_ftbrs"]].to_numpy()
        np.testing.assert_allclose(dots.get_offsets(), expected)  # x = T-effector, y = pan-F-TBRS
    plt.close(fig)
