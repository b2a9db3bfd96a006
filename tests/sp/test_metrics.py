"""`tk.sp.tile_table` / `tile_metrics` / `infiltration`: per-sample evidence from counts and areas."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.spatial import Delaunay, cKDTree

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()


def test_infiltration_densities_equal_count_over_area():
    adata = tk.datasets.synthetic_tissue("excluded", rng=4)
    tk.sp.compartments(adata, cell_types={"key": "cell_type", "tumor": "Tumour"})
    table = tk.sp.infiltration(adata, cell_types=LABELS)
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
    # the contacts from an independent count: scipy's Delaunay edges of at most 12 um (touching, the default) ...
    xy = adata.obsm["spatial"]
    imm = adata.obs["cell_type"].isin(LABELS["immune"]).to_numpy()
    tum = (adata.obs["cell_type"] == "Tumour").to_numpy()

    def counts(pairs: np.ndarray) -> tuple[int, int]:
        it = int(((imm[pairs[:, 0]] & tum[pairs[:, 1]]) | (tum[pairs[:, 0]] & imm[pairs[:, 1]])).sum())
        return it, int((imm[pairs[:, 0]] & imm[pairs[:, 1]]).sum())

    simplices = Delaunay(xy).simplices
    edges = np.unique(np.sort(np.vstack([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]]), axis=1),
                      axis=0)  # fmt: skip
    edges = edges[np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1) <= 12.0]
    e_it, e_ii = counts(edges)
    assert (row["immune_tumor_contacts"], row["immune_immune_contacts"]) == (e_it, e_ii)
    assert row["mixing_score"] == pytest.approx(e_it / e_ii)
    assert row["mixing_fraction"] == pytest.approx(e_it / (e_it + e_ii))
    assert row["contacts"] == "touching" and row["contact_distance_um"] == 12.0
    # ... and every pair within 20 um (contacts="radius", SPIAT's definition)
    radius = tk.sp.infiltration(adata, contacts="radius", cell_types=LABELS).loc["all"]
    e_it, e_ii = counts(np.array(sorted(cKDTree(xy).query_pairs(20.0))))
    assert (radius["immune_tumor_contacts"], radius["immune_immune_contacts"]) == (e_it, e_ii)


def _mixing(phenotype: str) -> float:
    adata = tk.datasets.synthetic_tissue(phenotype, rng=5)
    tk.sp.compartments(adata, cell_types={"key": "cell_type", "tumor": LABELS["tumor"]})
    return tk.sp.infiltration(adata, cell_types=LABELS)["mixing_score"].iloc[0]


def test_mixing_score_lower_when_separated():
    assert _mixing("excluded") < 0.22 < _mixing("inflamed")


def test_tile_rows_sum_to_the_sample_and_their_metrics_are_the_infiltration_table():
    parts = [tk.datasets.synthetic_tissue(p, rng=2, sample_id=p) for p in ("inflamed", "excluded")]
    adata = ad.concat(parts, merge="first")
    tk.sp.compartments(adata, library_key="sample_id", cell_types={"key": "cell_type", "tumor": "Tumour"})
    tiles = tk.sp.tile_table(adata, library_key="sample_id", cell_types=LABELS)
    assert set(tiles["sample"]) == {"inflamed", "excluded"}
    counts = tiles.groupby("sample")["n_tumor"].sum()
    truth = adata.obs.groupby("sample_id", observed=True)["cell_type"].apply(lambda c: (c == "Tumour").sum())
    pd.testing.assert_series_equal(counts.sort_index(), truth.sort_index(), check_names=False)
    table = tk.sp.infiltration(adata, library_key="sample_id", cell_types=LABELS)
    metrics = tk.sp.tile_metrics(tiles)
    pd.testing.assert_frame_equal(table[metrics.columns].sort_index(), metrics.sort_index(), check_names=False)
    one = tiles[tiles["sample"] == "inflamed"].drop(columns=["sample", "tile", "tile_um"]).sum().to_frame().T
    np.testing.assert_allclose(tk.sp.tile_metrics(one)["density_cd8_core"], table.loc["inflamed", "density_cd8_core"])
    area = tiles.groupby("sample")["area_core"].sum()
    regions = tk.get.compartments(adata)
    np.testing.assert_allclose(area.loc[regions.index], regions["core_area_mm2"])  # tiles cover the core exactly


def test_a_contact_graph_too_large_is_refused(monkeypatch):
    """Its size is estimated from a few cells' neighbours before squidpy builds it."""
    import tmekit.sp._graphs as graphs

    tissue = tk.datasets.synthetic_tissue("inflamed", rng=0)
    tk.sp.compartments(tissue, cell_types={"key": "cell_type", "tumor": "Tumour"})
    monkeypatch.setattr(graphs, "MAX_EDGES", 1e6)  # a 2,000-cell field cannot reach the real limit (2e8)
    with pytest.raises(ValueError, match=r"contact graph would have about \d\.\d+e\+06 edges"):
        tk.sp.infiltration(tissue, contacts="radius", contact_distance=1e5, cell_types=LABELS)
    assert graphs.expected_edges(tissue.obsm["spatial"], np.zeros(tissue.n_obs, dtype=int), 20.0) < 1e5
