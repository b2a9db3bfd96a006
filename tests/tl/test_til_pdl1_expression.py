"""TIL x PD-L1 types inferred from bulk expression: the shipped IMvigor210 models, checked against the IHC."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest

import tmekit as tk
from tmekit.tl._phenotype.til_pdl1_expression import til_pdl1_models


@pytest.fixture(scope="module")
def imvigor(shared_data):
    folder = shared_data / "imvigor210"
    z = ad.read_h5ad(folder / "imvigor210_all348_zscore.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.classify_expression(z, rules="til_pdl1")
    return z, tk.get.phenotypes(z)


def test_shipped_models_carry_their_fit():
    models = til_pdl1_models()
    assert models["pdl1"].classes == ("PD-L1+", "PD-L1-") and models["pdl1"].features == {"cd274": ("CD274",)}
    assert models["til"].classes == ("TIL+", "TIL-")
    assert models["pdl1"].provenance["cv"]["balanced_accuracy_mean"] > 0.75  # CD274 vs TC1+ IHC, nested CV
    assert models["til"].provenance["cv"]["balanced_accuracy_mean"] > 0.75  # CD8 T effector vs inflamed
    assert models["pdl1"].provenance["agreement_with_ic_level"]["n"] == 347


def test_cd274_call_agrees_with_the_ihc(imvigor):
    z, table = imvigor
    assert table["inferred"].all() and (table["rules"] == "til_pdl1").all()
    # each type is the pair of the two calls, each the more probable of its two classes
    pdl1 = np.where(table["p_pdl1_positive"] > 0.5, "PD-L1+", "PD-L1-")
    til = np.where(table["p_til_positive"] > 0.5, "TIL+", "TIL-")
    assert (table["pdl1_call"].to_numpy() == pdl1).all() and (table["til_call"].to_numpy() == til).all()
    assert (table["phenotype"].astype(str).to_numpy() == np.char.add(np.char.add(pdl1, "/"), til)).all()
    positive = table["pdl1_call"].to_numpy() == "PD-L1+"
    for column, levels, floor in (("tc_level", ["TC1", "TC2+"], 0.75), ("ic_level", ["IC2+"], 0.65)):
        known = z.obs[column].notna().to_numpy()
        truth = z.obs[column].isin(levels).to_numpy()[known]
        call = positive[known]
        balanced = (call[truth].mean() + (~call[~truth]).mean()) / 2
        assert balanced > floor, (column, balanced)  # measured 0.79 (TC, fitted) and 0.70 (IC, never seen)
    row = table.iloc[0]
    assert row["alias"] == tk.tl.RULES["til_pdl1"].aliases[row["phenotype"]]
    assert row["confidence"] == pytest.approx(
        max(row["p_pdl1_positive"], 1 - row["p_pdl1_positive"]) * max(row["p_til_positive"], 1 - row["p_til_positive"])
    )


def test_a_sample_alone_gets_its_cohort_call(imvigor):
    z, table = imvigor
    alone = z[[z.obs_names[11]]].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.classify_expression(alone, rules="til_pdl1", overwrite=True)
    one = tk.get.phenotypes(alone).iloc[0]
    assert (one["phenotype"], one["confidence"]) == (table.iloc[11]["phenotype"], table.iloc[11]["confidence"])


def test_expression_framework_errors():
    bulk = tk.datasets.imvigor210_bulk()  # the bundled 48-gene subset has no CD274
    with pytest.raises(ValueError, match=r"None of the 1 genes.*CD274"):
        tk.tl.classify_expression(bulk, rules="til_pdl1", scale="zscore")
    with pytest.raises(ValueError, match="drop `model=`"):
        tk.tl.classify_expression(bulk, rules="til_pdl1", model=tk.tl.load_phenotype_model())
    with pytest.raises(
        ValueError,
        match=r"not 'patterns4'; spatial rule sets are applied by `tk\.tl\.classify`",
    ):
        tk.tl.classify_expression(bulk, rules="patterns4")
    assert "tmekit_phenotype" not in bulk.uns and "tmekit_phenotype" not in bulk.obs
