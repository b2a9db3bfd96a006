"""`tk.sp.compartments` on cells and spots: the region, the distances, what it stores."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


def test_compartments_match_the_construction():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=2)
    tk.sp.compartments(adata, cell_types={"key": "cell_type", "tumor": "Tumour"})
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
    assert info["tumor_area_mm2"] == pytest.approx(np.pi * meta["nest_radius_um"] ** 2 / 1e6, rel=0.1)


def test_pixel_coordinates_with_microns_per_unit():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=6)
    pixels = adata.copy()
    pixels.obsm["spatial"] = adata.obsm["spatial"] * 2048 / 800  # as a 2048-pixel MIBI image
    tk.sp.compartments(adata, cell_types={"key": "cell_type", "tumor": "Tumour"})
    with pytest.raises(ValueError, match="do not look like micrometres"):  # pixels are not taken for micrometres
        tk.sp.compartments(pixels, cell_types={"key": "cell_type", "tumor": "Tumour"})
    tk.sp.compartments(pixels, microns_per_unit=800 / 2048, cell_types={"key": "cell_type", "tumor": "Tumour"})
    a, b = (
        tk.sp.infiltration(adata, cell_types=LABELS),
        tk.sp.infiltration(pixels, microns_per_unit=800 / 2048, cell_types=LABELS),
    )
    assert b.iloc[0].density_cd8_core == pytest.approx(a.iloc[0].density_cd8_core, rel=0.05)
    assert tk.get.compartments(pixels)["core_area_mm2"].iloc[0] == pytest.approx(
        tk.get.compartments(adata)["core_area_mm2"].iloc[0], rel=0.05
    )


def test_the_region_is_stored_once_and_read_back():
    """The grid and the boundary are kept, so tile areas and the map never recompute the region."""
    adata = tk.datasets.synthetic_tissue("excluded", rng=3)
    tk.sp.compartments(adata, cell_types={"key": "cell_type", "tumor": "Tumour"})
    info = adata.uns["tmekit_compartment"]["samples"]["all"]
    grid, boundary = info["grid"], info["boundary_um"]
    assert grid["compartment"].dtype == np.int8 and {0, 1, 2} <= set(np.unique(grid["compartment"])) <= {-1, 0, 1, 2}
    pixel_mm2 = grid["pixel_um"] ** 2 / 1e6
    for code, name in enumerate(("core", "margin", "stroma")):
        assert (grid["compartment"] == code).sum() * pixel_mm2 == pytest.approx(info[f"{name}_area_mm2"])
    assert boundary.ndim == 2 and boundary.shape[1] == 2 and np.isfinite(boundary).any()
    centre = adata.obsm["spatial"][(adata.obs["cell_type"] == "Tumour").to_numpy()].mean(axis=0)  # one nest
    radius = adata.uns["synthetic_tissue"]["nest_radius_um"]
    distance = np.hypot(*(boundary[np.isfinite(boundary[:, 0])] - centre).T)
    assert np.median(distance) == pytest.approx(radius, rel=0.1)  # the boundary is the nest's edge
    table = tk.get.compartments(adata)
    assert "grid" not in table.columns and table.loc["all", "has_tumor_region"]


CLEAR = ("inflamed", "excluded", "desert")


@pytest.fixture(scope="module")
def synthetic(synthetic_spot_tissues):
    """The session's synthetic spot tissues (shared by every test file that needs them)."""
    return synthetic_spot_tissues


# --------------------------------------------------------------------------------------- regions on spots
def test_spot_compartments_find_the_nest(synthetic):
    spots = synthetic["inflamed", 0].copy()
    tk.sp.compartments(spots)  # detected as spot data
    params = spots.uns["tmekit_compartment"]["params"]
    assert params["mode"] == "spots" and params["tumor_labels"] == ["Epithelial"] and params["pitch_um"] == 100.0
    truth = spots.obsm["cell_type_fractions"]["Tumour"].to_numpy() >= 0.5
    inside = spots.obs["tmekit_tumor_distance"].to_numpy() < 0
    assert (inside == truth).mean() > 0.9
    comp = spots.obs["tmekit_compartment"].astype(str)
    d = spots.obs["tmekit_tumor_distance"]
    w = spots.uns["tmekit_compartment"]["samples"]["all"]["margin_halfwidth_um"]
    assert w >= 100.0
    assert (comp[d <= -w] == "tumour core").all() and (comp[d >= w] == "stroma").all()
    assert set(comp) == {"tumour core", "invasive margin", "stroma"}
    with pytest.raises(ValueError, match="overwrite=True"):
        tk.sp.compartments(spots)


def test_spot_compartments_errors(synthetic):
    spots = synthetic["inflamed", 0].copy()
    del spots.obsm["spatial"]
    with pytest.raises(KeyError, match=r"obsm\['spatial'\].* not found"):
        tk.sp.compartments(spots)
    bare = synthetic["inflamed", 0].copy()
    del bare.obsm["tmekit_spot_content"]
    with pytest.raises(KeyError, match=r"spot_content\(spots\)"):
        tk.sp.compartments(bare, mode="spots")
    with pytest.raises(ValueError, match="not columns"):
        tk.sp.compartments(synthetic["inflamed", 0].copy(), cell_types={"tumor": ["Tumour cells"]})


def test_visium_scale_factors_set_the_scale():
    from tmekit.sp._spotdata import spot_scale

    visium = ad.AnnData(obs=pd.DataFrame({"array_row": [0], "array_col": [0]}, index=["s0"]))
    visium.uns["spatial"] = {"lib": {"scalefactors": {"spot_diameter_fullres": 110.0}}}
    assert spot_scale(visium, microns_per_unit=None) == (0.5, 55.0, 100.0)
    del visium.uns["spatial"]
    with pytest.warns(UserWarning, match="microns_per_unit"):
        assert spot_scale(visium, microns_per_unit=None)[0] == 1.0


def test_square_bins_use_four_neighbours_and_their_own_pitch():
    """Binned data (e.g. Visium HD 16 um bins): a square grid, pitch measured from the coordinates."""
    from tmekit.sp._spotdata import grid_neighbours, spot_graph

    side = 30
    xy = np.array([(i, j) for j in range(side) for i in range(side)], dtype=float)  # 1 unit = one 16 um bin
    assert grid_neighbours(xy) == 4
    degree = np.asarray(spot_graph(xy).sum(axis=1)).ravel()
    assert degree.max() == 4
    tumour = (xy[:, 0] < 15).astype(float)  # left half is tumour
    content = pd.DataFrame(
        {"Epithelial": tumour, "CD8 T": 0.0, "Other": 1 - tumour}, index=[f"b{i}" for i in range(len(xy))]
    )
    bins = ad.AnnData(obs=pd.DataFrame({"array_row": xy[:, 1], "array_col": xy[:, 0]}, index=content.index))
    bins.obsm["spatial"] = xy
    bins.obsm["tmekit_spot_content"] = content
    bins.uns["tmekit_spot_content"] = {"groups": {"tumor": ["Epithelial"], "immune": ["CD8 T"], "cd8": ["CD8 T"]}}
    tk.sp.compartments(bins, microns_per_unit=16.0)
    params = bins.uns["tmekit_compartment"]["params"]
    assert params["pitch_um"] == 16.0
    d = bins.obs["tmekit_tumor_distance"].to_numpy()
    np.testing.assert_allclose(d[xy[:, 0] == 14], -8.0)  # last tumour column: half a bin inside the boundary
    np.testing.assert_allclose(d[xy[:, 0] == 15], 8.0)
    np.testing.assert_allclose(d[xy[:, 0] == 10], -(5 * 16 - 8.0))


@pytest.mark.parametrize(("size_um", "n_nests", "phenotype"), [(2000, 4, "inflamed"), (4000, 12, "excluded"),
                                                              (8000, 30, "desert")])  # fmt: skip
def test_regions_follow_many_irregular_nests(size_um, n_nests, phenotype):
    """Lumpy nests of several lobes, known per cell: the tumour region matches them cell by cell."""
    from sklearn.metrics import balanced_accuracy_score

    adata = tk.datasets.synthetic_tissue(phenotype, size_um=size_um, n_nests=n_nests, rng=1, nest_shape="irregular")
    tk.tl.classify(adata, cell_types=LABELS)
    inside = adata.obs["tmekit_tumor_distance"].to_numpy() < 0
    truth = (adata.obs["truth_region"] == "nest").to_numpy()
    assert balanced_accuracy_score(truth, inside) >= 0.95
    assert tk.get.phenotypes(adata)["phenotype"].iloc[0] == phenotype
    assert tk.get.compartments(adata).loc["all", "n_nests"] >= n_nests * 0.8  # (lobes of one nest may split)


def test_a_whole_slide_of_thirty_excluded_nests_is_excluded():
    """8 x 8 mm, 30 nests: Immunoscore's 500 um band would swallow every nest; each keeps a core of its own."""
    adata = tk.datasets.synthetic_tissue("excluded", size_um=8000, n_nests=30, rng=0)
    tk.tl.classify(adata, cell_types=LABELS)
    row = tk.get.phenotypes(adata).iloc[0]
    assert row["phenotype"] == "excluded" and row["confidence"] >= 0.9
    regions = tk.get.compartments(adata).loc["all"]
    assert regions["margin_halfwidth_um"] == pytest.approx(500, rel=1e-3)  # the slide-level band ...
    assert regions["nest_margin_halfwidth_min_um"] < 300 and regions["core_area_mm2"] > 2  # ... scaled to each nest
