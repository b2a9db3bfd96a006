"""PD-L1 given through the cell-type labels: `tk.pp.cell_types(..., pdl1=[PD-L1+ labels])` (#29 item 1)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk
from tmekit._pdl1 import pdl1_status
from tmekit._roles import roles

LABELS = ["Tumour", "CD8 PDL1+", "CD8 PDL1-", "Mac PDL1+", "Mac PDL1-"]
IMMUNE = LABELS[1:]


def _cells(*, tumour_pdl1: bool = False) -> ad.AnnData:
    """A 200 x 200 um field on a 10 um lattice: tumour in the middle with immune cells of each label in it."""
    grid = np.arange(5.0, 200.0, 10.0)
    xy = np.array([(x, y) for y in grid for x in grid])
    label = np.where((np.abs(xy - 100.0) < 60).all(axis=1), "Tumour", "Stroma").astype(object)
    inner = np.flatnonzero((np.abs(xy - 100.0) < 40).all(axis=1))[::4]
    label[inner] = np.resize(IMMUNE, len(inner))
    if tumour_pdl1:
        label[np.flatnonzero(label == "Tumour")[::10]] = "Tumour PDL1+"
    obs = pd.DataFrame({"cell_type": pd.Categorical(label)}, index=[f"c{i}" for i in range(len(xy))])
    return ad.AnnData(obs=obs, obsm={"spatial": xy})


def _declare(adata: ad.AnnData, pdl1: list[str], tumour: tuple[str, ...] = ("Tumour",)) -> None:
    tk.pp.cell_types(adata, key="cell_type", tumor=list(tumour), immune=IMMUNE, cd8=["CD8 PDL1+", "CD8 PDL1-"],
                     pdl1=pdl1)  # fmt: skip


def test_labels_give_the_status_and_unread_roles_are_unknown():
    adata = _cells()
    _declare(adata, ["CD8 PDL1+", "Mac PDL1+"])
    assert list(adata.uns["tmekit_cell_types"]["pdl1"]) == ["CD8 PDL1+", "Mac PDL1+"]
    status = pdl1_status(adata, roles(adata))
    kind = adata.obs["cell_type"].astype(str).to_numpy()
    assert (status[np.isin(kind, ["CD8 PDL1+", "Mac PDL1+"])] == 1).all()
    assert (status[np.isin(kind, ["CD8 PDL1-", "Mac PDL1-"])] == 0).all()
    # no tumour label is PD-L1+: the panel did not read PD-L1 on tumour cells, so their status is unknown, not 0
    assert np.isnan(status[kind == "Tumour"]).all()
    tk.tl.classify(adata, rules=["til_pdl1_ic", "til_pdl1"], microns_per_unit=1.0, n_boot=20, rng=0)
    row = tk.get.phenotypes(adata).iloc[0]
    assert np.isnan(row["tps"]) and row["phenotype_til_pdl1"] == "indeterminate"
    assert (
        row["reason_til_pdl1"]
        == "PD-L1 given as cell-type labels, none of them a tumour label: not read on tumour cells"
    )
    assert row["phenotype_til_pdl1_ic"] != "indeterminate" and row["ic_percent"] > 0
    assert row["pdl1_share_immune"] == pytest.approx(
        np.isin(kind, ["CD8 PDL1+", "Mac PDL1+"]).sum() / np.isin(kind, IMMUNE).sum()
    )
    params = tk.get.phenotype_params(adata)
    assert list(params["pdl1_labels"]) == ["CD8 PDL1+", "Mac PDL1+"] and params["pdl1_key"] == ""


def test_labels_equal_the_same_status_as_a_boolean_column():
    by_label = _cells()
    _declare(by_label, ["CD8 PDL1+", "Mac PDL1+"])
    by_column = _cells()
    kind = by_column.obs["cell_type"].astype(str)
    by_column.obs["pdl1"] = pd.array(kind.str.endswith("PDL1+").to_numpy(), dtype="boolean")
    by_column.obs.loc[kind == "Tumour", "pdl1"] = pd.NA
    _declare(by_column, "pdl1")  # a string is a column name
    for adata in (by_label, by_column):
        tk.tl.classify(adata, rules="til_pdl1_ic", microns_per_unit=1.0, n_boot=20, rng=0)
    a, b = tk.get.evidence(by_label), tk.get.evidence(by_column)
    cols = ["ic_percent", "ic_category", "pdl1_share_immune", "tps", "cps", "density_cd8_intratumoral"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_a_tumour_label_makes_tumour_status_known():
    adata = _cells(tumour_pdl1=True)
    _declare(adata, ["CD8 PDL1+", "Mac PDL1+", "Tumour PDL1+"], tumour=("Tumour", "Tumour PDL1+"))
    tk.tl.classify(adata, rules="til_pdl1", microns_per_unit=1.0, n_boot=20, rng=0)
    row = tk.get.phenotypes(adata).iloc[0]
    kind = adata.obs["cell_type"].astype(str)
    expected = 100 * (kind == "Tumour PDL1+").sum() / kind.isin(["Tumour", "Tumour PDL1+"]).sum()
    assert row["tps"] == pytest.approx(expected)


def test_label_validation():
    adata = _cells()
    with pytest.raises(ValueError, match=r"'CD8 PDL1 \+' -> 'CD8 PDL1\+'"):
        _declare(adata, ["CD8 PDL1 +"])
    with pytest.raises(ValueError, match=r"pdl1=\['NK PDL1\+'\] do not occur"):
        _declare(adata, ["CD8 PDL1+", "NK PDL1+"])
    with pytest.raises(ValueError, match="not to PD-L1\\+ labels"):
        tk.pp.cell_types(adata, key="cell_type", tumor=["Tumour"], pdl1=["CD8 PDL1+"], pdl1_threshold=0.5)
    assert "tmekit_cell_types" not in adata.uns


def test_override_with_another_key_drops_labels_of_the_old_column():
    adata = _cells()
    _declare(adata, ["CD8 PDL1+"])
    adata.obs["other"] = adata.obs["cell_type"]
    assert roles(adata, {"key": "other"}).pdl1 is None
    assert roles(adata, {"pdl1": "pdl1_col"}).pdl1 == "pdl1_col"


def test_labels_survive_h5ad(tmp_path):
    adata = _cells()
    _declare(adata, ["CD8 PDL1+"])
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert roles(back).pdl1_labels == ["CD8 PDL1+"]


def test_labels_given_to_one_call_are_checked_as_a_declaration_is():
    """`cell_types={"pdl1": [...]}` (and so `tmekit classify --pdl1-labels`) is validated like `tk.pp.cell_types`."""
    adata = _cells()
    _declare(adata, ["CD8 PDL1+"])
    before = adata.obs.copy()
    with pytest.raises(ValueError, match=r"'CD8 PDL1x' -> 'CD8 PDL1\+'"):
        tk.tl.classify(adata, rules="til_pdl1_ic", microns_per_unit=1.0, cell_types={"pdl1": ["CD8 PDL1x"]})
    with pytest.raises(ValueError, match=r"pdl1=\['NK PDL1\+'\] do not occur"):
        tk.tl.classify(adata, rules="til_pdl1_ic", microns_per_unit=1.0, cell_types={"pdl1": ["NK PDL1+"]})
    pd.testing.assert_frame_equal(adata.obs, before)  # failed calls leave the object as it was
    assert "tmekit_phenotype" not in adata.uns
