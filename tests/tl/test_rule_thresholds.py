"""Every threshold of every rule set, exactly at it, just below and just above, with the answer worked out by hand.

Two layers: each rule's ``decide`` (and ``derive``) on hand-built metric rows, so a flipped comparison (``>`` for
``>=``), a dropped threshold or a swapped branch fails here; and the wiring through ``tk.tl.classify``: a
threshold set by ``thresholds=`` exactly to a measured metric flips the call as the rule says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

import tmekit as tk
from tmekit.tl._phenotype import immunoscore, intratumoral_stromal, patterns4, til_pdl1

RULES = tk.tl.RULES
LABELS = tk.datasets.synthetic_labels()
EPS = 1e-6


def _decide(rule: str, rows: list[dict[str, float]], **overrides: float) -> list[str]:
    spec = RULES[rule]
    return list(spec.decide(pd.DataFrame(rows), {**spec.thresholds, **overrides}))


# ----------------------------------------------------------------------------------- decide, at each threshold
def test_cd8_density_core_and_margin_cuts():
    rows = [
        {"density_cd8_core": 100.0, "density_cd8_margin": 0.0},  # at the core cut: not above -> margin decides
        {"density_cd8_core": 100.0 + EPS, "density_cd8_margin": 0.0},
        {"density_cd8_core": 100.0 - EPS, "density_cd8_margin": 0.0},
        {"density_cd8_core": 0.0, "density_cd8_margin": 200.0},  # at the margin cut: desert
        {"density_cd8_core": 0.0, "density_cd8_margin": 200.0 + EPS},
        {"density_cd8_core": 0.0, "density_cd8_margin": 200.0 - EPS},
        {"density_cd8_core": np.nan, "density_cd8_margin": 500.0},
        {"density_cd8_core": 50.0, "density_cd8_margin": np.nan},
        {"density_cd8_core": 150.0, "density_cd8_margin": np.nan},  # inflamed needs no margin
    ]
    assert _decide("cd8_density", rows) == [
        "desert", "inflamed", "desert", "desert", "excluded", "desert", "indeterminate", "indeterminate", "inflamed",
    ]  # fmt: skip
    assert _decide("cd8_density", rows[:2], core_cd8_per_mm2=150.0) == ["desert", "desert"]  # the override is read


def test_spot_cd8_fraction_cuts():
    core, margin = RULES["spot_cd8"].thresholds.values()
    assert (core, margin) == (0.025, 0.05)
    rows = [{"fraction_cd8_core": c, "fraction_cd8_margin": m}
            for c, m in ((core, 0), (core + EPS, 0), (core - EPS, 0), (0, margin), (0, margin + EPS))]  # fmt: skip
    assert _decide("spot_cd8", rows) == ["desert", "inflamed", "desert", "desert", "excluded"]


def test_keren2018_cold_density_and_mixing_cuts():
    cold = 250.0 / (800.0 / 1000.0) ** 2  # 250 immune cells per 800 um field, per mm^2
    assert cold == pytest.approx(390.625)
    rows = [
        {"density_immune_tissue": cold, "mixing_fraction": 0.5},  # at the cold cut: not below -> mixed
        {"density_immune_tissue": cold - EPS, "mixing_fraction": 0.5},  # cold
        {"density_immune_tissue": cold + EPS, "mixing_fraction": 0.22},  # at the mixing cut: not below -> mixed
        {"density_immune_tissue": cold + EPS, "mixing_fraction": 0.22 - EPS},  # compartmentalized
        {"density_immune_tissue": cold + EPS, "mixing_fraction": 0.22 + EPS},
        {"density_immune_tissue": 1000.0, "mixing_fraction": np.nan},
        {"density_immune_tissue": 10.0, "mixing_fraction": np.nan},  # cold needs no contacts
        {"density_immune_tissue": np.nan, "mixing_fraction": 0.5},  # no tissue area: no density, no call
    ]
    assert _decide("keren2018", rows) == [
        "inflamed", "desert", "inflamed", "excluded", "inflamed", "indeterminate", "desert", "indeterminate",
    ]  # fmt: skip
    # the field size is read: a 400 um field makes the cut 250 / 0.16 = 1562.5 per mm^2
    assert _decide("keren2018", rows[:1], field_um=400.0) == ["desert"]


def test_immunoscore_category_cuts():
    rows = [{"immunoscore_mean_percentile": v} for v in (25.0, 25.0 + EPS, 70.0, 70.0 + EPS, 0.0, 100.0, np.nan)]
    assert _decide("immunoscore", rows) == ["low", "intermediate", "intermediate", "high", "low", "high",
                                            "indeterminate"]  # fmt: skip
    assert _decide("immunoscore", rows[:1], low_max_percentile=20.0) == ["intermediate"]


def test_immunoscore_percentiles_and_high_percentile_by_hand():
    """Reference 1..10 per density: the median is 5.5 (high above it); at high_percentile=80 the cut is 8.2."""
    reference = pd.DataFrame({k: np.arange(1.0, 11.0) for k in immunoscore.DENSITIES})
    context = {"percentile_reference": reference, "cohort_relative": False}
    values = [5.5, 5.5 + EPS, 8.2, 8.2 + EPS]
    m = pd.DataFrame(dict.fromkeys(immunoscore.DENSITIES.values(), values))
    limits = dict(RULES["immunoscore"].thresholds)
    out = immunoscore.derive(m, thresholds=limits, context=context)
    for k, v in enumerate(values):
        assert out["percentile_CD8_CT"].iloc[k] == pytest.approx(percentileofscore(np.arange(1, 11), v, kind="mean"))
    assert out["immunoscore_i"].tolist() == [0, 4, 4, 4]  # 5.5 is not above the median; the rest are
    out80 = immunoscore.derive(m, thresholds={**limits, "high_percentile": 80.0}, context=context)
    assert out80["immunoscore_i"].tolist() == [0, 0, 0, 4]  # only above 8.2 counts as high
    mixed = m.copy()
    mixed["density_cd8_margin"] = 1.0  # one density low: I3
    assert immunoscore.derive(mixed, thresholds=limits, context=context)["immunoscore_i"].iloc[1] == 3


def test_til_pdl1_tps_and_til_cuts():
    rows = [
        {"density_cd8_intratumoral": 150.0, "tps": 1.0},  # exactly at TPS 1%: PD-L1+
        {"density_cd8_intratumoral": 150.0, "tps": 1.0 - EPS},
        {"density_cd8_intratumoral": 100.0, "tps": 5.0},  # at the TIL cut: TIL-
        {"density_cd8_intratumoral": 100.0 + EPS, "tps": 5.0},
        {"density_cd8_intratumoral": 100.0 - EPS, "tps": 0.0},
        {"density_cd8_intratumoral": np.nan, "tps": 5.0},
        {"density_cd8_intratumoral": 150.0, "tps": np.nan},
    ]
    assert _decide("til_pdl1", rows) == [
        "PD-L1+/TIL+", "PD-L1-/TIL+", "PD-L1+/TIL-", "PD-L1+/TIL+", "PD-L1-/TIL-", "indeterminate", "indeterminate",
    ]  # fmt: skip
    cps = [{"density_cd8_intratumoral": 150.0, "cps": v} for v in (1.0, 1.0 - EPS)]
    assert _decide("til_pdl1_cps", cps) == ["PD-L1+/TIL+", "PD-L1-/TIL+"]
    assert _decide("til_pdl1", rows[:1], tps_percent=50.0) == ["PD-L1-/TIL+"]


def test_tps_and_cps_bands_at_their_cuts():
    m = pd.DataFrame({"tps": [1.0 - EPS, 1.0, 50.0 - EPS, 50.0, np.nan],
                      "cps": [1.0 - EPS, 1.0, 10.0 - EPS, 10.0, np.nan]})  # fmt: skip
    bands = til_pdl1.derive(m)
    assert bands["tps_band"].tolist() == ["<1%", "1-49%", "1-49%", ">=50%", ""]
    assert bands["cps_band"].tolist() == ["<1", "1-9", "1-9", ">=10", ""]


def test_patterns4_share_and_stroma_cuts():
    rows = [
        {"share_tiles_hot": 0.5, "density_cd8_stromal": 0.0},  # at the structured share: structured
        {"share_tiles_hot": 0.5 - EPS, "density_cd8_stromal": 0.0},
        {"share_tiles_hot": 0.2, "density_cd8_stromal": 0.0},  # at the infiltrated share: dispersed
        {"share_tiles_hot": 0.2 - EPS, "density_cd8_stromal": 200.0},  # at the stromal cut: desert
        {"share_tiles_hot": 0.2 - EPS, "density_cd8_stromal": 200.0 + EPS},
        {"share_tiles_hot": 0.0, "density_cd8_stromal": np.nan},  # no stroma: indeterminate, never desert
        {"share_tiles_hot": 0.3, "density_cd8_stromal": np.nan},  # dispersed needs no stroma
        {"share_tiles_hot": np.nan, "density_cd8_stromal": 500.0},
    ]
    assert _decide("patterns4", rows) == [
        "structured", "dispersed", "dispersed", "desert", "excluded", "indeterminate", "dispersed", "indeterminate",
    ]  # fmt: skip


def test_intratumoral_stromal_share_cut():
    third = 1.0 / 3.0
    rows = [
        {"share_tiles_inflamed": third, "share_tiles_excluded": 0.0},  # at the share: not above -> ignored
        {"share_tiles_inflamed": third + EPS, "share_tiles_excluded": 0.0},
        {"share_tiles_inflamed": 0.0, "share_tiles_excluded": third},
        {"share_tiles_inflamed": 0.0, "share_tiles_excluded": third + EPS},
        {"share_tiles_inflamed": np.nan, "share_tiles_excluded": 0.9},
    ]
    assert _decide("intratumoral_stromal", rows) == ["ignored", "inflamed", "ignored", "excluded", "indeterminate"]


def _tiles(epithelial: list[float], stromal: list[float], inside: list[float] | None = None) -> pd.DataFrame:
    """Tiles of 1 mm^2 tissue, 0.5 mm^2 epithelium and 0.25 mm^2 peritumoral stroma with the given densities."""
    n = len(epithelial)
    inside = inside or [0.5] * n
    return pd.DataFrame({"area_tissue": [1.0] * n, "area_inside": inside, "area_peri": [0.25] * n,
                         "n_cd8_inside": np.multiply(epithelial, inside),
                         "n_cd8_peri": np.multiply(stromal, 0.25)})  # fmt: skip


def test_tile_cuts_of_patterns4_and_intratumoral_stromal():
    """A tile is hot / inflamed above 100 CD8/mm^2 in its epithelium, excluded above 200 in its stroma; a tile
    counts when at least 5% of its tissue is tumour."""
    rows = _tiles([100.0, 100.0 + 1e-3, 0.0, 0.0], [0.0, 0.0, 200.0, 200.0 + 1e-3])
    one = np.ones((1, 4))
    inflamed, excluded = intratumoral_stromal.tile_shares(rows, one, np.ones(1), 100.0, 200.0)
    assert (inflamed[0], excluded[0]) == (0.25, 0.25)  # by hand: tile 2 inflamed, tile 4 excluded, of 4
    hot = patterns4.derive(pd.DataFrame(index=[0]), rows=rows, weights=one, factor=np.ones(1),
                           thresholds=RULES["patterns4"].thresholds)["share_tiles_hot"]  # fmt: skip
    assert hot.iloc[0] == 0.25
    edge = _tiles([500.0, 500.0, 0.0], [0.0, 0.0, 0.0], inside=[0.05, 0.05 - 1e-4, 0.5])  # 5% and just below
    share, _ = intratumoral_stromal.tile_shares(edge, np.ones((1, 3)), np.ones(1), 100.0, 200.0)
    assert share[0] == 0.5  # the tile at 5% counts (inflamed), the one just below does not: 1 of 2
    # the measurement factor scales tile densities: x1.01 lifts the tile at exactly 100 above the cut
    lifted, _ = intratumoral_stromal.tile_shares(rows, one, np.array([1.01]), 100.0, 200.0)
    assert lifted[0] == 0.5


# ----------------------------------------------------------------------------------- through tk.tl.classify
@pytest.fixture(scope="module")
def field():
    """One synthetic inflamed field, classified once: its measured metrics are the thresholds below."""
    adata = tk.datasets.synthetic_tissue("inflamed", rng=5, sample_id="f")
    tk.tl.classify(
        adata, rules=["cd8_density", "keren2018"], library_key="sample_id", microns_per_unit=1.0, cell_types=LABELS
    )
    return adata, tk.get.phenotypes(adata).loc["f"]


def _call(field, rules: str, **kwargs: object) -> pd.Series:
    adata = field[0].copy()
    tk.tl.classify(adata, rules=rules, library_key="sample_id", microns_per_unit=1.0, overwrite=True,
                   cell_types={**LABELS, **kwargs.pop("cell_types", {})}, **kwargs)  # fmt: skip
    return tk.get.phenotypes(adata).loc["f"]


def test_classify_reads_overridden_thresholds_at_the_measured_value(field):
    _, row = field
    core, mixing = row["density_cd8_core"], row["mixing_fraction"]
    at = _call(field, "cd8_density", thresholds={"core_cd8_per_mm2": core, "margin_cd8_per_mm2": 1e9})
    below = _call(field, "cd8_density", thresholds={"core_cd8_per_mm2": core * (1 - 1e-9), "margin_cd8_per_mm2": 1e9})
    assert (at["phenotype"], below["phenotype"]) == ("desert", "inflamed")  # core > cut, strictly
    at = _call(field, "keren2018", thresholds={"mixing_threshold": mixing})
    above = _call(field, "keren2018", thresholds={"mixing_threshold": mixing * (1 + 1e-9)})
    assert (at["phenotype"], above["phenotype"]) == ("inflamed", "excluded")  # excluded when mixing < cut


def test_evidence_floors_at_the_measured_value(field):
    _, row = field
    n_tumour, area = int(row["n_tumor"]), row["area_core_mm2"] + row["area_margin_mm2"]
    assert (
        _call(field, "cd8_density", thresholds={"min_tumor_cells": n_tumour})["phenotype"] == "inflamed"
    )  # at the floor: called
    short = _call(field, "cd8_density", thresholds={"min_tumor_cells": n_tumour + 1})
    assert short["phenotype"] == "indeterminate" and f"only {n_tumour} tumour cells" in short["reason"]
    assert _call(field, "cd8_density", thresholds={"min_tumor_area": area})["phenotype"] == "inflamed"
    small = _call(field, "cd8_density", thresholds={"min_tumor_area": area * (1 + 1e-9)})
    assert small["phenotype"] == "indeterminate" and "min_tumor_area" in small["reason"]


def test_spot_floor_at_the_measured_value(synthetic_spot_tissues):
    spots = synthetic_spot_tissues["inflamed", 0].copy()
    tk.tl.classify(spots)
    n = int(tk.get.compartments(spots)["n_tumor_spots"].iloc[0])
    tk.tl.classify(spots, overwrite=True, thresholds={"min_tumor_spots": n})
    assert tk.get.phenotypes(spots)["phenotype"].iloc[0] == "inflamed"
    tk.tl.classify(spots, overwrite=True, thresholds={"min_tumor_spots": n + 1})
    assert tk.get.phenotypes(spots)["phenotype"].iloc[0] == "indeterminate"


# ----------------------------------------------------------------------------------- T-cell states and markers
def test_tcell_state_rule_at_min_score():
    from tmekit.tl._tcell_states import state_rule

    cut = 0.15
    scores = pd.DataFrame(
        [
            [cut, 0.0, cut, 0.0],  # exhausted and stemness exactly on, stemness > terminal: progenitor
            [cut, cut, cut, 0.0],  # stemness not above terminal: terminal
            [cut, 0.3, 0.2, 0.0],  # terminal above stemness: terminal
            [cut - EPS, 0.0, cut, 0.0],  # exhausted just off, stemness on: effector/memory
            [cut - EPS, 0.0, 0.0, cut],  # memory-like on: effector/memory
            [cut - EPS, 0.9, cut - EPS, cut - EPS],  # nothing on (terminal alone is not a state): other
            [cut, 0.0, cut - EPS, 0.0],  # exhausted on, stemness just off: terminal
        ],
        columns=["exhausted", "terminal", "stemness", "memory"],
    )
    assert list(state_rule(scores, cut)) == [
        "progenitor_exhausted", "terminal_exhausted", "terminal_exhausted", "effector_memory", "effector_memory",
        "other", "terminal_exhausted",
    ]  # fmt: skip


def test_tcell_states_follow_the_rule_on_real_cells(read_shared):
    """Sade-Feldman's CD8 T cells: every stored state is the rule applied by hand to the stored scores."""
    adata = read_shared("sade_feldman_melanoma/sade_feldman_tcells550.h5ad")
    adata.obs["cd8"] = adata.obs["cell_type_paper"].astype(str).str.contains("Cd8|Exhausted|Cytotoxicity")
    adata.obs["types"] = np.where(adata.obs["cd8"], "CD8 T", "other")
    tk.tl.tcell_states(adata, library_key="patient_id", cell_types={"key": "types", "cd8": ["CD8 T"]})
    scores = adata.obsm["tmekit_tcell_state_scores"][adata.obs["cd8"].to_numpy()]
    on = scores >= 0.15
    progenitor = on["exhausted"] & on["stemness"] & (scores["stemness"] > scores["terminal"])
    by_hand = np.where(progenitor, "progenitor_exhausted",
                       np.where(on["exhausted"], "terminal_exhausted",
                                np.where(on["stemness"] | on["memory"], "effector_memory", "other")))  # fmt: skip
    stored = adata.obs.loc[adata.obs["cd8"], "tmekit_tcell_state"].astype(str).to_numpy()
    assert (stored == by_hand).all()
    assert {"progenitor_exhausted", "terminal_exhausted", "effector_memory"} <= set(stored)  # the rule is exercised


def test_min_cd8_cells_at_the_count(wu_counts):
    wu_counts.obs["types"] = np.where(wu_counts.obs["cell_type_minor"] == "T cells CD8+", "CD8 T", "other")
    n = int((wu_counts.obs["types"] == "CD8 T").sum())
    tk.tl.tcell_states(wu_counts, min_cd8_cells=n, cell_types={"key": "types", "cd8": ["CD8 T"]})
    assert wu_counts.uns["tmekit_tcell_state"]["table"]["status"].iloc[0] == "ok"
    tk.tl.tcell_states(wu_counts, min_cd8_cells=n + 1, overwrite=True, cell_types={"key": "types", "cd8": ["CD8 T"]})
    assert wu_counts.uns["tmekit_tcell_state"]["table"]["status"].iloc[0] == "indeterminate"


def test_protein_states_by_hand():
    import anndata as ad

    rows = {  # PD-1, TIM-3, TCF1, CD39 intensities; threshold 1.0 for each (positive strictly above)
        "progenitor": [2, 0, 2, 0], "terminal": [2, 2, 0, 0], "terminal_by_cd39": [2, 0, 2, 2],
        "memory": [0, 0, 2, 0], "at_cut_pd1": [1.0, 0, 2, 0], "other": [0, 0, 0, 0],
    }  # fmt: skip
    values = np.array(list(rows.values()), dtype=np.float64) + 1e-3  # continuous intensities (at_cut: PD-1 1.001)
    cells = ad.AnnData(values, obs=pd.DataFrame({"type": "CD8"}, index=list(rows)))
    cells.var_names = ["PD1", "TIM3", "TCF1", "CD39"]
    tk.tl.tcell_states(
        cells,
        min_cd8_cells=1,
        markers={"PD-1": "PD1", "TIM-3": "TIM3", "TCF1": "TCF1", "CD39": "CD39"},
        marker_thresholds={"PD-1": 1.001, "TIM-3": 1.0, "TCF1": 1.0, "CD39": 1.0},
        cell_types={"key": "type", "cd8": ["CD8"]},
    )
    assert cells.obs["tmekit_tcell_state"].astype(str).tolist() == [
        "progenitor_exhausted", "terminal_exhausted", "terminal_exhausted", "effector_memory", "effector_memory",
        "other",
    ]  # fmt: skip  # PD-1 at exactly its cut (1.001) is negative: with TCF1+ that is effector/memory


def test_marker_positivity_cuts():
    import anndata as ad

    from tmekit._markers import marker_status

    cells = ad.AnnData(np.array([[0, 1.0], [1, 2.0], [2, 2.5], [3, 3.0]], dtype=np.float32))
    cells.var_names = ["CD274", "PD-L1"]
    assert marker_status(cells, "CD274").tolist() == [0, 1, 1, 1]  # transcript counts: >= 1
    assert marker_status(cells, "CD274", threshold=2).tolist() == [0, 0, 1, 1]  # at the count: positive
    assert marker_status(cells, "PD-L1", threshold=2.5).tolist() == [0, 0, 0, 1]  # intensities: strictly above
    binary = ad.AnnData(np.array([[0.0], [1.0]], dtype=np.float32))
    binary.var_names = ["PD-L1"]
    assert marker_status(binary, "PD-L1").tolist() == [0, 1]


def test_pseudobulk_floors_at_the_count(wu_counts):
    wu_counts.obs["tumour"] = np.where(np.arange(wu_counts.n_obs) < 400, "part", "rest")
    counts = float(wu_counts.X[:400].sum())
    assert counts > 100_000  # above the default count floor, so the cell floor decides
    tk.tl.classify_expression(wu_counts, library_key="tumour", min_cells=400)
    assert tk.get.phenotypes(wu_counts).loc["part", "phenotype"] != "indeterminate"
    tk.tl.classify_expression(wu_counts, library_key="tumour", min_cells=401, overwrite=True)
    row = tk.get.phenotypes(wu_counts).loc["part"]
    assert row["phenotype"] == "indeterminate" and "pseudobulk of 400 cells (< min_cells=401)" in row["reason"]
    tk.tl.classify_expression(wu_counts, library_key="tumour", min_cells=1, min_counts=counts, overwrite=True)
    assert tk.get.phenotypes(wu_counts).loc["part", "phenotype"] != "indeterminate"
    tk.tl.classify_expression(wu_counts, library_key="tumour", min_cells=1, min_counts=counts + 1,
                   overwrite=True)  # fmt: skip
    assert tk.get.phenotypes(wu_counts).loc["part", "phenotype"] == "indeterminate"
