"""`tk.pp.cell_types`: roles declared once, read by every function, one override per call (issue 28 item 3)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tmekit as tk
from tmekit._warnings import InputWarning

ROLES = {"key": "cell_type", "tumor": ["Tumour"], "immune": ["CD8T", "CD4T", "Macrophage"], "cd8": ["CD8T"]}


def _undeclared(phenotype: str = "inflamed", rng: int = 0) -> ad.AnnData:
    adata = tk.datasets.synthetic_tissue(phenotype, rng=rng)
    del adata.uns["tmekit_cell_types"]
    return adata


def test_declaration_is_stored_as_given_and_read_by_classify():
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES, t=["CD8T", "CD4T"])
    assert dict(adata.uns["tmekit_cell_types"]) == {**ROLES, "t": ["CD8T", "CD4T"]}
    tk.tl.classify(adata, microns_per_unit=1.0)  # no label anywhere in the call
    declared = tk.get.phenotypes(adata)
    # the same call with the roles given to the call itself: the same table, and the known answer by construction
    other = _undeclared()
    tk.tl.classify(other, microns_per_unit=1.0, cell_types={**ROLES, "t": ["CD8T", "CD4T"]})
    pd.testing.assert_frame_equal(declared, tk.get.phenotypes(other))
    assert declared["phenotype"].tolist() == ["inflamed"]
    params = tk.get.phenotype_params(adata)
    assert params["cell_type_key"] == "cell_type" and list(params["cd8_labels"]) == ["CD8T"]


def test_every_role_reader_reads_the_declaration():
    adata = _undeclared("excluded")
    tk.pp.cell_types(adata, **ROLES)
    tk.sp.compartments(adata)
    tiles = tk.sp.tile_table(adata)
    metrics = tk.sp.infiltration(adata, tiles=tiles)
    by_hand = adata.obs["cell_type"].eq("CD8T").sum()
    assert tiles["n_cd8"].sum() == by_hand == metrics["n_cd8"].sum()
    assert tiles["n_tumor"].sum() == adata.obs["cell_type"].eq("Tumour").sum()
    assert tiles["n_immune"].sum() == adata.obs["cell_type"].isin(ROLES["immune"]).sum()


def test_override_wins_for_one_call_and_leaves_the_declaration():
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES)
    tk.sp.compartments(adata)
    only_cd4 = tk.sp.tile_table(adata, cell_types={"cd8": ["CD4T"]})
    assert only_cd4["n_cd8"].sum() == adata.obs["cell_type"].eq("CD4T").sum()
    assert dict(adata.uns["tmekit_cell_types"]) == ROLES  # unchanged
    assert tk.sp.tile_table(adata)["n_cd8"].sum() == adata.obs["cell_type"].eq("CD8T").sum()


def test_override_with_another_column_drops_the_stored_labels():
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES)
    adata.obs["coarse"] = adata.obs["cell_type"].astype(str)
    tk.sp.compartments(adata)
    with pytest.raises(ValueError, match=r"needs the cell types' roles 'tumor'.*tk\.pp\.cell_types"):
        tk.sp.tile_table(adata, cell_types={"key": "coarse"})
    tiles = tk.sp.tile_table(adata, cell_types={**ROLES, "key": "coarse"})
    assert tiles["n_cd8"].sum() == adata.obs["cell_type"].eq("CD8T").sum()


def test_nothing_declared_says_how_to_declare():
    adata = _undeclared()
    before = adata.obs.copy()
    with pytest.raises(ValueError, match=r"declares none\. Declare them once: `tk\.pp\.cell_types\(adata, key="):
        tk.tl.classify(adata, microns_per_unit=1.0)
    pd.testing.assert_frame_equal(adata.obs, before)  # a failed call leaves the object as it was
    assert "tmekit_compartment" not in adata.uns
    with pytest.raises(ValueError, match=r"'key' \(the obs column of cell types\), 'cd8'"):
        tk.tl.tcell_states(adata)


def test_declaring_again_the_same_is_a_no_op_and_a_change_needs_overwrite():
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES)
    tk.pp.cell_types(adata, **ROLES)  # a notebook cell run twice
    with pytest.raises(ValueError, match=r"already declares .*Pass `overwrite=True`"):
        tk.pp.cell_types(adata, **{**ROLES, "cd8": ["CD4T"]})
    assert list(adata.uns["tmekit_cell_types"]["cd8"]) == ["CD8T"]
    tk.pp.cell_types(adata, **{**ROLES, "cd8": ["CD4T"], "immune": ["CD4T"]}, overwrite=True)
    assert list(adata.uns["tmekit_cell_types"]["cd8"]) == ["CD4T"]
    copied = tk.pp.cell_types(_undeclared(), **ROLES, copy=True)
    assert dict(copied.uns["tmekit_cell_types"]) == ROLES


@pytest.mark.parametrize(
    ("roles", "error", "match"),
    [
        ({**ROLES, "key": "celltype"}, KeyError, r"`adata\.obs\['celltype'\]` not found.*Did you mean 'cell_type'"),
        ({**ROLES, "tumor": ["Tumor"]}, ValueError, r"'Tumor' -> 'Tumour'"),
        ({**ROLES, "immune": ["CD8T", "Tumour"]}, ValueError, r"\['Tumour'\] are both `tumor` and `immune` labels"),
        ({**ROLES, "immune": ["CD4T"]}, ValueError, r"\['CD8T'\] are `cd8` labels but not `immune` labels"),
        ({"key": "cell_type"}, ValueError, r"Declare at least one role"),
        ({**ROLES, "pdl1": "no_such_column"}, KeyError, r"no_such_column"),
    ],
)
def test_bad_declarations_are_refused_and_nothing_is_written(roles, error, match):
    adata = _undeclared()
    with pytest.raises(error, match=match):
        tk.pp.cell_types(adata, **roles)
    assert "tmekit_cell_types" not in adata.uns


def test_unknown_override_keys_name_the_known_ones():
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES)
    tk.sp.compartments(adata)
    with pytest.raises(ValueError, match=r"unknown keys \['tumour'\] \(did you mean 'tumour' -> 'tumor'\?\)"):
        tk.sp.tile_table(adata, cell_types={"tumour": ["Tumour"]})
    with pytest.raises(TypeError, match="`cell_types` must be a mapping"):
        tk.sp.tile_table(adata, cell_types=["Tumour"])


def test_an_absent_label_warns_and_counts_zero():
    adata = _undeclared()
    with pytest.warns(InputWarning, match=r"No cd8 cells: cd8 labels \['NK'\] do not occur"):
        tk.pp.cell_types(adata, **{**ROLES, "cd8": ["NK"], "immune": ["NK", "CD4T"]})


def test_pdl1_intensities_need_their_cut_at_declaration():
    adata = _undeclared()
    adata.obs["pdl1_intensity"] = np.linspace(0.5, 7.5, adata.n_obs)
    with pytest.raises(ValueError, match=r"a positivity cut cannot be assumed.*Pass the cut with `pdl1_threshold=`,"):
        tk.pp.cell_types(adata, **ROLES, pdl1="pdl1_intensity")
    tk.pp.cell_types(adata, **ROLES, pdl1="pdl1_intensity", pdl1_threshold=4.0)
    assert adata.uns["tmekit_cell_types"]["pdl1_threshold"] == 4.0
    tk.tl.classify(adata, rules="til_pdl1", microns_per_unit=1.0)
    row = tk.get.phenotypes(adata).iloc[0]
    tumour = adata.obs["cell_type"].eq("Tumour").to_numpy()
    by_hand = 100 * (adata.obs["pdl1_intensity"].to_numpy()[tumour] >= 4.0).mean()  # positive at the cut
    assert row["tps"] == pytest.approx(by_hand)


def test_the_declaration_survives_h5ad_and_the_cli_reads_it(tmp_path, cli):
    adata = _undeclared()
    tk.pp.cell_types(adata, **ROLES)
    adata.write_h5ad(tmp_path / "field.h5ad")
    back = tk.io.read_h5ad(tmp_path / "field.h5ad")
    tk.tl.classify(back, microns_per_unit=1.0)
    assert tk.get.phenotypes(back)["phenotype"].tolist() == ["inflamed"]
    done = cli("classify", "field.h5ad", "--mode", "spatial", "-o", "calls.csv", "--microns-per-unit", "1",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "calls.csv")["phenotype"].tolist() == ["inflamed"]
    bare = _undeclared()
    bare.write_h5ad(tmp_path / "bare.h5ad")
    refused = cli("classify", "bare.h5ad", "--mode", "spatial", "-o", "none.csv", cwd=tmp_path)
    assert refused.returncode == 2
    assert "--cell-type-key, --tumor-labels" in refused.stderr and "--annotate" in refused.stderr
    assert "tk.pp.cell_types" not in refused.stderr  # said in command-line terms


def test_annotate_never_replaces_a_declaration_of_your_own_column():
    adata = tk.datasets.keren2018_mibi()
    cells = ad.AnnData(
        np.zeros((adata.n_obs, 3), dtype=np.float32), obs=adata.obs.copy(),
        var=pd.DataFrame(index=["CD3", "CD8", "Pan-Keratin"]),
    )  # fmt: skip
    cells.uns["tmekit_cell_types"] = tk.datasets.keren2018_labels()
    cells.X[:, 2] = cells.obs["cell_type"].eq("Tumour").to_numpy() * 10.0
    tk.tl.annotate(cells, modality="protein")
    assert dict(cells.uns["tmekit_cell_types"]) == tk.datasets.keren2018_labels()
