"""`tk.tl.annotate` on real data, judged against the authors' own labels (benchmarks/annotation.py prints the table).

The bounds sit just under what this version measures (benchmarks/RESULTS.md), so a regression fails; where they are
below issue 28's targets the gap is stated beside them, and rows that reach a target assert the target. Each file is
read per cell and with the neighbour graph a scanpy user computes (benchmarks/annotation.py `with_graph`,
`protein_graph`), which annotate reads by default.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from annotation import B_LINEAGE, KEREN_GROUP, KEREN_SUBTYPES, WU_MAJOR, balanced_accuracy, protein_graph, with_graph

sys.path.pop(0)


@pytest.fixture(scope="module")
def wu(shared_data, read_shared):
    adata = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad")
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    tk.tl.annotate(adata)
    return adata


def test_wu_lineages_subtypes_and_cycling_cancer_cells(wu):
    called = wu.obs["tmekit_cell_type"].astype(str)
    major, minor = wu.obs["cell_type_major"].astype(str), wu.obs["cell_type_minor"].astype(str)
    eight = major.isin(set(WU_MAJOR.values()))
    assert balanced_accuracy(major[eight], called[eight].map(WU_MAJOR)) > 0.66  # measured 0.686 (target 0.85)
    assert (called[minor == "T cells CD8+"] == "CD8 T").mean() >= 0.70  # measured 0.74
    assert called[minor == "T cells CD4+"].isin(["CD4 T", "Treg"]).mean() > 0.55  # measured 0.59 (target 0.70)
    assert (called[major == "PVL"] == "Perivascular").mean() > 0.70  # measured 0.74 (a label of their own)
    assert (called[major == "CAFs"] == "Perivascular").mean() < 0.05  # and CAFs stay fibroblasts
    cycling = called[minor == "Cancer Cycling"]
    assert (cycling == "Monocyte").sum() == 0 and (cycling == "Epithelial").mean() > 0.65  # measured 0.71
    assert wu.uns["tmekit_cell_type"]["roles"]["tumor"] == ["Epithelial"]


def test_wu_with_the_scanpy_neighbour_graph(wu):
    adata = with_graph(wu)
    tk.tl.annotate(adata, overwrite=True)
    assert adata.uns["tmekit_cell_type"]["params"]["graph"] == "connectivities"
    called = adata.obs["tmekit_cell_type"].astype(str)
    major, minor = adata.obs["cell_type_major"].astype(str), adata.obs["cell_type_minor"].astype(str)
    eight = major.isin(set(WU_MAJOR.values()))
    assert balanced_accuracy(major[eight], called[eight].map(WU_MAJOR)) > 0.78  # measured 0.803 (target 0.85)
    # the gap is one class: Wu's 33 B cells carry the plasmablast programme; as one B lineage, 7 classes reach 0.85
    lineage = major[eight].replace(B_LINEAGE), called[eight].map(WU_MAJOR).replace(B_LINEAGE)
    assert balanced_accuracy(*lineage) >= 0.85  # measured 0.909
    assert (called[minor == "T cells CD8+"] == "CD8 T").mean() >= 0.70  # measured 0.857
    assert called[minor == "T cells CD4+"].isin(["CD4 T", "Treg"]).mean() > 0.66  # measured 0.688 (target 0.70)
    assert (called[major == "PVL"] == "Perivascular").mean() > 0.70  # measured 0.823
    cycling = called[minor == "Cancer Cycling"]
    assert (cycling == "Monocyte").sum() == 0 and (cycling == "Epithelial").mean() > 0.65  # measured 0.938


def test_sade_feldman_exhausted_cd8_are_cd8_not_nk(read_shared):
    adata = read_shared("sade_feldman_melanoma/sade_feldman_tcells550.h5ad")  # log-normalised, T cells only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)  # a 3,523-gene subset: some sets are partial
        tk.tl.annotate(adata)
    called = adata.obs["tmekit_cell_type"].astype(str)
    paper = adata.obs["cell_type_paper"].astype(str)
    assert (called[paper == "Exhausted Cd8+ cells"] == "CD8 T").mean() >= 0.95  # measured 0.99 (was 0.37)
    assert (called[paper != "Monocytes"] == "NK").mean() <= 0.05  # measured 0.009 (was 0.28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.MissingGenesWarning)
        graph = with_graph(adata)
        tk.tl.annotate(graph, overwrite=True)
    called = graph.obs["tmekit_cell_type"].astype(str)
    assert (called[paper == "Exhausted Cd8+ cells"] == "CD8 T").mean() >= 0.95  # measured 1.0
    assert (called[paper != "Monocytes"] == "NK").mean() <= 0.05  # measured 0.009


@pytest.mark.parametrize("graph", [False, True], ids=["per cell", "with graph"])
def test_keren_protein_panel(read_shared, graph):
    adata = read_shared("keren_tnbc_mibi/keren_tnbc_subsample39.h5ad")
    adata = protein_graph(adata, "patient_id") if graph else adata
    tk.tl.annotate(adata, library_key="patient_id")
    assert adata.uns["tmekit_cell_type"]["params"]["modality"] == "protein"  # recognised from the channel names
    called = adata.obs["tmekit_cell_type"].astype(str)
    labels = tk.tl.annotation_labels(adata)
    group = np.where(called.isin(labels["tumor"]), "tumour",
                     np.where(called.isin(labels["immune"]), "immune",
                              np.where(called == "unassigned", "unassigned", "stroma")))  # fmt: skip
    truth = adata.obs["cell_group"].astype(str).map(KEREN_GROUP)
    # 0.834 / 0.849 (target 0.90); 0.825 / 0.836 before beta-catenin counted as an epithelial channel
    assert balanced_accuracy(truth, pd.Series(group, index=truth.index)) > (0.84 if graph else 0.83)
    five = adata.obs["cell_type"].astype(str).isin(KEREN_SUBTYPES)
    subtypes = adata.obs["cell_type"].astype(str)[five].map(KEREN_SUBTYPES)
    # per cell 0.740 (target 0.75); with the graph 0.778: the target. 0.715 / 0.753 before FoxP3 lifted to CD4 T
    assert balanced_accuracy(subtypes, called[five]) >= (0.77 if graph else 0.72)
