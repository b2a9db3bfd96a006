"""`til_pdl1_ic` on the real melanoma mIF file (../shared/data; skips with the reason when absent) (#29 acceptance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

import tmekit as tk
from tmekit._pdl1 import IC_CATEGORIES, PDL1_FIGURES

if TYPE_CHECKING:
    import pandas as pd

UM_PER_UNIT = 2.0  # a Vectra 20x field is 669 x 500 um; the file's ~335 x 250 image units


@pytest.fixture(scope="module")
def melanoma(read_shared):
    adata = read_shared("melanoma_ici_mif/melanoma_ici_mif.h5ad")
    adata.obsm["spatial"] = adata.obs[["x", "y"]].to_numpy()
    return adata


def _classify(adata, pdl1) -> pd.DataFrame:
    types = list(adata.obs["cell_type"].cat.categories)
    adata = adata.copy()
    # as notebook 04 reads the file: every SOX10- cell is immune (the panel types no other lineage)
    tk.pp.cell_types(adata, key="cell_type", tumor=["SOX10+"], immune=[t for t in types if t != "SOX10+"],
                     cd8=[t for t in types if t.startswith("CD8+")], pdl1=pdl1)  # fmt: skip
    tk.tl.classify(adata, rules=["til_pdl1_ic", "til_pdl1"], library_key="image_id", microns_per_unit=UM_PER_UNIT,
                   n_boot=50, rng=0)  # fmt: skip
    return tk.get.evidence(adata).join(
        tk.get.phenotypes(adata)[
            ["phenotype_til_pdl1_ic", "phenotype_til_pdl1", "reason_til_pdl1_ic", "reason_til_pdl1"]
        ]
    )


def test_melanoma_til_pdl1_ic_calls_at_least_90_percent(melanoma):
    types = list(melanoma.obs["cell_type"].cat.categories)
    table = _classify(melanoma, [t for t in types if t.endswith("PDL1+")])  # PD-L1 through the labels
    assert len(table) == 135
    called = table["phenotype_til_pdl1_ic"] != "indeterminate"
    assert called.mean() >= 0.9
    assert table.loc[~called, "reason_til_pdl1_ic"].str.contains("min_tumor_area|min_tumor_cells").all()
    assert set(table.loc[called, "ic_category"]) <= set(IC_CATEGORIES)
    assert set(PDL1_FIGURES) <= set(table.columns)
    # PD-L1 is typed on immune cells only: TPS is not measured (NaN, with the reason), never 0
    assert table["tps"].isna().all() and table["cps"].isna().all()
    assert (table["phenotype_til_pdl1"] == "indeterminate").all()
    assert (
        table["pdl1_not_measured"].str.startswith("tps, cps, pdl1_share_tumour: PD-L1 given as cell-type labels").all()
    )
    # by hand: PD-L1+ iff IC >= 1%, TIL+ iff CD8 inside the tumour > 100/mm^2
    row = table[called]
    expected = [f"PD-L1{'+' if ic >= 1 else '-'}/TIL{'+' if d > 100 else '-'}"
                for ic, d in zip(row["ic_percent"], row["density_cd8_intratumoral"], strict=True)]  # fmt: skip
    assert row["phenotype_til_pdl1_ic"].tolist() == expected
    # the same status as the file's pdl1_pos column (<NA> on SOX10+ cells): the same figures
    column = _classify(melanoma, "pdl1_pos")
    for name in ("ic_percent", "pdl1_share_immune", "density_cd8_intratumoral"):
        np.testing.assert_allclose(column[name], table[name], equal_nan=True)
    assert (column["phenotype_til_pdl1_ic"] == table["phenotype_til_pdl1_ic"]).all()
