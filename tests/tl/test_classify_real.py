"""Spatial classification on the real files in ../shared/data: Keren MIBI (33 patients), melanoma mIF, Xenium."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

import tmekit as tk

KEREN = {
    "key": "cell_type",
    "tumor": ["Tumour"],
    "immune": ["Macrophage", "CD8T", "CD4T", "B", "Otherimmune", "DCMono", "CD3T", "MonoNeu", "Neutrophil",
                      "Treg", "DC", "NK"],
    "cd8": ["CD8T"],
    "t": ["CD8T", "CD4T", "CD3T", "Treg"],
}  # fmt: skip
KEREN_UM_PER_PX = 800 / 2048  # one 800 um field = 2048 pixels (shared/data/README)
# Melanoma mIF: SOX10+ tumour; CD8+ cells; PD-1+ cells are lymphocytes. CD8-PD1-PDL1- cells are unknown and
# not counted as immune. Coordinates are undocumented "image units" of ~333 x 248 per image: a Vectra 20x field
# is 669 x 500 um, so 2 um per unit is assumed.
MELANOMA = {
    "key": "cell_type",
    "tumor": ["SOX10+"],
    "immune": [
        "CD8+PD1-PDL1-", "CD8+PD1-PDL1+", "CD8+PD1+PDL1+", "CD8+PD1+PDL1-", "CD8-PD1+PDL1+", "CD8-PD1+PDL1-",
    ],
    "cd8": ["CD8+PD1-PDL1-", "CD8+PD1-PDL1+", "CD8+PD1+PDL1+", "CD8+PD1+PDL1-"],
}  # fmt: skip
MELANOMA_UM_PER_UNIT = 2.0


def _by_hand(rule: str, row) -> str:
    """A called sample's class from its own metrics, by each rule set's documented rule and default thresholds."""
    til = "+" if row.get("density_cd8_intratumoral", np.nan) > 100 else "-"
    by_hand = {
        "cd8_density": lambda: "inflamed" if row["density_cd8_core"] > 100 else
        "excluded" if row["density_cd8_margin"] > 200 else "desert",
        # fewer than 250 immune cells per 800 um field (0.64 mm^2): cold; else a mixing fraction < 0.22: excluded
        "keren2018": lambda: "desert" if row["density_immune_tissue"] < 250 / 0.64 else
        "excluded" if row["mixing_fraction"] < 0.22 else "inflamed",
        "patterns4": lambda: "structured" if row["share_tiles_hot"] >= 0.5 else
        "dispersed" if row["share_tiles_hot"] >= 0.2 else
        "excluded" if row["density_cd8_stromal"] > 200 else "desert",
        "intratumoral_stromal": lambda: "inflamed" if row["share_tiles_inflamed"] > 1 / 3 else
        "excluded" if row["share_tiles_excluded"] > 1 / 3 else "ignored",
        "immunoscore": lambda: "low" if row["immunoscore_mean_percentile"] <= 25 else
        "intermediate" if row["immunoscore_mean_percentile"] <= 70 else "high",
        "til_pdl1": lambda: f"PD-L1{'+' if row['tps'] >= 1 else '-'}/TIL{til}",
        "til_pdl1_cps": lambda: f"PD-L1{'+' if row['cps'] >= 1 else '-'}/TIL{til}",
    }  # fmt: skip
    return by_hand[rule]()


def _check_calls(table, rule: str, column: str = "phenotype") -> None:
    """Every called sample has the class its metrics give by hand; every indeterminate one says why."""
    called = table[column].astype(str) != "indeterminate"
    for name, row in table[called].iterrows():
        assert row[column] == _by_hand(rule, row), (rule, name)
    reason = "reason" if column == "phenotype" else column.replace("phenotype", "reason")
    assert (table.loc[~called, reason] != "").all()


@pytest.fixture(scope="module")
def keren(shared_data, read_shared):
    return read_shared("keren_tnbc_mibi/keren_tnbc_full33.h5ad")


@pytest.mark.parametrize("rules", ["cd8_density", "keren2018"])
def test_keren_all_33_patients(keren, rules):
    adata = keren.copy()
    tk.tl.classify(
        adata, rules=rules, library_key="patient_id", microns_per_unit=KEREN_UM_PER_PX, n_boot=100, cell_types=KEREN
    )
    table = tk.get.phenotypes(adata)
    assert len(table) == 33
    _check_calls(table, rules)
    assert table["confidence"].between(0, 1).all()
    assert (table["phenotype"] != "indeterminate").sum() >= 30  # full 800 um fields with tumour cells
    if rules == "keren2018":
        # full33 holds the paper's mixed and compartmentalized tumours only (no cold ones): few or no deserts
        assert (table["phenotype"] == "desert").sum() <= 3
        assert {"inflamed", "excluded"} <= set(table["phenotype"])
    # the CD8 density in a compartment equals count / area, computed here independently
    comp = adata.obs["tmekit_compartment"]
    for patient in table.index[:5]:
        cells = (adata.obs["patient_id"].astype(str) == patient).to_numpy()
        n_core = int(((adata.obs["cell_type"] == "CD8T").to_numpy() & cells & (comp == "tumour core").to_numpy()).sum())
        assert table.loc[patient, "n_cd8_core"] == n_core
        if table.loc[patient, "area_core_mm2"] > 0:
            assert table.loc[patient, "density_cd8_core"] == pytest.approx(n_core / table.loc[patient, "area_core_mm2"])
        assert 0.3 < table.loc[patient, "area_tissue_mm2"] <= 0.66  # one 800 um field = 0.64 mm^2


def test_keren_every_framework(keren):
    """All 33 patients get a call under every framework whose inputs exist (PD-L1: the binarised channel)."""
    adata = keren.copy()
    rules = ["keren2018", "cd8_density", "immunoscore", "til_pdl1", "til_pdl1_cps", "patterns4", "intratumoral_stromal"]
    tk.tl.classify(adata, rules=rules, library_key="patient_id", microns_per_unit=KEREN_UM_PER_PX, n_boot=50,
                   cohort_relative=True, cell_types={**KEREN, "pdl1": "PD.L1"})  # fmt: skip
    table = tk.get.phenotypes(adata)
    for rule in rules:
        assert (table[f"phenotype_{rule}"] != "indeterminate").all(), rule
        _check_calls(table, rule, f"phenotype_{rule}")
    assert (table["phenotype_keren2018"] == "excluded").sum() == 15  # the paper: about 15 of 33 compartmentalized
    assert set(table["phenotype_til_pdl1"]) == set(tk.tl.RULES["til_pdl1"].classes)  # all four types occur
    patient = table.index[0]
    cells = (adata.obs["patient_id"].astype(str) == patient).to_numpy() & (
        adata.obs["cell_type"] == "Tumour"
    ).to_numpy()
    pdl1 = np.asarray(adata[cells, "PD.L1"].X).ravel()
    assert table.loc[patient, "tps"] == pytest.approx(100 * (pdl1 > 0.5).mean())


def test_keren_mixing_score_tracks_immune_infiltration(keren):
    # Separated tumours (immune cells held outside) have low mixing and few immune cells inside the tumour region;
    # intermixed ones have both high. Two metrics computed independently must agree in rank.
    adata = keren.copy()
    tk.sp.compartments(adata, library_key="patient_id", microns_per_unit=KEREN_UM_PER_PX,
                       cell_types={"key": "cell_type", "tumor": ["Tumour"]})  # fmt: skip
    table = tk.sp.infiltration(adata, library_key="patient_id", microns_per_unit=KEREN_UM_PER_PX, cell_types=KEREN)
    rho = spearmanr(table["mixing_score"], table["intratumoral_immune_fraction"]).statistic
    assert rho > 0.5
    most, least = table["mixing_score"].idxmax(), table["mixing_score"].idxmin()
    assert table.loc[most, "intratumoral_immune_fraction"] > table.loc[least, "intratumoral_immune_fraction"]
    assert table.loc[most, "cd8_tumor_distance_median_um"] < table.loc[least, "cd8_tumor_distance_median_um"]


def test_melanoma_all_images(shared_data, read_shared):
    adata = read_shared("melanoma_ici_mif/melanoma_ici_mif.h5ad")
    assert adata.n_obs == 296_523
    adata.obsm["spatial"] = adata.obs[["x", "y"]].to_numpy()
    tk.tl.classify(
        adata, rules=["cd8_density", "til_pdl1", "patterns4"], library_key="image_id",
        microns_per_unit=MELANOMA_UM_PER_UNIT, n_boot=50,
    cell_types={**MELANOMA, "pdl1": "pdl1_pos"})  # fmt: skip
    table = tk.get.phenotypes(adata)
    # PD-L1 is typed on immune cells only (<NA> on every SOX10+ cell): no TPS, so no TIL x PD-L1 type, and why
    assert (table["phenotype_til_pdl1"] == "indeterminate").all()
    assert table["reason_til_pdl1"].str.contains("no tumour cell with a known PD-L1 status|min_tumor_area").all()
    _check_calls(table, "patterns4", "phenotype_patterns4")
    assert len(table) == adata.obs["image_id"].nunique() == 135
    _check_calls(table, "cd8_density")
    assert table["area_tissue_mm2"].median() == pytest.approx(0.669 * 0.5, rel=0.2)  # one Vectra field
    called = table[table["phenotype"] != "indeterminate"]
    assert len(called) > 100
    # an image called inflamed has a denser CD8 core than every image called desert
    if {"inflamed", "desert"} <= set(called["phenotype"]):
        assert (
            called.loc[called.phenotype == "inflamed", "density_cd8_core"].min()
            > called.loc[called.phenotype == "desert", "density_cd8_core"].max()
        )
    assert (adata.obs["tmekit_phenotype"].astype(str) != "nan").all()


def test_xenium_after_annotation(shared_data, read_shared):
    adata = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    adata = adata[:, ~adata.var["is_control"].to_numpy()].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)  # NK/plasma/Treg markers are not on this panel
        tk.tl.annotate(adata)
    types = adata.obs["tmekit_cell_type"].value_counts()
    assert types["Epithelial"] > 1000
    assert types[["CD8 T", "CD4 T", "T cell", "Macrophage", "B cell"]].sum() > 200
    immune = ["T cell", "CD8 T", "CD4 T", "B cell", "Macrophage", "Monocyte", "Dendritic", "Mast"]
    for rules in ("cd8_density", "keren2018"):
        tk.tl.classify(
            adata,
            rules=rules,
            overwrite=True,
            cell_types={"key": "tmekit_cell_type", "tumor": ["Epithelial"], "immune": immune, "cd8": ["CD8 T"]},
        )
        table = tk.get.phenotypes(adata)
        row = table.iloc[0]
        assert row.phenotype == _by_hand(rules, row)
        assert row.n_tumor == types["Epithelial"]
    # PD-L1 from RNA: CD274 transcripts (>= 1 count is positive) on the epithelial cells
    tk.tl.classify(
        adata,
        rules="til_pdl1",
        overwrite=True,
        cell_types={
            "key": "tmekit_cell_type",
            "tumor": ["Epithelial"],
            "immune": immune,
            "cd8": ["CD8 T"],
            "pdl1": "CD274",
        },
    )
    row = tk.get.phenotypes(adata).iloc[0]
    cd274 = np.asarray(adata[adata.obs["tmekit_cell_type"] == "Epithelial", "CD274"].X.todense()).ravel()
    assert row["tps"] == pytest.approx(100 * (cd274 >= 1).mean())
    assert row["phenotype"] == _by_hand("til_pdl1", row)
    comp = adata.obs["tmekit_compartment"].value_counts()
    assert (comp > 100).all()  # a real sub-region has all three compartments
    epi = adata.obs["tmekit_cell_type"] == "Epithelial"
    inside = adata.obs["tmekit_tumor_distance"] < 0
    assert (inside[epi]).mean() > 0.8 > (inside[~epi]).mean()


def test_sample_without_tumour_cells_is_indeterminate_on_real_data(keren):
    adata = keren.copy()
    first = adata.obs["patient_id"].astype(str).iloc[0]
    drop = (adata.obs["patient_id"].astype(str) == first) & (adata.obs["cell_type"] == "Tumour")
    adata = adata[~drop.to_numpy()].copy()
    tk.tl.classify(adata, library_key="patient_id", microns_per_unit=KEREN_UM_PER_PX, n_boot=20, cell_types=KEREN)
    table = tk.get.phenotypes(adata)
    assert table.loc[first, "phenotype"] == "indeterminate"
    assert (table.drop(index=first)["phenotype"] != "indeterminate").sum() >= 29
    assert np.isfinite(table.drop(index=first)["confidence"]).all()
