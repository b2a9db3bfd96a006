"""The frameworks of the reviews as rule sets: each class known by construction on synthetic tissues, lower
confidence near a threshold, several frameworks in one call, and clear errors for missing inputs."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()
T_LABELS = ["CD8T", "CD4T"]  # every T cell of the synthetic tissues is CD8 or CD4: the CD3+ set


def _calls(adata, rules, **kwargs) -> pd.DataFrame:
    tk.tl.classify(
        adata,
        rules=rules,
        library_key="sample_id",
        microns_per_unit=1.0,
        cell_types={**LABELS, **kwargs.pop("cell_types", {})},
        **kwargs,
    )
    return tk.get.phenotypes(adata)


@pytest.mark.parametrize(
    ("phenotype", "expected"),
    [("inflamed", "structured"), ("dispersed", "dispersed"), ("excluded", "excluded"), ("desert", "desert")],
)
def test_patterns4_gives_each_pattern_by_construction(phenotype, expected):
    """Dispersed: dense CD8 patches over a fifth of the tumour; its mean core density alone reads inflamed."""
    adata = tk.datasets.synthetic_tissue(phenotype, size_um=2000, rng=1)
    table = _calls(adata, ["patterns4", "cd8_density"])
    assert table["phenotype_patterns4"].iloc[0] == expected
    assert table["confidence_patterns4"].iloc[0] >= 0.8
    if phenotype == "dispersed":
        assert 0.2 <= table["share_tiles_hot"].iloc[0] < 0.5
        assert table["phenotype_cd8_density"].iloc[0] == "inflamed"
    assert list(adata.obs["tmekit_phenotype_patterns4"].cat.categories) == [
        "structured", "dispersed", "excluded", "desert", "indeterminate",
    ]  # fmt: skip


@pytest.mark.parametrize(("phenotype", "expected"), [("inflamed", "inflamed"), ("excluded", "excluded"),
                                                     ("desert", "ignored")])  # fmt: skip
def test_intratumoral_stromal_on_many_irregular_nests(phenotype, expected):
    """Twelve lobed nests in 4 mm: tile by tile, epithelium vs the stroma around each nest."""
    adata = tk.datasets.synthetic_tissue(phenotype, size_um=4000, n_nests=12, nest_shape="irregular", rng=0)
    table = _calls(adata, "intratumoral_stromal")
    assert table["phenotype"].iloc[0] == expected
    assert table["confidence"].iloc[0] >= 0.9
    row = table.iloc[0]
    if expected == "excluded":
        assert row["density_cd8_stromal"] > 10 * row["density_cd8_intratumoral"]
        assert row["share_tiles_excluded"] > 0.8


@pytest.mark.parametrize(
    ("phenotype", "pdl1", "expected", "alias"),
    [
        ("inflamed", (0.3, 0.1), "PD-L1+/TIL+", "T2: adaptive immune resistance"),
        ("inflamed", (0.0, 0.0), "PD-L1-/TIL+", "T3: tolerance"),
        ("desert", (0.3, 0.1), "PD-L1+/TIL-", "T4: intrinsic induction"),
        ("desert", (0.0, 0.0), "PD-L1-/TIL-", "T1: immunological ignorance"),
    ],
)
def test_til_pdl1_types_by_construction(phenotype, pdl1, expected, alias):
    adata = tk.datasets.synthetic_tissue(phenotype, rng=0, pdl1=pdl1)
    table = _calls(adata, ["til_pdl1", "til_pdl1_cps"], cell_types={"pdl1": "pdl1"})
    row = table.iloc[0]
    assert (row["phenotype"], row["alias"], row["phenotype_til_pdl1_cps"]) == (expected, alias, expected)
    assert row["confidence"] >= 0.95


def test_tps_and_cps_are_the_counts_by_hand():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=3, pdl1=(0.4, 0.5))
    row = _calls(adata, "til_pdl1", cell_types={"pdl1": "pdl1"}).iloc[0]
    obs = adata.obs
    tumour = obs["cell_type"] == "Tumour"
    immune = obs["cell_type"].isin(LABELS["immune"])
    assert row["tps"] == pytest.approx(100 * obs.loc[tumour, "pdl1"].mean())
    cps = 100 * (obs.loc[tumour, "pdl1"].sum() + obs.loc[immune, "pdl1"].sum()) / tumour.sum()
    assert row["cps"] == pytest.approx(min(cps, 100.0))
    assert (row["tps_band"], row["cps_band"]) == ("1-49%", ">=10")  # the 22C3 bands: TPS ~40%, CPS > 10


def test_til_pdl1_is_less_sure_near_the_tps_cut():
    """A TPS of ~1% (the 22C3 cut) on 5,000 tumour cells: the call is a coin toss, and says so."""
    near = tk.datasets.synthetic_tissue("inflamed", size_um=2000, rng=7, pdl1=(0.01, 0.0))
    far = tk.datasets.synthetic_tissue("inflamed", size_um=2000, rng=4, pdl1=(0.2, 0.0))
    near_row = _calls(near, "til_pdl1", cell_types={"pdl1": "pdl1"}).iloc[0]
    far_row = _calls(far, "til_pdl1", cell_types={"pdl1": "pdl1"}).iloc[0]
    assert abs(near_row["tps"] - 1.0) < 0.1  # within 10% of the cut
    assert near_row["confidence"] <= 0.7
    assert far_row["confidence"] == 1.0


def test_unknown_pdl1_status_is_not_negative():
    """<NA> on every tumour cell (the melanoma mIF file): indeterminate with the reason, never PD-L1-."""
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0, pdl1=(0.3, 0.0))
    status = adata.obs["pdl1"].astype("boolean")
    status[adata.obs["cell_type"] == "Tumour"] = pd.NA
    adata.obs["pdl1_partly_known"] = status
    row = _calls(adata, "til_pdl1", cell_types={"pdl1": "pdl1_partly_known"}).iloc[0]
    assert row["phenotype"] == "indeterminate"
    assert "no tumour cell with a known PD-L1 status" in row["reason"]


def _reference(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(values)


def test_immunoscore_against_a_reference_by_construction():
    """Against reference densities spread over 0-50 /mm^2 the inflamed field ranks above every reference tumour
    (high, I4) and the desert field near the bottom (low, I0)."""
    ref = _reference({k: np.linspace(0, 50, 40) + 1.0 for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    hot = tk.datasets.synthetic_tissue("inflamed", rng=0, sample_id="hot")
    row = _calls(hot, "immunoscore", immunoscore_reference=ref, cell_types={"t": T_LABELS}).iloc[0]
    assert (row["phenotype"], row["immunoscore_i"], row["immunoscore_mean_percentile"]) == ("high", 4, 100.0)
    ref_high = _reference({k: np.linspace(100, 5000, 40) for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    cold = tk.datasets.synthetic_tissue("desert", rng=0, sample_id="cold")
    row = _calls(cold, "immunoscore", immunoscore_reference=ref_high, cell_types={"t": T_LABELS}).iloc[0]
    assert (row["phenotype"], row["immunoscore_i"], row["immunoscore_mean_percentile"]) == ("low", 0, 0.0)


def test_immunoscore_percentiles_by_hand_and_intermediate():
    """A reference centred on the field's own densities puts it at the middle: intermediate, percentiles as
    scipy's percentileofscore(kind='mean') gives them."""
    adata = tk.datasets.synthetic_tissue("inflamed", rng=2, sample_id="mid")
    probe = _calls(adata.copy(), "cd8_density", cell_types={"t": T_LABELS}).iloc[0]
    own = {"CD3_CT": probe["density_t_core"], "CD3_IM": probe["density_t_margin"],
           "CD8_CT": probe["density_cd8_core"], "CD8_IM": probe["density_cd8_margin"]}  # fmt: skip
    ref = _reference({k: v * np.linspace(0.4, 1.6, 25) for k, v in own.items()})
    row = _calls(adata, "immunoscore", immunoscore_reference=ref, cell_types={"t": T_LABELS}).iloc[0]
    for name, value in own.items():
        assert row[f"percentile_{name}"] == pytest.approx(percentileofscore(ref[name], value, kind="mean"))
    assert row["phenotype"] == "intermediate"
    assert row["confidence"] < 0.9  # at the middle of the reference, a 25% measurement error moves it


def test_immunoscore_cohort_relative_ranks_within_the_object():
    """Ten fields (the fewest cohort_relative ranks among): each density's percentile is its rank among the ten,
    ties counted half, worked out here with scipy; nine would be no cohort (tests/test_bad_inputs_frameworks.py)."""
    names = ("inflamed", "excluded", "desert", "near_inflamed", "near_excluded")
    tissues = [tk.datasets.synthetic_tissue(p, rng=k, sample_id=f"{p}_{k}", size_um=500)
               for k in range(2) for p in names]  # fmt: skip
    adata = ad.concat(tissues, merge="first")
    table = _calls(adata, "immunoscore", cohort_relative=True, cell_types={"t": T_LABELS})
    assert len(table) == 10 and (table["phenotype"] != "indeterminate").all()
    cd8_core = table["density_cd8_core"]
    for sample in table.index:
        expected = percentileofscore(cd8_core, cd8_core[sample], kind="mean")
        assert table.loc[sample, "percentile_CD8_CT"] == pytest.approx(expected)
    densest = cd8_core.idxmax()
    assert table.loc[densest, "percentile_CD8_CT"] == pytest.approx(100 * 9.5 / 10)  # above nine, itself half
    assert table.loc["desert_0", "phenotype"] == "low"
    assert tk.get.phenotype_params(adata)["cohort_relative"]


def test_a_fixed_reference_makes_each_sample_independent_of_the_others():
    ref = _reference({k: np.linspace(0, 800, 30) for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    alone = tk.datasets.synthetic_tissue("near_inflamed", rng=5, sample_id="a")
    others = [tk.datasets.synthetic_tissue(p, rng=6, sample_id=p) for p in ("inflamed", "desert")]
    both = ad.concat([alone.copy(), *others], merge="first")
    rules = ["immunoscore", "patterns4", "intratumoral_stromal"]
    a = _calls(alone, rules, immunoscore_reference=ref, cell_types={"t": T_LABELS}).loc["a"]
    b = _calls(both, rules, immunoscore_reference=ref, cell_types={"t": T_LABELS}).loc["a"]
    for rule in rules:
        assert (a[f"phenotype_{rule}"], a[f"confidence_{rule}"]) == (b[f"phenotype_{rule}"], b[f"confidence_{rule}"])


def test_several_frameworks_in_one_call_one_column_each():
    adata = tk.datasets.synthetic_tissue("excluded", rng=0, pdl1=(0.5, 0.1))
    rules = ["cd8_density", "patterns4", "til_pdl1"]
    table = _calls(adata, rules, cell_types={"pdl1": "pdl1"})
    assert table["rules"].iloc[0] == "cd8_density,patterns4,til_pdl1"
    assert table["phenotype"].iloc[0] == table["phenotype_cd8_density"].iloc[0] == "excluded"
    assert table["phenotype_til_pdl1"].iloc[0] == "PD-L1+/TIL-"
    for rule in rules:
        assert f"tmekit_phenotype_{rule}" in adata.obs
    one = tk.get.phenotypes(adata, rules="til_pdl1")
    assert (one["phenotype"].iloc[0], one["rules"].iloc[0]) == ("PD-L1+/TIL-", "til_pdl1")
    assert list(one["phenotype"].cat.categories)[-1] == "indeterminate"
    with pytest.raises(KeyError, match="not applied"):
        tk.get.phenotypes(adata, rules="immunoscore")
    frameworks = tk.get.phenotype_params(adata)["frameworks"]
    assert set(frameworks) == set(rules) and "Teng" in frameworks["til_pdl1"]["source"]


def test_missing_inputs_get_clear_errors():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0, pdl1=(0.3, 0.0))
    before = adata.copy()
    with pytest.raises(ValueError, match=r"'til_pdl1' needs the `pdl1` status"):
        _calls(adata, "til_pdl1")
    with pytest.raises(KeyError, match="neither an `obs` column nor a var name"):
        _calls(adata, "til_pdl1", cell_types={"pdl1": "PD-L1"})
    adata.obs["pdl1_intensity"] = np.where(adata.obs["pdl1"], 3.7, 0.2) + 0.01 * np.arange(adata.n_obs) % 1
    with pytest.raises(ValueError, match=r"continuous values.*pdl1_threshold"):
        _calls(adata, "til_pdl1", cell_types={"pdl1": "pdl1_intensity"})
    with pytest.raises(ValueError, match=r"'immunoscore' needs the `t` labels"):
        _calls(adata, "immunoscore", cohort_relative=True)
    ref = _reference({k: np.arange(20.0) for k in ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")})
    with pytest.raises(ValueError, match="not both"):
        _calls(adata, "immunoscore", cohort_relative=True, immunoscore_reference=ref, cell_types={"t": T_LABELS})
    with pytest.raises(ValueError, match=r"lacks columns \['CD3_IM'"):
        _calls(adata, "immunoscore", immunoscore_reference=pd.DataFrame({"CD3_CT": [1.0]}), cell_types={"t": T_LABELS})
    adata.obs = adata.obs.drop(columns="pdl1_intensity")
    assert set(adata.obs.columns) == set(before.obs.columns) and not set(adata.uns) - set(before.uns)


def test_intensity_with_a_threshold_and_no_tumour_cells():
    adata = tk.datasets.synthetic_tissue("inflamed", rng=0, pdl1=(0.3, 0.0))
    adata.obs["pdl1_intensity"] = np.where(adata.obs["pdl1"], 3.7, 0.2) + 0.001 * (np.arange(adata.n_obs) % 7)
    by_intensity = _calls(adata.copy(), "til_pdl1", cell_types={"pdl1": "pdl1_intensity", "pdl1_threshold": 1.0}).iloc[
        0
    ]
    by_flag = _calls(adata, "til_pdl1", cell_types={"pdl1": "pdl1"}).iloc[0]
    assert by_intensity["tps"] == by_flag["tps"] and by_intensity["phenotype"] == "PD-L1+/TIL+"
    no_tumour = tk.datasets.synthetic_tissue("inflamed", rng=0)
    no_tumour = no_tumour[no_tumour.obs["cell_type"] != "Tumour"].copy()
    with pytest.warns(tk.InputWarning, match="No tumor cells"):
        row = _calls(no_tumour, ["patterns4", "intratumoral_stromal"]).iloc[0]
    assert row["phenotype_patterns4"] == row["phenotype_intratumoral_stromal"] == "indeterminate"
    assert "only 0 tumour cells" in row["reason_patterns4"]


@pytest.mark.parametrize("seed", [0, 1])
def test_tile_frameworks_are_less_sure_at_the_tile_cut(seed):
    """Intratumoural CD8 at 100/mm^2, the hot / inflamed tile cut: tiles fall either side by chance and by the
    measurement factor, so neither tile framework may be sure (far from it, both are at 1.0: tests above)."""
    adata = tk.datasets.synthetic_tissue("inflamed", size_um=2000, rng=seed, densities={"cd8": (100, 150, 80)})
    row = _calls(adata, ["patterns4", "intratumoral_stromal"]).iloc[0]
    assert row["confidence_patterns4"] <= 0.6  # measured 0.43 and 0.49
    assert row["confidence_intratumoral_stromal"] < 0.9  # measured 0.81 and 0.68
