"""Each rule set's thresholds through ``tk.tl.classify``: overrides, the derive step and the evidence floors.

A hand-built tissue: cells on a 10 um lattice (60 x 60), a tumour disc of radius 180 um, CD8 T cells in the left
half of the nest and in the stroma. Its compartments are made first on 15.625 um pixels (1/4096 mm^2 each, so
every area is an exact binary fraction and count / area is computed here exactly as tmekit computes it), and
``classify`` reuses them. Each metric a rule reads is computed here by hand from the cells' compartments, the
areas and (for contacts) the lattice's own neighbours; then each threshold is set exactly at it, just below and
just above it with ``thresholds=``, and the call must follow the rule. The decide functions alone are tested in
``test_rule_thresholds.py``.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

LABELS = {"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T", "CD4T", "Macrophage"],
          "cd8": ["CD8T"]}  # fmt: skip
T_LABELS = ["CD8T", "CD4T"]
PIXEL_UM = 15.625  # (15.625 um)^2 = 1/4096 mm^2
N, STEP, CENTRE, RADIUS = 60, 10.0, 295.0, 180.0


def _up(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def _down(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def _lattice(sample: str = "a", *, tumour: bool = True) -> ad.AnnData:
    """60 x 60 cells 10 um apart; inside the disc tumour cells, a CD8 T cell on every fifth site of the left half
    and a macrophage on every 17th diagonal; outside stroma with CD8 T, CD4 T and macrophages on their own
    diagonals. ``tumour=False``: the disc's tumour cells are stroma instead."""
    i, j = (a.ravel() for a in np.meshgrid(np.arange(N), np.arange(N), indexing="ij"))
    xy = np.column_stack([i, j]) * STEP
    nest = np.hypot(xy[:, 0] - CENTRE, xy[:, 1] - CENTRE) < RADIUS
    kind = np.where(nest & tumour, "Tumour", "Stroma").astype(object)
    kind[nest & (xy[:, 0] < CENTRE) & ((i + 2 * j) % 5 == 0)] = "CD8T"
    kind[nest & ((i + j) % 17 == 0)] = "Macrophage"
    kind[~nest & ((i + j) % 6 == 0)] = "CD8T"
    kind[~nest & ((i - j) % 7 == 0)] = "CD4T"
    kind[~nest & ((2 * i + j) % 11 == 0)] = "Macrophage"
    obs = pd.DataFrame({"cell_type": pd.Categorical(kind), "sample_id": sample, "i": i, "j": j},
                       index=[f"{sample}_{k}" for k in range(len(kind))])  # fmt: skip
    return ad.AnnData(obs=obs, obsm={"spatial": xy})


def _with_compartments(adata: ad.AnnData) -> ad.AnnData:
    tk.sp.compartments(adata, library_key="sample_id",
                       pixel_size=PIXEL_UM, cell_types={"key": "cell_type", "tumor": ["Tumour"]})  # fmt: skip
    return adata


@pytest.fixture(scope="module")
def _tissue_once() -> ad.AnnData:
    return _with_compartments(_lattice())


@pytest.fixture
def tissue(_tissue_once) -> ad.AnnData:
    """The lattice tissue with its compartments (a fresh copy per test)."""
    return _tissue_once.copy()


def _call(adata: ad.AnnData, rules: str, **kwargs) -> pd.DataFrame:
    called = tk.tl.classify(
        adata,
        rules=rules,
        library_key="sample_id",
        n_boot=20,
        copy=True,
        cell_types={**LABELS, **kwargs.pop("cell_types", {})},
        **kwargs,
    )
    return tk.get.phenotypes(called)


def _count(adata: ad.AnnData, cell_type: str | list[str], where: np.ndarray) -> int:
    types = [cell_type] if isinstance(cell_type, str) else cell_type
    return int((adata.obs["cell_type"].isin(types).to_numpy() & where).sum())


def _by_hand(adata: ad.AnnData) -> dict[str, float]:
    """The metrics the rules read, from the cells' compartments and the compartments' areas."""
    comp = adata.obs["tmekit_compartment"].astype(str).to_numpy()
    inside = adata.obs["tmekit_tumor_distance"].to_numpy() < 0
    areas = tk.get.compartments(adata).iloc[0]
    core, margin = areas["core_area_mm2"], areas["margin_area_mm2"]
    tissue = core + margin + areas["stroma_area_mm2"]
    peri_area = margin - (areas["tumor_area_mm2"] - core)  # the margin band outside the tumour region
    return {
        "density_cd8_core": _count(adata, "CD8T", comp == "tumour core") / core,
        "density_cd8_margin": _count(adata, "CD8T", comp == "invasive margin") / margin,
        "density_t_core": _count(adata, T_LABELS, comp == "tumour core") / core,
        "density_t_margin": _count(adata, T_LABELS, comp == "invasive margin") / margin,
        "density_immune_tissue": _count(adata, LABELS["immune"], comp != "") / tissue,
        "density_cd8_intratumoral": _count(adata, "CD8T", inside) / areas["tumor_area_mm2"],
        "density_cd8_stromal": _count(adata, "CD8T", ~inside & (comp == "invasive margin")) / peri_area,
        "tumour_area": core + margin,
    }


# --------------------------------------------------------------------------------------------- cd8_density
def test_cd8_density_thresholds_through_classify(tissue):
    hand = _by_hand(tissue)
    core, margin = hand["density_cd8_core"], hand["density_cd8_margin"]
    row = _call(tissue, "cd8_density").iloc[0]
    assert (row["density_cd8_core"], row["density_cd8_margin"]) == (core, margin)
    assert core > 100 and row["phenotype"] == "inflamed"
    cases = [
        (core, 1e9, "desert"),  # the core at its threshold is not above it
        (_down(core), 1e9, "inflamed"),
        (_up(core), 1e9, "desert"),
        (core, margin, "desert"),
        (core, _down(margin), "excluded"),
        (core, _up(margin), "desert"),
    ]
    for core_cut, margin_cut, expected in cases:
        thresholds = {"core_cd8_per_mm2": core_cut, "margin_cd8_per_mm2": margin_cut}
        row = _call(tissue, "cd8_density", thresholds=thresholds).iloc[0]
        assert row["phenotype"] == expected, (core_cut, margin_cut)
        assert (row["threshold_core_cd8_per_mm2"], row["threshold_margin_cd8_per_mm2"]) == (core_cut, margin_cut)


# ----------------------------------------------------------------------------------------------- keren2018
def test_keren2018_thresholds_through_classify(tissue):
    """Contacts by hand: on a 10 um lattice the touching cells (Delaunay neighbours <= 12 um apart) are the four
    lattice neighbours; the diagonals are 14.1 um apart."""
    site = np.full((N, N), "", dtype=object)
    site[tissue.obs["i"], tissue.obs["j"]] = tissue.obs["cell_type"].astype(str).to_numpy()
    immune, tumour = np.isin(site, LABELS["immune"]), site == "Tumour"
    pairs = [(a[:-1, :], b[1:, :]) for a, b in ((immune, immune), (immune, tumour), (tumour, immune))]
    pairs += [(a[:, :-1], b[:, 1:]) for a, b in ((immune, immune), (immune, tumour), (tumour, immune))]
    e_ii = int(sum((a & b).sum() for a, b in pairs[0::3]))
    e_it = int(sum((a & b).sum() for k, (a, b) in enumerate(pairs) if k % 3))
    mixing = e_it / (e_it + e_ii)
    density = _by_hand(tissue)["density_immune_tissue"]
    row = _call(tissue, "keren2018").iloc[0]
    assert (row["immune_tumor_contacts"], row["immune_immune_contacts"]) == (e_it, e_ii)
    assert (row["mixing_fraction"], row["density_immune_tissue"]) == (mixing, density)
    assert mixing >= 0.22 and density >= 250 / 0.64 and row["phenotype"] == "inflamed"
    per_mm2 = {"field_um": 1000.0}  # a 1 mm field: the cold cut is in cells per mm^2
    cases = [
        ({"cold_immune_per_field": density}, "inflamed"),  # not fewer than the cut: not cold
        ({"cold_immune_per_field": _up(density)}, "desert"),
        ({"cold_immune_per_field": density / 4, "field_um": 500.0}, "inflamed"),  # the same cut per 0.25 mm^2
        ({"cold_immune_per_field": _up(density / 4), "field_um": 500.0}, "desert"),
        ({"mixing_threshold": mixing}, "inflamed"),  # not below the mixing cut: mixed
        ({"mixing_threshold": _up(mixing)}, "excluded"),
        ({"mixing_threshold": _down(mixing)}, "inflamed"),
    ]
    for overrides, expected in cases:
        row = _call(tissue, "keren2018", thresholds={**per_mm2, **overrides}).iloc[0]
        assert row["phenotype"] == expected, overrides


# ------------------------------------------------------------------------------------------------ Immunoscore
def test_immunoscore_thresholds_and_high_percentile_through_classify(tissue):
    """A reference of 11 tumours around this one's own four densities (own + k x own / 8, k = -5..5): each density
    ranks at (5 + 6) / 22 = 50%, so the mean percentile is 50; the reference median is the density itself (not
    above it: I0), the 40th percentile the next value below (all four above it: I4)."""
    hand = _by_hand(tissue)
    own = {"CD3_CT": hand["density_t_core"], "CD3_IM": hand["density_t_margin"],
           "CD8_CT": hand["density_cd8_core"], "CD8_IM": hand["density_cd8_margin"]}  # fmt: skip
    reference = pd.DataFrame({k: v + np.arange(-5, 6) * v / 8 for k, v in own.items()})
    cases = [
        ({}, "intermediate", 0),
        ({"high_percentile": 40.0}, "intermediate", 4),
        ({"high_percentile": 60.0}, "intermediate", 0),
        ({"intermediate_max_percentile": 50.0}, "intermediate", 0),  # 50 is at most 50
        ({"intermediate_max_percentile": _down(50.0)}, "high", 0),
        ({"low_max_percentile": 50.0}, "low", 0),
        ({"low_max_percentile": _down(50.0)}, "intermediate", 0),
    ]
    for overrides, expected, i_score in cases:
        row = _call(tissue, "immunoscore", immunoscore_reference=reference,
                    thresholds=overrides, cell_types={"t": T_LABELS}).iloc[0]  # fmt: skip
        for name in own:
            assert row[f"percentile_{name}"] == 50.0, name
        assert row["immunoscore_mean_percentile"] == 50.0
        assert (row["phenotype"], row["immunoscore_i"]) == (expected, i_score), overrides


# ---------------------------------------------------------------------------------------------- TIL x PD-L1
def _pdl1_samples() -> ad.AnnData:
    """Four copies of the tissue whose PD-L1 status is known on some tumour cells only (<NA> on the others):
    TPS = positive / known tumour cells x 100, CPS = (positive tumour + positive immune) / known tumour x 100."""
    design = {"at": (2, 200, 0), "below": (1, 200, 1), "just_below": (2, 201, 0), "just_above": (2, 199, 0)}
    parts = []
    for name, (positive, known, immune_positive) in design.items():
        part = _lattice(name)
        status = pd.array([pd.NA] * part.n_obs, dtype="boolean")
        tumour = np.flatnonzero(part.obs["cell_type"] == "Tumour")
        status[tumour[:known]] = False
        status[tumour[:positive]] = True
        immune = np.flatnonzero(part.obs["cell_type"].isin(LABELS["immune"]))
        status[immune] = False
        status[immune[:immune_positive]] = True
        part.obs["pdl1"] = status
        parts.append(part)
    return _with_compartments(ad.concat(parts, merge="first"))


def test_til_pdl1_tps_and_cps_at_their_cuts_through_classify():
    adata = _pdl1_samples()
    table = _call(adata, "til_pdl1,til_pdl1_cps", cell_types={"pdl1": "pdl1"})
    tps = {"at": 100 * 2 / 200, "below": 100 * 1 / 200, "just_below": 100 * 2 / 201, "just_above": 100 * 2 / 199}
    cps = {**tps, "below": 100 * (1 + 1) / 200}
    assert table["tps"].to_dict() == tps and table["cps"].to_dict() == cps
    assert tps["at"] == 1.0 and cps["below"] == 1.0  # exactly at the 22C3 cuts
    til = table["density_cd8_intratumoral"]
    assert (til > 100).all()  # every copy is TIL+
    assert table["phenotype_til_pdl1"].to_dict() == {
        "at": "PD-L1+/TIL+", "below": "PD-L1-/TIL+", "just_below": "PD-L1-/TIL+", "just_above": "PD-L1+/TIL+",
    }  # fmt: skip
    assert table["phenotype_til_pdl1_cps"].to_dict() == {
        "at": "PD-L1+/TIL+", "below": "PD-L1+/TIL+", "just_below": "PD-L1-/TIL+", "just_above": "PD-L1+/TIL+",
    }  # fmt: skip
    assert table["tps_band"].to_dict() == {"at": "1-49%", "below": "<1%", "just_below": "<1%", "just_above": "1-49%"}
    assert table["cps_band"].to_dict() == {"at": "1-9", "below": "1-9", "just_below": "<1", "just_above": "1-9"}
    assert table["alias_til_pdl1"]["below"] == "T3: tolerance"


def test_til_pdl1_overridden_cuts_through_classify(tissue):
    tissue.obs["pdl1"] = (tissue.obs["cell_type"] == "Tumour") & (tissue.obs["i"] % 4 == 0)  # a TPS near 25%
    tumour = tissue.obs["cell_type"] == "Tumour"
    tps = 100 * int(tissue.obs.loc[tumour, "pdl1"].sum()) / int(tumour.sum())
    til = _by_hand(tissue)["density_cd8_intratumoral"]
    cases = [
        ({}, "PD-L1+/TIL+"),
        ({"tps_percent": tps}, "PD-L1+/TIL+"),  # at least the cut: positive
        ({"tps_percent": _up(tps)}, "PD-L1-/TIL+"),
        ({"til_cd8_per_mm2": til}, "PD-L1+/TIL-"),  # not above the TIL cut
        ({"til_cd8_per_mm2": _down(til)}, "PD-L1+/TIL+"),
    ]
    for overrides, expected in cases:
        row = _call(tissue, "til_pdl1", thresholds=overrides, cell_types={"pdl1": "pdl1"}).iloc[0]
        assert (row["tps"], row["density_cd8_intratumoral"]) == (tps, til)
        assert row["phenotype"] == expected, overrides
    row = _call(tissue, "til_pdl1_cps", thresholds={"cps_min": _up(tps)}, cell_types={"pdl1": "pdl1"}).iloc[0]
    assert (row["cps"], row["phenotype"]) == (tps, "PD-L1-/TIL+")  # no immune cell is PD-L1+: CPS = TPS


# ------------------------------------------------------------------------------------------------ tile rules
def _tile_shares(adata: ad.AnnData, epithelial: float, stromal: float) -> tuple[float, float]:
    """Shares of the tumour tiles (>= 5% of their tissue inside the tumour) that are inflamed (epithelial CD8
    density above ``epithelial``) and excluded (not inflamed, stromal density above ``stromal``), by hand from the
    tiles' counts and areas."""
    tiles = tk.sp.tile_table(adata, library_key="sample_id", contacts=None, cell_types=LABELS)
    inside, peri = tiles["area_inside"].to_numpy(), tiles["area_peri"].to_numpy()
    tumour = (inside > 0) & (inside >= 0.05 * tiles["area_tissue"].to_numpy())
    epi = tiles["n_cd8_inside"].to_numpy()[tumour] / inside[tumour]
    around = np.array([n / a if a > 0 else 0.0 for n, a in zip(tiles["n_cd8_peri"], peri, strict=True)])[tumour]
    inflamed = epi > epithelial
    excluded = ~inflamed & (around > stromal)
    return inflamed.sum() / tumour.sum(), excluded.sum() / tumour.sum()


def test_patterns4_thresholds_and_hot_cut_through_classify(tissue):
    hot, _ = _tile_shares(tissue, 100.0, np.inf)
    stroma = _by_hand(tissue)["density_cd8_stromal"]
    row = _call(tissue, "patterns4").iloc[0]
    assert (row["share_tiles_hot"], row["density_cd8_stromal"]) == (hot, stroma)
    assert 0.5 <= hot < 1 and stroma > 200 and row["phenotype"] == "structured"
    never = {"structured_share": 1.1, "infiltrated_share": 1.1}  # no share reaches these: the stroma decides
    cases = [
        ({"structured_share": hot}, "structured"),  # at least the share
        ({"structured_share": _up(hot)}, "dispersed"),
        ({"structured_share": 1.1, "infiltrated_share": hot}, "dispersed"),
        ({"structured_share": 1.1, "infiltrated_share": _up(hot)}, "excluded"),
        ({**never, "stromal_cd8_per_mm2": stroma}, "desert"),  # not above the stromal cut
        ({**never, "stromal_cd8_per_mm2": _down(stroma)}, "excluded"),
    ]
    for overrides, expected in cases:
        assert _call(tissue, "patterns4", thresholds=overrides).iloc[0]["phenotype"] == expected, overrides
    # the hot-tile cut reaches the tile shares (derive): at the median tile density, half as many tiles or so
    tiles = tk.sp.tile_table(tissue, library_key="sample_id", contacts=None, cell_types=LABELS)
    dense = tiles.loc[tiles["area_inside"] > 0, "n_cd8_inside"] / tiles.loc[tiles["area_inside"] > 0, "area_inside"]
    for cut in (float(np.median(dense)), float(dense.max())):
        share, _ = _tile_shares(tissue, cut, np.inf)
        row = _call(tissue, "patterns4", thresholds={"hot_cd8_per_mm2": cut}).iloc[0]
        assert row["share_tiles_hot"] == share < hot
        expected = "structured" if share >= 0.5 else "dispersed" if share >= 0.2 else "excluded"
        assert row["phenotype"] == expected
    assert _tile_shares(tissue, float(dense.max()), np.inf)[0] == 0.0  # the densest tile is not above itself


def test_intratumoral_stromal_thresholds_and_tile_cuts_through_classify(tissue):
    inflamed, excluded = _tile_shares(tissue, 100.0, 200.0)
    row = _call(tissue, "intratumoral_stromal").iloc[0]
    assert (row["share_tiles_inflamed"], row["share_tiles_excluded"]) == (inflamed, excluded)
    assert inflamed > 1 / 3 > excluded > 0 and row["phenotype"] == "inflamed"
    cases = [
        ({"tile_share": inflamed}, "ignored"),  # not more than the share (and fewer tiles are excluded)
        ({"tile_share": _down(inflamed)}, "inflamed"),
    ]
    for overrides, expected in cases:
        assert _call(tissue, "intratumoral_stromal", thresholds=overrides).iloc[0]["phenotype"] == expected
    # with no epithelial tile inflamed, tiles with dense stroma around them are excluded ones (derive's cuts)
    none_inflamed, now_excluded = _tile_shares(tissue, 1e9, 200.0)
    assert none_inflamed == 0.0 and now_excluded > excluded
    for share, expected in ((now_excluded, "ignored"), (_down(now_excluded), "excluded")):
        overrides = {"epithelial_cd8_per_mm2": 1e9, "tile_share": share}
        row = _call(tissue, "intratumoral_stromal", thresholds=overrides).iloc[0]
        assert (row["share_tiles_excluded"], row["phenotype"]) == (now_excluded, expected)
    stromal_cut = 1000.0
    _, fewer = _tile_shares(tissue, 1e9, stromal_cut)
    row = _call(tissue, "intratumoral_stromal", thresholds={"epithelial_cd8_per_mm2": 1e9,
                                                            "stromal_cd8_per_mm2": stromal_cut}).iloc[0]  # fmt: skip
    assert row["share_tiles_excluded"] == fewer < now_excluded


# -------------------------------------------------------------------------------------------- evidence floors
def test_tumour_cell_and_area_floors_through_classify(tissue):
    """Indeterminate below ``min_tumor_cells`` tumour cells or ``min_tumor_area`` mm^2 of core + margin; at them the
    sample is called."""
    n_tumour = int((tissue.obs["cell_type"] == "Tumour").sum())
    area = _by_hand(tissue)["tumour_area"]
    cases = [
        ({"min_tumor_cells": n_tumour}, "inflamed"),
        ({"min_tumor_cells": n_tumour + 1}, "indeterminate"),
        ({"min_tumor_area": area}, "inflamed"),
        ({"min_tumor_area": _up(area)}, "indeterminate"),
    ]
    for floors, expected in cases:
        row = _call(tissue, "cd8_density", thresholds=floors).iloc[0]
        assert row["phenotype"] == expected, floors
        assert row["n_tumor"] == n_tumour and row["area_core_mm2"] + row["area_margin_mm2"] == area
        if expected == "indeterminate":
            assert row["confidence"] == 0.0
            word = "tumour cells" if "min_tumor_cells" in floors else "min_tumor_area"
            assert word in row["reason"]


def test_no_tumour_region_is_indeterminate_even_with_no_floor():
    adata = _lattice("none", tumour=False)
    with pytest.warns(tk.InputWarning, match="No tumor cells"):
        row = _call(adata, "cd8_density", thresholds={"min_tumor_cells": 0, "min_tumor_area": 0.0}).iloc[0]
    assert (row["phenotype"], row["confidence"]) == ("indeterminate", 0.0)
    assert "tumour region smaller than min_tumor_area=0.0" in row["reason"]


# ------------------------------------------------------------------------------------------------------ spots
def _spots() -> ad.AnnData:
    """12 x 12 spots on a square 100 um grid with their content given: a 6 x 6 block of tumour spots (tumour 0.75,
    CD8 T 0.125) in spots without tumour (CD8 T 0.0625). Smoothed tumour content (half its own, half its 4
    neighbours' mean) is >= 0.5 on the block only (a corner: 0.375 + 0.1875), so 36 tumour spots; the core is the
    block's 4 x 4 interior (two pitches or more from a spot outside the tumour)."""
    i, j = (a.ravel() for a in np.meshgrid(np.arange(12), np.arange(12), indexing="ij"))
    block = (i >= 3) & (i < 9) & (j >= 3) & (j < 9)
    names = [f"spot{k}" for k in range(len(i))]
    content = pd.DataFrame({"Tumour": np.where(block, 0.75, 0.0), "CD8T": np.where(block, 0.125, 0.0625)},
                           index=names)  # fmt: skip
    content["Other"] = 1.0 - content["Tumour"] - content["CD8T"]
    spots = ad.AnnData(obs=pd.DataFrame({"array_row": i, "array_col": j}, index=names),
                       obsm={"spatial": np.column_stack([j, i]) * 100.0, "tmekit_spot_content": content})  # fmt: skip
    spots.uns["tmekit_spots"] = {"microns_per_unit": 1.0, "spot_diameter_um": 55.0, "pitch_um": 100.0}
    # the groups a deconvolution declares (tk.sp.spot_content records its reference's)
    spots.uns["tmekit_spot_content"] = {"groups": {"tumor": ["Tumour"], "immune": ["CD8T", "Other"],
                                                   "cd8": ["CD8T"], "t": ["CD8T"]}}  # fmt: skip
    return spots


def _spot_call(spots: ad.AnnData, **kwargs) -> pd.Series:
    return tk.get.phenotypes(tk.tl.classify(spots, n_boot=20, copy=True, **kwargs)).iloc[0]


def test_spot_cd8_thresholds_and_tumour_spot_floor_through_classify():
    spots = _spots()
    called = tk.tl.classify(spots, n_boot=20, copy=True)
    row = tk.get.phenotypes(called).iloc[0]
    assert tk.get.compartments(called)["n_tumor_spots"].iloc[0] == 36
    where = called.obs["tmekit_compartment"].astype(str).to_numpy()
    cd8 = spots.obsm["tmekit_spot_content"]["CD8T"].to_numpy()
    core, margin = cd8[where == "tumour core"], cd8[where == "invasive margin"]
    assert len(core) == 16 and core.sum() / len(core) == 0.125
    assert (row["fraction_cd8_core"], row["fraction_cd8_margin"]) == (0.125, margin.sum() / len(margin))
    margin_fraction = row["fraction_cd8_margin"]
    assert row["phenotype"] == "inflamed" and margin_fraction > 0.05
    cases = [
        ({"core_cd8_fraction": 0.125, "margin_cd8_fraction": 1.0}, "desert"),  # the core at its cut
        ({"core_cd8_fraction": _down(0.125), "margin_cd8_fraction": 1.0}, "inflamed"),
        ({"core_cd8_fraction": 0.125, "margin_cd8_fraction": margin_fraction}, "desert"),
        ({"core_cd8_fraction": 0.125, "margin_cd8_fraction": _down(margin_fraction)}, "excluded"),
    ]
    for thresholds, expected in cases:
        assert _spot_call(spots, thresholds=thresholds)["phenotype"] == expected, thresholds
    assert _spot_call(spots, thresholds={"min_tumor_spots": 36})["phenotype"] == "inflamed"
    short = _spot_call(spots, thresholds={"min_tumor_spots": 37})
    assert (short["phenotype"], short["confidence"]) == ("indeterminate", 0.0)
    assert "only 36 tumour spots (< min_tumor_spots=37)" in short["reason"]
