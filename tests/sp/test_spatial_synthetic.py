"""Compartments, infiltration and phenotype calls on synthetic tissues whose phenotype is known by construction."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import tmekit as tk

LABELS = {
    "cell_type_key": "cell_type",
    "tumor_labels": ["Tumour"],
    "immune_labels": ["CD8T", "CD4T", "Macrophage"],
    "cd8_labels": ["CD8T"],
}
CLEAR = ("inflamed", "excluded", "desert")


def _classify(adata, rules, **kwargs):
    return tk.tl.classify(adata, rules=rules, overwrite=True, **LABELS, **kwargs)


@pytest.mark.parametrize("rules", ["cd8_density", "keren2018"])
@pytest.mark.parametrize("phenotype", CLEAR)
@pytest.mark.parametrize("seed", range(3))
def test_clear_cases_are_called_correctly(phenotype, rules, seed):
    adata = tk.datasets.synthetic_tissue(phenotype, rng=seed)
    row = _classify(adata, rules).iloc[0]
    assert row.phenotype == phenotype
    assert row.confidence >= 0.9
    assert not row.inferred
    assert (adata.obs["tmekit_phenotype"] == phenotype).all()


def test_near_threshold_cases_get_lower_confidence():
    clear = [
        _classify(tk.datasets.synthetic_tissue(p, rng=s), "cd8_density").iloc[0].confidence
        for p in CLEAR
        for s in range(3)
    ]
    near = [
        _classify(tk.datasets.synthetic_tissue(p, rng=s), "cd8_density").iloc[0].confidence
        for p in ("near_inflamed", "near_excluded")
        for s in range(3)
    ]
    assert max(near) < min(clear)
    assert np.mean(near) < 0.95


def test_multi_sample_object_with_a_tumour_free_sample():
    parts = [tk.datasets.synthetic_tissue(p, rng=7, sample_id=p) for p in CLEAR]
    no_tumour = tk.datasets.synthetic_tissue("inflamed", rng=8, sample_id="no_tumour")
    no_tumour = no_tumour[no_tumour.obs["cell_type"] != "Tumour"].copy()
    adata = ad.concat([*parts, no_tumour], merge="first")
    table = _classify(adata, "cd8_density", library_key="sample_id")
    assert table.loc["inflamed", "phenotype"] == "inflamed"
    assert table.loc["excluded", "phenotype"] == "excluded"
    assert table.loc["desert", "phenotype"] == "desert"
    assert table.loc["no_tumour", "phenotype"] == "indeterminate"
    assert table.loc["no_tumour", "confidence"] == 0.0
    assert "tumour cells" in table.loc["no_tumour", "reason"]
    assert set(adata.uns["tmekit_phenotype"]["table"].index) == set(table.index)


def test_too_small_sample_is_indeterminate():
    full = tk.datasets.synthetic_tissue("inflamed", rng=3)
    centre = full.obsm["spatial"][full.obs["cell_type"] == "Tumour"].mean(axis=0)
    window = (np.abs(full.obsm["spatial"] - centre) < 30).all(axis=1)  # a 60 x 60 um crop: ~14 tumour cells
    row = _classify(full[window].copy(), "cd8_density").iloc[0]
    assert row.phenotype == "indeterminate"
    assert row.confidence == 0.0


def test_compartments_match_the_construction():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=2)
    tk.sp.compartments(adata, cell_type_key="cell_type", tumor_labels="Tumour")
    meta = adata.uns["synthetic_tissue"]
    xy = adata.obsm["spatial"]
    # the nest is one disc: its centre is the mean of the tumour cells
    centre = xy[adata.obs["cell_type"] == "Tumour"].mean(axis=0)
    truth = np.linalg.norm(xy - centre, axis=1) - meta["nest_radius_um"]
    err = np.abs(adata.obs["tmekit_tumor_distance"].to_numpy() - truth)
    assert np.median(err) < 8.0  # within about one cell diameter
    w = adata.uns["tmekit_compartment"]["samples"]["all"]["margin_halfwidth_um"]
    assert w == tk.sp.margin_halfwidth(800.0 - 1) or w == pytest.approx(50.0, abs=0.5)
    expected = np.where(truth <= -w - 10, "tumour core", np.where(truth >= w + 10, "stroma", "skip"))
    sure = expected != "skip"
    assert (adata.obs["tmekit_compartment"].to_numpy()[sure] == expected[sure]).mean() > 0.99
    info = adata.uns["tmekit_compartment"]["samples"]["all"]
    assert info["tumour_area_mm2"] == pytest.approx(np.pi * meta["nest_radius_um"] ** 2 / 1e6, rel=0.1)


def test_infiltration_densities_equal_count_over_area():
    adata = tk.datasets.synthetic_tissue("excluded", rng=4)
    tk.sp.compartments(adata, cell_type_key="cell_type", tumor_labels="Tumour")
    table = tk.sp.infiltration(adata, **LABELS)
    row = table.loc["all"]
    comp = adata.obs["tmekit_compartment"]
    cd8 = adata.obs["cell_type"] == "CD8T"
    n_core = int((cd8 & (comp == "tumour core")).sum())
    assert row["n_cd8_core"] == n_core
    assert row["density_cd8_core"] == pytest.approx(n_core / row["area_core_mm2"])
    assert row["density_cd8_margin"] == pytest.approx(row["n_cd8_margin"] / row["area_margin_mm2"])
    assert row["area_core_mm2"] + row["area_margin_mm2"] + row["area_stroma_mm2"] == pytest.approx(
        row["area_tissue_mm2"]
    )
    # mixing score from an independent radius-graph count
    from scipy.spatial import cKDTree

    xy = adata.obsm["spatial"]
    pairs = np.array(sorted(cKDTree(xy).query_pairs(20.0)))
    imm = adata.obs["cell_type"].isin(LABELS["immune_labels"]).to_numpy()
    tum = (adata.obs["cell_type"] == "Tumour").to_numpy()
    e_it = int(((imm[pairs[:, 0]] & tum[pairs[:, 1]]) | (tum[pairs[:, 0]] & imm[pairs[:, 1]])).sum())
    e_ii = int((imm[pairs[:, 0]] & imm[pairs[:, 1]]).sum())
    assert row["immune_tumor_contacts"] == e_it
    assert row["immune_immune_contacts"] == e_ii
    assert row["mixing_score"] == pytest.approx(e_it / e_ii)


def test_mixing_score_lower_when_separated():
    mixed = _classify(tk.datasets.synthetic_tissue("inflamed", rng=5), "keren2018").iloc[0].mixing_score
    separated = _classify(tk.datasets.synthetic_tissue("excluded", rng=5), "keren2018").iloc[0].mixing_score
    assert separated < 0.22 < mixed


def test_pixel_coordinates_with_microns_per_unit():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=6)
    pixels = adata.copy()
    pixels.obsm["spatial"] = adata.obsm["spatial"] * 2048 / 800  # as a 2048-pixel MIBI image
    a = _classify(adata, "cd8_density", n_boot=50)
    b = _classify(pixels, "cd8_density", microns_per_unit=800 / 2048, n_boot=50)
    assert a.iloc[0].phenotype == b.iloc[0].phenotype == "inflamed"
    assert b.iloc[0].density_cd8_core == pytest.approx(a.iloc[0].density_cd8_core, rel=0.05)


def test_deterministic_confidence():
    adata = tk.datasets.synthetic_tissue("near_inflamed", rng=1)
    a = _classify(adata, "cd8_density", rng=3).iloc[0].confidence
    b = _classify(adata, "cd8_density", rng=3).iloc[0].confidence
    assert a == b


def test_bad_inputs_get_clear_errors():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    no_coords = adata.copy()
    del no_coords.obsm["spatial"]
    with pytest.raises(KeyError, match=r"obsm\['spatial'\]` not found.*adata\.obs\[\['x', 'y'\]\]"):
        tk.tl.classify(no_coords, **LABELS)
    moved = adata.copy()
    moved.obsm["X_spatial"] = moved.obsm.pop("spatial")
    with pytest.raises(KeyError, match="spatial_key='X_spatial'"):
        tk.tl.classify(moved, **LABELS)
    with pytest.raises(ValueError, match=r"cd8_labels \['CD8'\] do not occur"):
        tk.tl.classify(adata, **{**LABELS, "cd8_labels": ["CD8"]})
    with pytest.raises(KeyError, match="cell_type_key"):
        tk.tl.classify(adata, **{**LABELS, "cell_type_key": "celltype"})
    with pytest.raises(ValueError, match="too small"):
        tk.datasets.synthetic_tissue("inflamed", size_um=150)
    with pytest.raises(ValueError, match="Unknown rule set"):
        tk.tl.classify(adata, rules="immunoscore", **LABELS)
    with pytest.raises(ValueError, match="Unknown thresholds"):
        tk.tl.classify(adata, thresholds={"core": 5}, **LABELS)
    with pytest.raises(KeyError, match="library_key"):
        tk.tl.classify(adata, library_key="patient", **LABELS)
    tk.tl.classify(adata, **LABELS)
    with pytest.raises(ValueError, match="overwrite=True"):
        tk.tl.classify(adata, **LABELS)


def test_thresholds_can_be_overridden():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    row = _classify(adata, "cd8_density", thresholds={"core_cd8_per_mm2": 5000.0, "margin_cd8_per_mm2": 5000.0}).iloc[0]
    assert row.phenotype == "desert"
    assert row.threshold_core_cd8_per_mm2 == 5000.0


def test_plots_return_figures_and_draw_what_they_say(tmp_path):
    import matplotlib.pyplot as plt

    adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    table = _classify(adata, "cd8_density")
    fig = tk.pl.compartments(adata)
    ax = fig.axes[0]
    assert len(ax.collections) >= 4  # three compartments + the boundary contour
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(tk.sp.COMPARTMENTS)
    fig2, given = plt.subplots()
    assert tk.pl.infiltration(table, ax=given) is fig2
    assert given.get_xlabel().startswith("CD8")
    lines = {round(line.get_xdata()[0]) for line in given.lines} | {round(line.get_ydata()[0]) for line in given.lines}
    assert {100, 200} <= lines  # the thresholds are drawn
    fig.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    plt.close("all")
    with pytest.raises(KeyError, match="compartments"):
        tk.pl.compartments(tk.datasets.synthetic_tissue("desert", rng=0))
