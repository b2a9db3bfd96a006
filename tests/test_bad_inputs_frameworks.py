"""Bad inputs to the frameworks that used to get a confident call: PD-L1 scales, Immunoscore cohorts and references,
mouse T cells.

Each case of ``CASES`` has its test here (``test_<case>``; tests/test_bad_inputs.py checks it) and its row in the
documentation's table "What tmekit refuses, and why", generated from ``CASES``.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk

LABELS = tk.datasets.synthetic_labels()
T_LABELS = ["CD8T", "CD4T"]
DENSITIES = ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")

CASES = {
    "pdl1_integer_intensities": (
        "PD-L1 as integer intensities (`uint16`, 20..400) in `til_pdl1`",
        "refused without `pdl1_threshold`: whole numbers are transcript counts only when they are a gene of `X` "
        "(CD274)",
    ),
    "cohort_relative_on_few_tumours": (
        "`immunoscore` with `cohort_relative=True` on fewer than 10 tumours",
        "indeterminate, with the reason and the fix (`immunoscore_reference=`)",
    ),
    "immunoscore_reference_in_other_units": (
        "`immunoscore_reference` with zeros, or densities per um^2 instead of per mm^2",
        "refused: a column with median 0, or densities outside 1-50,000 per mm^2, with the factor that converts them",
    ),
    "mouse_t_cells": (
        "mouse T cells (`Cxcl13`, `Pdcd1`, ... names) in `tcell_states`",
        "read through the orthologs: the same states and CXCL13+ share as the human genes give",
    ),
}


def _calls(adata: ad.AnnData, rules: str | list[str], **kwargs: object) -> pd.DataFrame:
    tk.tl.classify(
        adata,
        rules=rules,
        library_key="sample_id",
        microns_per_unit=1.0,
        cell_types={**LABELS, **kwargs.pop("cell_types", {})},
        **kwargs,
    )
    return tk.get.phenotypes(adata)


def test_pdl1_integer_intensities():
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=3, pdl1=(0.4, 0.2))
    positive = tissue.obs["pdl1"].to_numpy(bool)
    gen = np.random.default_rng(0)
    intensity = np.where(positive, gen.integers(200, 401, tissue.n_obs), gen.integers(20, 151, tissue.n_obs))
    tissue.obs["pdl1_uint16"] = intensity.astype(np.uint16)
    with pytest.raises(ValueError, match=r"whole numbers that are not transcript counts.*`pdl1_threshold=`"):
        _calls(tissue, "til_pdl1", cell_types={"pdl1": "pdl1_uint16"})
    assert "tmekit_phenotype" not in tissue.uns
    row = _calls(tissue, "til_pdl1", cell_types={"pdl1": "pdl1_uint16", "pdl1_threshold": 175}).iloc[0]
    tumour = (tissue.obs["cell_type"] == "Tumour").to_numpy()
    assert row["tps"] == pytest.approx(100 * positive[tumour].mean())  # by hand: the cells stained above 175
    # the same intensities as a protein channel of X ("PD-L1"): intensities too; as a gene (CD274): counts >= 1
    for name, counts in (("PD-L1", False), ("CD274", True)):
        cells = ad.AnnData(intensity.reshape(-1, 1).astype(np.float32), obs=tissue.obs[["cell_type", "sample_id"]])
        cells.var_names = [name]
        cells.obsm["spatial"] = tissue.obsm["spatial"]
        if counts:
            assert (
                _calls(cells, "til_pdl1", cell_types={"pdl1": name}).iloc[0]["tps"] == 100.0
            )  # every cell has >= 1 transcript
        else:
            with pytest.raises(ValueError, match="protein channel"):
                _calls(cells, "til_pdl1", cell_types={"pdl1": name})


def _fields(n: int) -> ad.AnnData:
    phenotypes = ("inflamed", "excluded", "desert", "near_inflamed", "near_excluded")
    fields = [tk.datasets.synthetic_tissue(phenotypes[k % 5], rng=k, sample_id=f"t{k}", size_um=500) for k in range(n)]
    return ad.concat(fields, merge="first")


def test_cohort_relative_on_few_tumours():
    for n in (1, 2, 9):
        table = _calls(_fields(n), "immunoscore", cohort_relative=True, cell_types={"t": T_LABELS})
        assert (table["phenotype"] == "indeterminate").all(), n
        assert (table["confidence"] == 0).all()
        assert table["reason"].str.contains("fewer than 10 have them: pass `immunoscore_reference=`").all()
        assert table["percentile_CD8_CT"].isna().all()
    ten = _calls(_fields(10), "immunoscore", cohort_relative=True, cell_types={"t": T_LABELS})
    assert (ten["phenotype"] != "indeterminate").all()  # at the minimum: called


def test_immunoscore_reference_in_other_units():
    tissue = tk.datasets.synthetic_tissue("inflamed", rng=0, sample_id="s")
    good = {k: np.linspace(20, 1500, 30) for k in DENSITIES}
    row = _calls(
        tissue.copy(), "immunoscore", immunoscore_reference=pd.DataFrame(good), cell_types={"t": T_LABELS}
    ).iloc[0]
    assert row["phenotype"] != "indeterminate"
    zeros = pd.DataFrame({**good, "CD8_CT": np.r_[np.zeros(16), np.linspace(5, 50, 14)]})  # median 0
    with pytest.raises(ValueError, match=r"median of \['CD8_CT'\] is 0"):
        _calls(tissue.copy(), "immunoscore", immunoscore_reference=zeros, cell_types={"t": T_LABELS})
    per_um2 = pd.DataFrame({k: v / 1e6 for k, v in good.items()})
    with pytest.raises(ValueError, match=r"not cells per mm\^2: their median is 0\.000\d+.*1e6 \(per um\^2"):
        _calls(tissue.copy(), "immunoscore", immunoscore_reference=per_um2, cell_types={"t": T_LABELS})
    per_cm2 = pd.DataFrame({k: v * 100 for k, v in good.items()})
    with pytest.raises(ValueError, match=r"0\.01 \(per cm\^2"):
        _calls(tissue.copy(), "immunoscore", immunoscore_reference=per_cm2, cell_types={"t": T_LABELS})


def test_immunoscore_reference_unit_band_at_its_edges():
    """Median 1 per mm^2 and a maximum of 50,000 are possible; just below / above are refused."""
    from tmekit.tl._phenotype.immunoscore import PLAUSIBLE_PER_MM2, read_reference

    assert PLAUSIBLE_PER_MM2 == (1.0, 50_000.0)
    base = np.linspace(0.5, 1.5, 11)  # median exactly 1
    assert len(read_reference(pd.DataFrame(dict.fromkeys(DENSITIES, base)))) == 11
    with pytest.raises(ValueError, match="not cells per mm"):
        read_reference(pd.DataFrame(dict.fromkeys(DENSITIES, base * 0.999)))
    top = np.r_[np.linspace(10, 100, 10), 50_000.0]
    assert len(read_reference(pd.DataFrame(dict.fromkeys(DENSITIES, top)))) == 11
    with pytest.raises(ValueError, match="not cells per mm"):
        read_reference(pd.DataFrame(dict.fromkeys(DENSITIES, np.r_[top[:-1], 50_000.5])))


def test_mouse_t_cells(wu_counts):
    """Wu 2021's CD8 T cells with their genes renamed to the one-to-one mouse orthologs (Cxcl13, Pdcd1, ...)."""
    pairs = tk.signatures.orthologs(tiers=["reference"])
    pairs = pairs[~pairs["human_symbol"].duplicated(keep=False) & ~pairs["mouse_symbol"].duplicated(keep=False)]
    to_mouse = dict(zip(pairs["human_symbol"], pairs["mouse_symbol"], strict=True))
    human = wu_counts[:, [g for g in wu_counts.var_names if g in to_mouse]].copy()
    mouse = human.copy()
    mouse.var_names = [to_mouse[g] for g in human.var_names]
    assert {"Cxcl13", "Pdcd1", "Ccr5"} <= set(mouse.var_names)
    for adata in (human, mouse):
        tk.tl.tcell_states(adata, cell_types={"key": "cell_type_minor", "cd8": ["T cells CD8+"]})
    first, second = human.uns["tmekit_tcell_state"]["table"], mouse.uns["tmekit_tcell_state"]["table"]
    cd8 = (human.obs["cell_type_minor"] == "T cells CD8+").to_numpy()
    by_hand = float((np.asarray(human[cd8, "CXCL13"].X.todense()).ravel() > 0).mean())
    assert first.loc["all", "frac_cxcl13"] == pytest.approx(by_hand) and by_hand > 0.3  # 12 of 35 cells
    pd.testing.assert_frame_equal(first, second)
    assert mouse.uns["tmekit_tcell_state"]["params"]["cxcl13"].startswith("Cxcl13 detected")
