"""Agreement with the peer implementations, and cell independence of the rank method."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import tmekit as tk

ALL = list(tk.signatures.list().index)


@pytest.fixture(scope="module")
def shared_wu_lognorm(shared_data, read_shared):
    adata = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad")
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


def _score_all(adata, **kwargs):
    with warnings.catch_warnings():  # FER1L4/LINC01943 absent, GEP weights unused by rank: asserted elsewhere
        warnings.simplefilter("ignore", tk.TmekitWarning)
        tk.tl.score(adata, ALL, **kwargs)
    return adata.obsm["tmekit_scores"], adata.uns["tmekit_scores"]


@pytest.mark.parametrize("max_rank", [1500, 200])
def test_rank_equals_pyucell_on_wu2021_for_every_shipped_signature(shared_wu_lognorm, max_rank):
    pyucell = pytest.importorskip("pyucell")
    adata = shared_wu_lognorm.copy()
    scores, uns = _score_all(adata, max_rank=max_rank)
    signatures = {}
    for name in ALL:
        entry = uns["signatures"][name]
        down = set(tk.signatures.get(name).genes_down)
        pairs = zip(entry["genes_used"], entry["columns_used"], strict=True)
        signatures[name] = [column + ("-" if gene in down else "") for gene, column in pairs]
    pyucell.compute_ucell_scores(
        adata, signatures=signatures, max_rank=max_rank, ties_method="average", missing_genes="skip", n_jobs=1
    )
    theirs = adata.obs[[f"{n}_UCell" for n in ALL]].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(scores.to_numpy(), theirs, atol=1e-5, rtol=0)
    assert scores.to_numpy().std(axis=0).min() > 0  # every set discriminates somewhere: not a trivial match


def test_mean_equals_scanpy_score_genes_given_its_controls(shared_wu_lognorm):
    from scanpy.tools._score_genes import _check_score_genes_args, _score_genes_bins

    adata = shared_wu_lognorm.copy()
    names = ["ifng6_ayers2017", "hypoxia_buffa2010", "cd8_teff_mariathasan2018", "caf_bagaev2021", "cyt_rooney2015"]
    # scanpy's private helper gained `layer=` in 1.11; our floor (1.10.4) has it without.
    by_layer = {"layer": None} if "layer" in inspect.signature(_check_score_genes_args).parameters else {}
    controls = {}
    for name in names:
        genes = [g if g in adata.var_names else "UTP11L" for g in tk.signatures.get(name).genes_up]
        gene_list, gene_pool, get_subset = _check_score_genes_args(
            adata, gene_list=genes, gene_pool=None, use_raw=False, **by_layer
        )
        np.random.seed(0)  # noqa: TID251 - reproducing scanpy's own global-state draw
        chosen = pd.Index([], dtype="string")
        for r_genes in _score_genes_bins(
            gene_list, gene_pool, ctrl_as_ref=False, ctrl_size=50, n_bins=25, get_subset=get_subset
        ):
            chosen = chosen.union(r_genes)
        controls[name] = list(chosen)
        sc.tl.score_genes(adata, genes, ctrl_as_ref=False, random_state=0, score_name=f"{name}_sc", use_raw=False)
    tk.tl.score(adata, names, method="mean", control_genes=controls)
    ours = adata.obsm["tmekit_scores"]
    for name in names:
        np.testing.assert_allclose(ours[name], adata.obs[f"{name}_sc"], atol=1e-5, rtol=0)
        assert ours[name].std() > 0.01


def test_rank_scores_of_a_cell_do_not_depend_on_the_other_cells(wu_lognorm):
    full = wu_lognorm.copy()
    scores, _ = _score_all(full)
    rng = np.random.default_rng(42)
    subset_idx = np.sort(rng.choice(full.n_obs, size=full.n_obs // 10, replace=False))
    subset = wu_lognorm[subset_idx].copy()
    sub_scores, _ = _score_all(subset)
    np.testing.assert_array_equal(sub_scores.to_numpy(), scores.iloc[subset_idx].to_numpy())
    for i in subset_idx[:5]:
        alone = wu_lognorm[[i]].copy()
        alone_scores, _ = _score_all(alone)
        np.testing.assert_array_equal(alone_scores.to_numpy()[0], scores.iloc[i].to_numpy())


def test_headline_modules_score_highest_in_the_expected_cells(wu_lognorm):
    # Biology sanity on the real tumour: each module is highest in the cell type it describes.
    adata = wu_lognorm.copy()
    scores, _ = _score_all(adata)
    by_type = scores.groupby(adata.obs["cell_type_major"].to_numpy()).mean()
    assert by_type["m2_tam_bagaev2021"].idxmax() == "Myeloid"
    assert by_type["exhaustion_core_curated"].idxmax() == "T-cells"
    assert by_type["cxcl13_t_zheng2021"].idxmax() == "T-cells"
    assert by_type["caf_bagaev2021"].idxmax() == "CAFs"
    assert by_type["marker_endothelial"].idxmax() == "Endothelial"
    assert by_type["marker_plasma"].idxmax() == "Plasmablasts"
    assert by_type["marker_epithelial"].idxmax() in {"Cancer Epithelial", "Normal Epithelial"}


@pytest.mark.parametrize("max_rank", [40, 1500])
def test_rank_equals_pyucell_on_continuous_values_with_many_distinct_levels(max_rank):
    # Continuous values give every signature gene its own level (the kernel's bisection path, > 16 levels),
    # plus explicit ties and signed sets.
    import anndata as ad

    pyucell = pytest.importorskip("pyucell")
    rng = np.random.default_rng(7)
    X = rng.gamma(2.0, 1.0, size=(60, 300)) * (rng.random((60, 300)) < 0.6)
    X[:, 10:20] = np.round(X[:, 10:20])  # ties
    genes = [f"g{i}" for i in range(300)]
    adata = ad.AnnData(X.astype(np.float32), var=pd.DataFrame(index=genes))
    sigs = {
        "big": genes[:80],
        "tied": genes[5:25],
        "signed": {"up": genes[100:140], "down": genes[200:230]},
    }
    tk.tl.score(adata, sigs, max_rank=max_rank)
    pyucell.compute_ucell_scores(
        adata,
        signatures={
            "big": genes[:80],
            "tied": genes[5:25],
            "signed": genes[100:140] + [g + "-" for g in genes[200:230]],
        },
        max_rank=max_rank,
        n_jobs=1,
    )
    for name in sigs:
        np.testing.assert_allclose(adata.obsm["tmekit_scores"][name], adata.obs[f"{name}_UCell"], atol=1e-5, rtol=0)
    assert adata.obsm["tmekit_scores"]["tied"].std() > 0.01  # ("big" is degenerate when 80 genes > max_rank=40)
    assert adata.obsm["tmekit_scores"]["signed"].std() > 0.01
