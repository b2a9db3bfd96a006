"""SP142 immune-cell (IC) score: known answers on a hand-built field, every band at, below and above its cut (#29)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk
from tmekit._pdl1 import MAX_RADIUS_UM

ROLES = {"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T", "Mac"], "cd8": ["CD8T"], "pdl1": "pdl1"}
N_POS, N_NEG = 20, 40  # PD-L1+ CD8 T cells and PD-L1- macrophages in the tumour core


def _field(*, pdl1_area: float = 100.0, immune_status: bool = True, tumour_status: bool = True) -> ad.AnnData:
    """A 300 x 300 um field of cells on a 10 um lattice: a 200 um tumour square, stroma around it, and 60 immune
    cells scattered in the middle of the tumour (20 PD-L1+ CD8 T cells of ``pdl1_area`` um^2 each, 40 PD-L1- macrophages
    of 50 um^2). PD-L1 is a boolean column (``<NA>`` on tumour / immune cells without ``*_status``)."""
    grid = np.arange(5.0, 300.0, 10.0)
    xy = np.array([(x, y) for y in grid for x in grid])
    inside = (xy >= 50).all(axis=1) & (xy <= 250).all(axis=1)
    label = np.where(inside, "Tumour", "Stroma").astype(object)
    ix, iy = np.round((xy - 5.0) / 10.0).astype(int).T
    # one lattice site in three in the middle of the tumour: tumour cells all around, no hole in the region
    middle = np.flatnonzero((np.abs(xy - 150.0) < 70).all(axis=1) & ((ix + iy) % 3 == 0))[: N_POS + N_NEG]
    label[middle[:N_POS]], label[middle[N_POS:]] = "CD8T", "Mac"
    area = np.full(len(xy), 60.0)
    area[middle[:N_POS]], area[middle[N_POS:]] = pdl1_area, 50.0
    status = pd.array(label == "CD8T", dtype="boolean")
    if not tumour_status:
        status[label == "Tumour"] = pd.NA
    if not immune_status:
        status[np.isin(label, ["CD8T", "Mac"])] = pd.NA
    obs = pd.DataFrame({"cell_type": pd.Categorical(label), "cell_area": area, "pdl1": status},
                       index=[f"c{i}" for i in range(len(xy))])  # fmt: skip
    adata = ad.AnnData(obs=obs, obsm={"spatial": xy})
    tk.pp.cell_types(adata, **{k: v for k, v in ROLES.items() if k != "key"}, key="cell_type")
    tk.sp.compartments(adata, microns_per_unit=1.0)
    return adata


def _region_um2(adata: ad.AnnData) -> float:
    """The tumour region's area (core + margin) as the compartments drew it, in um^2."""
    regions = tk.get.compartments(adata).iloc[0]
    return float(regions["core_area_mm2"] + regions["margin_area_mm2"]) * 1e6


def _with_ic(percent: float) -> ad.AnnData:
    """The field with the PD-L1+ immune cells sized so that they cover ``percent`` % of the tumour region."""
    adata = _field()
    adata.obs["cell_area"] = np.where(adata.obs["cell_type"] == "CD8T", percent / 100 * _region_um2(adata) / N_POS,
                                      adata.obs["cell_area"])  # fmt: skip
    return adata


CASES = [(0.5, "IC0")]
for cut, below, above in ((1.0, "IC0", "IC1"), (5.0, "IC1", "IC2"), (10.0, "IC2", "IC3")):
    CASES += [(cut * (1 - 1e-6), below), (cut, above), (cut * (1 + 1e-6), above)]


@pytest.mark.parametrize(("percent", "category"), CASES)
def test_ic_score_and_band_at_below_and_above_each_cut(percent: float, category: str):
    adata = _with_ic(percent)
    row = tk.sp.infiltration(adata, contacts=None).loc["all"]
    assert row["ic_percent"] == pytest.approx(percent, rel=1e-9)
    assert row["ic_category"] == category
    assert row["area_immune_pdl1_region_mm2"] == pytest.approx(percent / 100 * _region_um2(adata) / 1e6)
    # every PD-L1 figure is there; TPS measured (tumour cells known negative) and 0, not NaN
    assert row["tps"] == 0.0 and row["pdl1_share_tumour"] == 0.0
    assert row["pdl1_share_immune"] == pytest.approx(N_POS / (N_POS + N_NEG))
    assert row["cps"] == pytest.approx(100 * N_POS / (adata.obs["cell_type"] == "Tumour").sum())
    assert row["pdl1_not_measured"] == ""


@pytest.mark.parametrize(
    ("percent", "call"), [(1.0 * (1 - 1e-6), "PD-L1-"), (1.0, "PD-L1+"), (1.0 * (1 + 1e-6), "PD-L1+")]
)
def test_til_pdl1_ic_pdl1_cut_at_one_percent(percent: float, call: str):
    adata = _with_ic(percent)
    tk.tl.classify(adata, rules=["til_pdl1_ic", "til_pdl1"], microns_per_unit=1.0, n_boot=20, rng=0)
    table = tk.get.phenotypes(adata)
    til = "TIL+" if table["density_cd8_intratumoral"].iloc[0] > 100 else "TIL-"
    assert table["phenotype_til_pdl1_ic"].iloc[0] == f"{call}/{til}"
    evidence = tk.get.evidence(adata)
    assert set(tk._pdl1.PDL1_FIGURES) <= set(evidence.columns)
    assert evidence["ic_percent"].iloc[0] == pytest.approx(percent, rel=1e-9)
    params = tk.get.phenotype_params(adata)
    assert params["cell_area"] == "segmentation: obs['cell_area'] (um^2)"
    assert params["frameworks"]["til_pdl1_ic"]["thresholds"]["ic_min_percent"] == 1.0


def test_til_thresholds_equal_til_pdl1():
    ic, tps = tk.tl.RULES["til_pdl1_ic"], tk.tl.RULES["til_pdl1"]
    assert ic.thresholds["til_cd8_per_mm2"] == tps.thresholds["til_cd8_per_mm2"]
    assert ic.aliases == tps.aliases and ic.classes == tps.classes


def test_no_pdl1_on_tumour_cells_tps_not_measured_with_reason():
    adata = _field(tumour_status=False)
    tk.tl.classify(adata, rules=["til_pdl1", "til_pdl1_ic"], microns_per_unit=1.0, n_boot=20, rng=0)
    table = tk.get.phenotypes(adata)
    row = table.iloc[0]
    assert np.isnan(row["tps"]) and np.isnan(row["cps"]) and np.isnan(row["pdl1_share_tumour"])
    assert row["pdl1_not_measured"] == (
        "tps, cps, pdl1_share_tumour: no tumour cell with a known PD-L1 status (NaN / <NA> = unknown)"
    )
    assert row["phenotype_til_pdl1"] == "indeterminate"
    assert "no tumour cell with a known PD-L1 status" in row["reason_til_pdl1"]
    assert row["phenotype_til_pdl1_ic"] != "indeterminate" and np.isfinite(row["ic_percent"])


def test_no_immune_cell_known_ic_not_measured_with_reason():
    adata = _field(immune_status=False)
    tk.tl.classify(adata, rules="til_pdl1_ic", microns_per_unit=1.0, n_boot=20, rng=0)
    row = tk.get.phenotypes(adata).iloc[0]
    assert np.isnan(row["ic_percent"]) and row["ic_category"] == "" and np.isnan(row["pdl1_share_immune"])
    assert row["tps"] == 0.0
    assert row["phenotype"] == "indeterminate"
    assert row["reason"] == "no immune cell in the tumour region with a known PD-L1 status"
    assert "ic_percent: no immune cell in the tumour region" in row["pdl1_not_measured"]


def test_no_immune_cell_in_region_is_ic0_not_nan():
    adata = _field()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(str).replace({"CD8T": "Tumour", "Mac": "Tumour"})
    adata.obs["cell_type"] = pd.Categorical(adata.obs["cell_type"])
    with pytest.warns(tk.InputWarning, match="No (cd8|immune) cells"):
        row = tk.sp.infiltration(adata, contacts=None).loc["all"]
    assert row["ic_percent"] == 0.0 and row["ic_category"] == "IC0"


def test_estimated_area_is_the_clipped_nearest_neighbour_disc():
    adata = _field()
    del adata.obs["cell_area"]
    tiles = tk.sp.tile_table(adata, contacts=None)
    assert adata.obs.loc[adata.obs["cell_type"] != "Tumour", "tmekit_compartment"].isin(["tumour core"]).sum() == 60
    # every cell sits on a 10 um lattice: nearest neighbour 10 um, disc radius min(5.3, 5) = 5 um
    assert MAX_RADIUS_UM > 5.0
    assert tiles["ic_area_pdl1"].sum() * 1e6 == pytest.approx(N_POS * np.pi * 25.0)
    assert tiles["ic_area_immune"].sum() * 1e6 == pytest.approx((N_POS + N_NEG) * np.pi * 25.0)
    assert tiles.attrs["cell_area"].startswith("estimate: disc of radius min(5.3 um")


def test_areas_in_pixels_are_refused():
    adata = _field(pdl1_area=2000.0)
    adata.obs["cell_area"] = adata.obs["cell_area"] * 40  # what a 0.16 um^2 pixel makes of these cells
    with pytest.raises(ValueError, match=r"are the areas in pixels\?"):
        tk.sp.tile_table(adata, contacts=None)


@pytest.mark.parametrize(("percent", "expected"), [(99.0, 99.0), (100.0, 100.0), (150.0, 100.0)])
def test_ic_score_is_capped_at_100(percent, expected):
    """Segmented areas may overlap or spill over the region's edge: the score is a share of the region, at most 100%."""
    row = tk.sp.infiltration(_with_ic(percent), contacts=None).loc["all"]
    assert row["ic_percent"] == pytest.approx(expected, rel=1e-9) and row["ic_category"] == "IC3"


def test_cells_of_unknown_status_are_not_counted_as_negative():
    """IC = PD-L1+ share of the immune area whose status is known x the immune area / region area (by hand)."""
    adata = _field()
    macs = np.flatnonzero(adata.obs["cell_type"].eq("Mac").to_numpy())
    status = adata.obs["pdl1"].copy()
    status.iloc[macs[:10]] = pd.NA  # 10 of the 40 PD-L1- macrophages unread
    adata.obs["pdl1"] = status
    row = tk.sp.infiltration(adata, contacts=None).loc["all"]
    pos, known_neg, unknown = N_POS * 100.0, 30 * 50.0, 10 * 50.0
    by_hand = 100 * pos / (pos + known_neg) * (pos + known_neg + unknown) / _region_um2(adata)
    assert row["ic_percent"] == pytest.approx(by_hand, rel=1e-9)
    as_negative = 100 * pos / _region_um2(adata)  # what counting the unread cells as PD-L1- would give
    assert row["ic_percent"] > as_negative
