"""`tk.tl.annotate` level by level on hand-built cells (RNA and protein), whose right type is known by construction.

Real data against the authors' labels: tests/tl/test_annotate_real.py.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import tmekit as tk
from tmekit.tl._lineages import nodes

#: Each hand-built cell: the genes it expresses (10 counts each) and the label it must get.
CELLS = {
    "carcinoma": (["EPCAM", "KRT8", "KRT18", "CLDN4", "ELF3", "KRT7"], "Epithelial"),
    "cycling carcinoma": (["EPCAM", "KRT8", "KRT18", "CLDN4", "MKI67", "TOP2A", "S100A8", "S100A9"], "Epithelial"),
    "melanoma": (["PMEL", "MLANA", "TYR", "MITF", "SOX10", "DCT"], "Melanoma"),
    "CD8 T": (["PTPRC", "CD3D", "CD3E", "TRAC", "TRBC2", "CD8A", "CD8B", "CCL5"], "CD8 T"),
    "exhausted CD8 T": (["CD3D", "CD3E", "TRAC", "CD8A", "CD8B", "NKG7", "GZMB", "PRF1", "KLRD1", "HAVCR2"], "CD8 T"),
    "CD4 T": (["PTPRC", "CD3D", "CD3E", "TRAC", "TRBC2", "CD4", "CD40LG", "IL7R", "LTB"], "CD4 T"),
    "Treg": (["CD3D", "CD3E", "TRAC", "CD4", "CD40LG", "FOXP3", "CTLA4", "IKZF2"], "Treg"),
    # Treg-set genes exhausted CD8 T cells express too, no CD4 or CD8 gene: the RNA Treg set does not lift to CD4
    "T cell, CTLA4 TNFRSF18 IKZF2 only": (["CD3D", "CD3E", "TRAC", "CTLA4", "TNFRSF18", "IKZF2"], "T cell"),
    "NK": (["PTPRC", "KLRD1", "NKG7", "NCR1", "FCGR3A", "CD2"], "NK"),
    "B": (["PTPRC", "MS4A1", "BANK1", "PAX5", "CD19"], "B cell"),
    "plasma": (["MZB1", "DERL3", "TNFRSF17", "TXNDC5", "POU2AF1"], "Plasma"),
    "macrophage": (["PTPRC", "CD68", "CSF1R", "C1QA", "C1QB", "C1QC", "APOE", "LYZ"], "Macrophage"),
    "monocyte": (["PTPRC", "LYZ", "CSF1R", "CD68", "S100A8", "S100A9", "FCN1", "VCAN"], "Monocyte"),
    "mast": (["PTPRC", "KIT", "CPA3", "TPSAB1", "TPSB2", "MS4A2"], "Mast"),
    "fibroblast": (["COL1A1", "COL1A2", "LUM", "FAP", "PDGFRA", "FBLN1"], "Fibroblast"),
    "pericyte": (["RGS5", "NOTCH3", "MCAM", "CSPG4", "PDGFRB", "ACTA2"], "Perivascular"),
    "endothelial": (["PECAM1", "VWF", "CDH5", "CLDN5", "PLVAP", "EMCN"], "Endothelial"),
    "nothing": ([], "unassigned"),
}  # fmt: skip


def _panel(genes: list[str], cells: dict[str, tuple[list[str], str]]) -> ad.AnnData:
    """Cells x genes of counts: 10 for each gene a cell expresses, 1 for 30 housekeeping-like fillers in every cell."""
    fillers = [f"FILLER{i}" for i in range(30)]
    var = list(dict.fromkeys([*genes, *fillers]))
    X = np.zeros((len(cells), len(var)), dtype=np.float32)
    X[:, [var.index(f) for f in fillers]] = 1.0
    for row, (expressed, _) in enumerate(cells.values()):
        X[row, [var.index(g) for g in expressed if g in var]] = 10.0
    return ad.AnnData(X, obs=pd.DataFrame(index=list(cells)), var=pd.DataFrame(index=var))


def _all_marker_genes() -> list[str]:
    return sorted({g for n in nodes() if n.rna for g in tk.signatures.get(n.rna).genes} | {"MKI67", "TOP2A"})


def test_each_level_of_the_hierarchy_by_construction():
    adata = _panel(_all_marker_genes(), CELLS)
    tk.tl.annotate(adata)
    called = adata.obs["tmekit_cell_type"].astype(str)
    expected = pd.Series({name: label for name, (_, label) in CELLS.items()})
    pd.testing.assert_series_equal(called, expected, check_names=False)
    uns = adata.uns["tmekit_cell_type"]
    assert uns["params"]["modality"] == "rna" and uns["not_measured"] == {"Neutrophil": "no RNA marker set"}
    assert uns["roles"]["tumor"] == ["Epithelial"]  # one carcinoma cell vs one melanoma: the first tumour lineage
    assert {"CD8 T", "CD4 T", "Treg", "T cell", "NK", "Plasma"} <= set(uns["roles"]["immune"])
    assert uns["roles"]["cd8"] == ["CD8 T"] and "NK" not in uns["roles"]["t"]


def test_a_melanoma_sample_makes_melanoma_the_tumour():
    cells = {f"mel{i}": CELLS["melanoma"] for i in range(3)} | {"keratinocyte": CELLS["carcinoma"]}
    adata = _panel(_all_marker_genes(), cells)
    tk.tl.annotate(adata)
    assert adata.uns["tmekit_cell_type"]["roles"]["tumor"] == ["Melanoma"]
    assert tk.tl.annotation_labels(adata)["tumor"] == ["Melanoma"]
    assert tk.tl.annotation_labels()["tumor"] == ["Epithelial"]  # without data: carcinoma
    # annotate declares its labels: the frameworks and T-cell states read them with nothing written by hand
    assert adata.uns["tmekit_cell_types"]["key"] == "tmekit_cell_type"
    assert list(adata.uns["tmekit_cell_types"]["tumor"]) == ["Melanoma"]
    assert list(adata.uns["tmekit_cell_types"]["cd8"]) == ["CD8 T"]


def test_levels_without_markers_stop_at_the_parent_and_say_why():
    """A panel without CD8/CD4 genes: T cells stay 'T cell' (not a guess), with the reason in uns."""
    cd8_cd4 = set(tk.signatures.get("marker_cd8_t").genes) | set(tk.signatures.get("marker_cd4_t").genes)
    treg = set(tk.signatures.get("marker_treg").genes)
    genes = [g for g in _all_marker_genes() if g not in cd8_cd4 | treg]
    cells = {k: CELLS[k] for k in ("CD8 T", "CD4 T", "NK", "carcinoma")}
    adata = _panel(genes, cells)
    with pytest.warns(tk.MissingGenesWarning, match=r"not decidable here .*'CD4 T', 'CD8 T'"):
        tk.tl.annotate(adata)
    assert adata.obs["tmekit_cell_type"].astype(str).tolist() == ["T cell", "T cell", "NK", "Epithelial"]
    missing = adata.uns["tmekit_cell_type"]["not_measured"]
    assert missing["CD8 T"].startswith("marker_cd8_t: 0/7 genes measured")
    with pytest.raises(ValueError, match="overwrite=True"):
        tk.tl.annotate(adata)


def test_score_and_margin_thresholds():
    """A cell whose winning lineage score is just below min_score, or whose lead is just below min_margin, is
    unassigned; at the threshold it is called."""
    adata = _panel(_all_marker_genes(), {"carcinoma": CELLS["carcinoma"], "fibroblast": CELLS["fibroblast"]})
    tk.tl.annotate(adata)
    scores = adata.obsm["tmekit_cell_type_scores"]
    best = scores.loc["carcinoma", "Epithelial"]
    lead = best - scores.loc["carcinoma"].drop(["Epithelial"]).max()
    for min_score, label in ((best, "Epithelial"), (best + 1e-9, "unassigned")):
        tk.tl.annotate(adata, min_score=min_score, min_margin=0.0, overwrite=True)
        assert adata.obs.loc["carcinoma", "tmekit_cell_type"] == label
    for min_margin, label in ((lead, "Epithelial"), (lead + 1e-9, "unassigned")):
        tk.tl.annotate(adata, min_score=0.0, min_margin=min_margin, overwrite=True)
        assert adata.obs.loc["carcinoma", "tmekit_cell_type"] == label


def test_mouse_genes_through_orthologs():
    pairs = tk.signatures.orthologs(tiers=["reference"])
    pairs = pairs[~pairs["human_symbol"].duplicated(keep=False) & ~pairs["mouse_symbol"].duplicated(keep=False)]
    to_mouse = dict(zip(pairs["human_symbol"], pairs["mouse_symbol"], strict=True))
    human = _panel(_all_marker_genes(), {k: CELLS[k] for k in ("carcinoma", "CD8 T", "macrophage", "fibroblast")})
    mouse = human[:, [g for g in human.var_names if g in to_mouse or g.startswith("FILLER")]].copy()
    mouse.var_names = [to_mouse.get(g, g.capitalize()) for g in mouse.var_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        tk.tl.annotate(mouse)
    assert mouse.obs["tmekit_cell_type"].astype(str).tolist() == ["Epithelial", "CD8 T", "Macrophage", "Fibroblast"]


# ------------------------------------------------------------------------------------------------ protein panels
PROTEIN = {  # channel intensities per cell (the rest 0), and the label
    "tumour": ({"Pan-Keratin": 8, "E-cadherin": 6}, "Epithelial"),
    "tumour, beta-catenin only": ({"Beta catenin": 8}, "Epithelial"),  # adherens junctions, with E-cadherin
    "CD8 T": ({"CD45": 6, "CD3": 7, "CD8": 8}, "CD8 T"),
    "CD4 T": ({"CD45": 6, "CD3": 7, "CD4": 8}, "CD4 T"),
    "Treg": ({"CD45": 6, "CD3": 7, "CD4": 8, "FoxP3": 8}, "Treg"),
    "Treg, CD4 not read": ({"CD45": 6, "CD3": 7, "FoxP3": 8}, "Treg"),  # FoxP3 protein lifts to CD4 T
    "B": ({"CD45": 6, "CD20": 8}, "B cell"),
    "macrophage": ({"CD45": 5, "CD68": 8, "CD163": 7}, "Macrophage"),
    "neutrophil": ({"CD45": 5, "MPO": 8}, "Neutrophil"),
    "leukocyte": ({"CD45": 8}, "Immune"),
    "fibroblast": ({"SMA": 8, "Vimentin": 7}, "Fibroblast"),
    "endothelial": ({"CD31": 8}, "Endothelial"),
    "nothing": ({}, "unassigned"),
}  # fmt: skip
CHANNELS = ["Pan-Keratin", "E-cadherin", "Beta catenin", "CD45", "CD3", "CD8", "CD4", "FoxP3", "CD20", "CD68",
            "CD163", "MPO", "SMA", "Vimentin", "CD31", "Ki67", "HLA-DR"]  # fmt: skip


def _protein(copies: int = 10, scale: float = 1.0) -> ad.AnnData:
    rows, names = [], []
    for k in range(copies):
        for name, (values, _) in PROTEIN.items():
            rows.append([values.get(c, 0.0) * scale for c in CHANNELS])
            names.append(f"{name}_{k}")
    return ad.AnnData(np.array(rows, dtype=np.float32), obs=pd.DataFrame(index=names), var=pd.DataFrame(index=CHANNELS))


def test_protein_panel_by_construction():
    adata = _protein()
    tk.tl.annotate(adata)  # recognised from the channel names
    assert adata.uns["tmekit_cell_type"]["params"]["modality"] == "protein"
    called = adata.obs["tmekit_cell_type"].astype(str)
    expected = [PROTEIN[name.rsplit("_", 1)[0]][1] for name in adata.obs_names]
    assert called.tolist() == expected
    assert adata.uns["tmekit_cell_type"]["channels"]["CD8 T"] == ["CD8", "CD4"]  # up, then down


def test_protein_scaling_is_per_sample():
    """Two samples measured at 10x different gain: each is scaled on its own, so both get the same calls, and a
    sample's calls do not change when the other sample is removed."""
    low, high = _protein(scale=1.0), _protein(scale=10.0)
    low.obs["sample"], high.obs["sample"] = "low", "high"
    both = ad.concat([low, high], index_unique="-")
    tk.tl.annotate(both, library_key="sample")
    calls = both.obs["tmekit_cell_type"].astype(str).to_numpy()
    assert (calls[: low.n_obs] == calls[low.n_obs :]).all()
    tk.tl.annotate(low, library_key="sample")
    assert (low.obs["tmekit_cell_type"].astype(str).to_numpy() == calls[: low.n_obs]).all()


def test_modality_is_detected_and_can_be_forced():
    from tmekit.tl._protein import is_protein_panel

    genes = _panel(_all_marker_genes(), {"carcinoma": CELLS["carcinoma"]})

    assert is_protein_panel(pd.Index(CHANNELS)) and not is_protein_panel(genes.var_names)
    assert not is_protein_panel(pd.Index(["CD4", "CD68", "FOXP3"]))  # gene symbols that are also proteins
    with pytest.raises(ValueError, match="Unknown modality='dna'"):
        tk.tl.annotate(_protein(), modality="dna")
    with pytest.raises(ValueError, match="`markers=` are RNA marker sets"):
        tk.tl.annotate(_protein(), markers=["marker_t"])


# ------------------------------------------------------------------------------------ neighbour graph and cluster vote
def _dropout_cells() -> ad.AnnData:
    """Three CD8 T cells and three fibroblasts; one CD8 T cell (``t_dropout``) detected only PTPRC, so on its own it
    is no more than immune. A hand-built graph joins each cell to the others of its type (weight 1)."""
    cells = {f"t{i}": CELLS["CD8 T"] for i in range(2)} | {"t_dropout": (["PTPRC"], "")}
    cells |= {f"f{i}": CELLS["fibroblast"] for i in range(3)}
    adata = _panel(_all_marker_genes(), cells)
    graph = np.zeros((6, 6))
    graph[:3, :3] = graph[3:, 3:] = 1.0
    np.fill_diagonal(graph, 0.0)
    adata.obsp["connectivities"] = sp.csr_matrix(graph)
    return adata


def test_neighbors_key_reads_dropout_through_the_graph():
    adata = _dropout_cells()
    per_cell = tk.tl.annotate(adata, neighbors_key=None, copy=True)
    assert per_cell.obs["tmekit_cell_type"]["t_dropout"] != "CD8 T"
    assert per_cell.uns["tmekit_cell_type"]["params"]["graph"] == "" and "tmekit_cell_type_neighbor_scores" not in (
        per_cell.obsm)  # fmt: skip
    before = adata.X.copy()
    tk.tl.annotate(adata)  # "auto": the graph sc.pp.neighbors would have stored
    called = adata.obs["tmekit_cell_type"].astype(str).tolist()
    assert called == ["CD8 T"] * 3 + ["Fibroblast"] * 3
    params = adata.uns["tmekit_cell_type"]["params"]
    assert params["graph"] == "connectivities" and params["neighbors_key"] == "auto"
    own, near = adata.obsm["tmekit_cell_type_scores"], adata.obsm["tmekit_cell_type_neighbor_scores"]
    pd.testing.assert_frame_equal(own, per_cell.obsm["tmekit_cell_type_scores"])  # own scores kept as they are
    expected = (own.loc[["t0", "t1", "t_dropout"]].sum() / 3).round(12)  # (s + C s) / (1 + C 1), C 0/1 here
    pd.testing.assert_series_equal(near.loc["t_dropout"], expected, check_names=False)
    np.testing.assert_array_equal(adata.X, before)


def test_neighbors_key_names_a_graph_and_results_do_not_depend_on_order_or_array_type():
    adata = _dropout_cells()
    adata.obsp["knn_connectivities"] = adata.obsp.pop("connectivities")
    adata.uns["knn"] = {"connectivities_key": "knn_connectivities"}  # as sc.pp.neighbors(key_added="knn")
    tk.tl.annotate(adata)  # "auto" finds no default graph: per cell
    assert adata.uns["tmekit_cell_type"]["params"]["graph"] == ""
    tk.tl.annotate(adata, neighbors_key="knn", overwrite=True)
    assert adata.uns["tmekit_cell_type"]["params"]["graph"] == "knn_connectivities"
    calls = adata.obs["tmekit_cell_type"].astype(str)
    assert calls["t_dropout"] == "CD8 T"
    order = np.array([5, 2, 0, 4, 1, 3])
    shuffled = adata[order].copy()
    shuffled.X = sp.csr_matrix(shuffled.X)
    tk.tl.annotate(shuffled, neighbors_key="knn_connectivities", overwrite=True)  # an obsp key works too
    pd.testing.assert_series_equal(shuffled.obs["tmekit_cell_type"].astype(str), calls.iloc[order])
    pd.testing.assert_frame_equal(shuffled.obsm["tmekit_cell_type_neighbor_scores"],
                                  adata.obsm["tmekit_cell_type_neighbor_scores"].iloc[order])  # fmt: skip
    with pytest.raises(KeyError, match=r"neighbors_key='umap'.*sc.pp.neighbors\(adata, key_added='umap'\)"):
        tk.tl.annotate(adata, neighbors_key="umap", overwrite=True)


def test_groupby_gives_a_cluster_its_majority_type_and_keeps_finer_labels():
    cells = {"cd8": CELLS["CD8 T"], "cd8b": CELLS["CD8 T"], "cd4": CELLS["CD4 T"], "t_dropout": (["PTPRC"], ""),
             "nothing": ([], ""), "f0": CELLS["fibroblast"], "f1": CELLS["fibroblast"],
             "e0": CELLS["endothelial"]}  # fmt: skip
    adata = _panel(_all_marker_genes(), cells)
    adata.obs["leiden"] = pd.Categorical(["0"] * 5 + ["1"] * 3)
    per_cell = tk.tl.annotate(adata, copy=True).obs["tmekit_cell_type"].astype(str)
    assert per_cell[["t_dropout", "nothing"]].tolist() == ["Immune", "unassigned"]
    tk.tl.annotate(adata, groupby="leiden")
    called = adata.obs["tmekit_cell_type"].astype(str)
    # cluster 0: 3 of 5 are T cells (CD8 T, CD8 T, CD4 T), 2 of 5 CD8 T: T cell is the deepest majority
    assert called[["cd8", "cd8b", "cd4"]].tolist() == ["CD8 T", "CD8 T", "CD4 T"]  # finer labels inside it kept
    assert called[["t_dropout", "nothing"]].tolist() == ["T cell", "T cell"]  # coarser and unassigned take it
    # cluster 1: fibroblasts 2 of 3, a majority: the endothelial cell takes it
    assert called[["f0", "f1", "e0"]].tolist() == ["Fibroblast"] * 3
    assert adata.uns["tmekit_cell_type"]["params"]["groupby"] == "leiden"
    adata.obs["split"] = pd.Categorical(["0"] * 5 + ["1", "2", "1"])  # cluster 1: 1 fibroblast of 2 is no majority
    tk.tl.annotate(adata, groupby="split", overwrite=True)
    assert adata.obs["tmekit_cell_type"].astype(str).iloc[5:].tolist() == per_cell.iloc[5:].tolist()
    shuffled = adata[::-1].copy()  # cell order does not matter
    tk.tl.annotate(shuffled, groupby="split", overwrite=True)
    pd.testing.assert_series_equal(shuffled.obs["tmekit_cell_type"], adata.obs["tmekit_cell_type"][::-1])
    with pytest.raises(KeyError, match=r"`adata.obs\['louvain'\]` not found"):
        tk.tl.annotate(adata, groupby="louvain", overwrite=True)
