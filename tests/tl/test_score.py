"""`tk.tl.score`: hand-computed answers, provenance, missing genes, errors, nothing changed behind the user."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import tmekit as tk

GENES = [f"G{i}" for i in range(1, 9)]
# 5 cells x 8 genes. Rows: A, B (empty), C (five-way tie), D (tie kept below max_rank), E (tie above max_rank).
COUNTS = np.array(
    [
        [5, 3, 0, 1, 0, 2, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],
        [7, 0, 3, 3, 3, 3, 0, 0],
        [7, 6, 0, 3, 3, 3, 3, 3],
    ],
    dtype=np.float32,
)


def _toy(X=COUNTS) -> ad.AnnData:
    adata = ad.AnnData(X=sp.csr_matrix(X), var=pd.DataFrame(index=GENES))
    adata.obs_names = list("ABCDE")
    return adata


def _scores(adata, key="tmekit_scores"):
    return adata.obsm[key]


def test_rank_hand_computed():
    # max_rank = 4. Ranks (1 = highest, ties averaged, > 4 counts as 4; zeros count as 4):
    #  A: G1=1 G2=2 G6=3 G4=4          up {G1,G2,G3}: 1+2+4 = 7  -> U = 1 - (7-6)/(12-6)  = 0.833333
    #  B: nothing expressed             up: 4+4+4 = 12            -> 0
    #  C: G1..G5 tied, avg 3            up: 3+3+3 = 9             -> 0.5
    #  D: G1=1, G3..G6 tied avg 3.5     up: 1+4+3.5 = 8.5         -> 0.583333
    #  E: G1=1 G2=2, G4..G8 avg 5 -> 4  up: 1+2+4 = 7             -> 0.833333
    # Down {G4,G6} (n=2: s_min=3, s_max=8): A 4+3=7 -> 0.2; B 8 -> 0; C 3+4=7 -> 0.2; D 3.5+3.5=7 -> 0.2; E 8 -> 0.
    # Clipped set: up {G7,G8} (all 4 -> 0) minus down {G1} (rank 1 -> 1) -> max(0, -1) = 0 wherever G1 is expressed.
    adata = _toy()
    sigs = {
        "up3": ["G1", "G2", "G3"],
        "signed": {"up": ["G1", "G2", "G3"], "down": ["G4", "G6"]},
        "clipped": {"up": ["G7", "G8"], "down": ["G1"]},
    }
    tk.tl.score(adata, sigs, max_rank=4)
    s = _scores(adata)
    np.testing.assert_allclose(s["up3"], [5 / 6, 0, 0.5, 1 - 2.5 / 6, 5 / 6], atol=1e-12)
    np.testing.assert_allclose(s["signed"], [5 / 6 - 0.2, 0, 0.3, 1 - 2.5 / 6 - 0.2, 5 / 6], atol=1e-12)
    np.testing.assert_allclose(s["clipped"], [0, 0, 0, 0, 0], atol=1e-12)
    assert s["up3"].dtype == np.float64


def test_mean_hand_computed():
    # Values are COUNTS / 2 (log-scale-like, non-integer). Gene means over the 5 cells:
    #  G1 2.0, G2 1.0, G3 0.4, G4 0.8, G5 0.7, G6 0.8, G7 0.3, G8 0.3.
    # n_bins=3 -> n_items = round(8/2) = 4; bins = rank(min) // 4: G7 G8 G3 -> 0; G5 G4 G6 G2 -> 1; G1 -> 2.
    # Every bin holds fewer than ctrl_size genes, so the whole bin (minus signature genes) is taken.
    X = COUNTS / 2
    adata = _toy(X)
    sigs = {
        "s13": ["G1", "G3"],  # bins {2, 0}: bin 2 has only G1 -> no controls; bin 0 -> {G7, G8}
        "w12": {"up": ["G1", "G2"], "weights": {"G1": 3.0, "G2": 1.0}},  # bins {2, 1} -> controls {G4, G5, G6}
        "signed": {"up": ["G1", "G3"], "down": ["G7"]},  # up controls {G8}; down (G7, bin 0) controls {G8}
    }
    tk.tl.score(adata, sigs, method="mean", n_bins=3)
    s = _scores(adata)
    mean = lambda *cols: X[:, [GENES.index(c) for c in cols]].mean(axis=1)  # noqa: E731
    np.testing.assert_allclose(s["s13"], [1.25, 0, 0.5, 2.5, 0.25], atol=1e-12)
    np.testing.assert_allclose(s["s13"], mean("G1", "G3") - mean("G7", "G8"), atol=1e-12)
    np.testing.assert_allclose(s["w12"], [1.75, 0, 0.5 - 1 / 3, 1.125, 1.875], atol=1e-12)
    np.testing.assert_allclose(s["signed"], (mean("G1", "G3") - mean("G8")) - (mean("G7") - mean("G8")), atol=1e-12)
    controls = {n: list(adata.uns["tmekit_scores"]["signatures"][n]["control_genes"]) for n in sigs}
    assert controls == {"s13": ["G7", "G8"], "w12": ["G4", "G5", "G6"], "signed": ["G8"]}
    assert adata.uns["tmekit_scores"]["signatures"]["w12"]["weights_used"]


def test_provenance_is_recorded_and_survives_h5ad(tmp_path, wu_lognorm):
    adata = wu_lognorm.copy()
    with pytest.warns(tk.MissingGenesWarning, match="FER1L4"):
        tk.tl.score(adata, ["hypoxia_buffa2010", "hypoxia_ragnum2015", "ifng6_ayers2017"])
    uns = adata.uns["tmekit_scores"]
    assert uns["method"] == "rank"
    assert uns["cell_independent"]
    assert uns["params"]["max_rank"] == 1500
    assert uns["tmekit_version"] == tk.__version__
    buffa = uns["signatures"]["hypoxia_buffa2010"]
    assert buffa["n_found"] == 51
    assert buffa["aliases_used"] == ["UTP11->UTP11L"]
    assert "UTP11L" in buffa["columns_used"]
    assert buffa["sha256"] == tk.signatures.get("hypoxia_buffa2010").sha256
    ragnum = uns["signatures"]["hypoxia_ragnum2015"]
    assert list(ragnum["genes_missing"]) == ["FER1L4"]
    assert ragnum["n_found"] == 31
    assert uns["signatures"]["ifng6_ayers2017"]["doi"] == "10.1172/JCI91190"
    path = tk.io.write_h5ad(adata, tmp_path / "scored.h5ad")
    back = tk.io.read_h5ad(path)
    pd.testing.assert_frame_equal(back.obsm["tmekit_scores"], adata.obsm["tmekit_scores"])
    assert list(back.uns["tmekit_scores"]["signatures"]["hypoxia_ragnum2015"]["genes_missing"]) == ["FER1L4"]


def test_existing_key_copy_and_overwrite(wu_lognorm):
    adata = wu_lognorm.copy()
    tk.tl.score(adata, "ifng6_ayers2017")
    with pytest.raises(ValueError, match="overwrite=True"):
        tk.tl.score(adata, "cyt_rooney2015")
    assert list(adata.obsm["tmekit_scores"].columns) == ["ifng6_ayers2017"]  # untouched
    tk.tl.score(adata, "cyt_rooney2015", key_added="cyt")
    tk.tl.score(adata, "cyt_rooney2015", overwrite=True)
    assert list(adata.obsm["tmekit_scores"].columns) == ["cyt_rooney2015"]
    fresh = wu_lognorm.copy()
    out = tk.tl.score(fresh, "cyt_rooney2015", copy=True)
    assert "tmekit_scores" not in fresh.obsm
    assert "tmekit_scores" in out.obsm
    np.testing.assert_array_equal(out.obsm["tmekit_scores"].to_numpy(), adata.obsm["cyt"].to_numpy())


def test_never_changes_X_even_with_unsorted_indices_and_explicit_zeros():
    X = sp.csr_matrix(COUNTS / 2)
    X.data[X.data == 0.5] = 0.0  # explicit stored zeros
    X.indices[:2] = X.indices[:2][::-1].copy()  # unsorted within row A
    X.data[:2] = X.data[:2][::-1].copy()
    X.has_sorted_indices = False
    adata = ad.AnnData(X=X, var=pd.DataFrame(index=GENES))
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    tk.tl.score(adata, {"s": ["G1", "G2"]}, max_rank=4)
    tk.tl.score(adata, {"s": ["G1", "G2"]}, method="mean", n_bins=3, key_added="m")
    for a, b in zip(before, (adata.X.data, adata.X.indices, adata.X.indptr), strict=True):
        np.testing.assert_array_equal(a, b)
    reference = _toy(X.toarray())
    tk.tl.score(reference, {"s": ["G1", "G2"]}, max_rank=4)
    np.testing.assert_array_equal(adata.obsm["tmekit_scores"].to_numpy(), reference.obsm["tmekit_scores"].to_numpy())


def test_rank_is_identical_on_counts_and_log_normalised(wu_counts, wu_lognorm):
    # normalize_total scales a cell and log1p is monotone: within-cell ranks, so rank scores, cannot change.
    names = ["exhaustion_core_curated", "m2_tam_bagaev2021", "cxcl13_t_zheng2021", "ifng6_ayers2017", "caf_bagaev2021"]
    a, b = wu_counts, wu_lognorm.copy()
    tk.tl.score(a, names)
    tk.tl.score(b, names)
    np.testing.assert_array_equal(a.obsm["tmekit_scores"].to_numpy(), b.obsm["tmekit_scores"].to_numpy())


def test_mean_refuses_raw_counts(wu_counts):
    with pytest.raises(ValueError, match=r"raw counts.*sc\.pp\.normalize_total.*method='rank' works on counts"):
        tk.tl.score(wu_counts, "ifng6_ayers2017", method="mean")


def test_nan_is_a_clear_error():
    X = COUNTS / 2
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN/infinite values \(first in cell 3\)"):
        tk.tl.score(_toy(X), {"s": ["G1", "G2"]})


def test_missing_genes_warn_raise_and_diagnose():
    adata = _toy()
    with pytest.warns(tk.MissingGenesWarning, match=r"s 2/3 \(missing \['NOPE'\]\)"):
        tk.tl.score(adata, {"s": ["G1", "G2", "NOPE"]}, max_rank=4)
    assert list(adata.uns["tmekit_scores"]["signatures"]["s"]["genes_missing"]) == ["NOPE"]
    with pytest.raises(ValueError, match=r"s: 1/3 genes.*targeted panel.*lower `min_overlap=`"):
        tk.tl.score(adata, {"s": ["G1", "NOPE", "NADA"]}, overwrite=True)
    with pytest.raises(ValueError, match="min_overlap"):
        tk.tl.score(adata, {"s": ["G1"]}, min_overlap=0, overwrite=True)


def test_ensembl_and_mouse_objects_get_the_cause():
    ens = ad.AnnData(np.ones((2, 3), dtype=np.float32), var=pd.DataFrame(index=[f"ENSG{i:011d}" for i in range(3)]))
    with pytest.raises(ValueError, match=r"Ensembl IDs.*gene_symbols"):
        tk.tl.score(ens, "ifng6_ayers2017")
    mouse_genes = ["Ifng", "Stat1", "Cxcl9", "Cxcl10", "Ido1", "H2-Ab1", "Actb", "Ptprc"]
    mouse = ad.AnnData(np.ones((2, 8), dtype=np.float32), var=pd.DataFrame(index=mouse_genes))
    with pytest.raises(ValueError, match=r"mouse symbols.*species='auto'"):
        tk.tl.score(mouse, "ifng6_ayers2017", species="human")  # forced: no translation
    with pytest.warns(tk.MissingGenesWarning, match=r"missing \['H2-Ea'\].*not expressed in this strain"):
        tk.tl.score(mouse, "ifng6_ayers2017")  # auto: translated through orthologs
    assert mouse.uns["tmekit_scores"]["translations"]["ifng6_ayers2017"]["genes"]["HLA-DRA"] == "H2-Ea"


def test_duplicated_gene_column_is_an_error():
    adata = ad.AnnData(np.ones((2, 3), dtype=np.float32))
    adata.var_names = ["G1", "G2", "G3"]
    adata.var_names = pd.Index(["G1", "G1", "G3"])
    with pytest.raises(ValueError, match="var_names_make_unique"):
        tk.tl.score(adata, {"s": ["G1", "G3"]})


def test_weights_dropped_by_rank_are_announced(wu_lognorm):
    adata = wu_lognorm.copy()
    with pytest.warns(tk.WeightsDroppedWarning, match="gep18_weighted_cristescu2018"):
        tk.tl.score(adata, "gep18_weighted_cristescu2018")
    assert not adata.uns["tmekit_scores"]["signatures"]["gep18_weighted_cristescu2018"]["weights_used"]


def test_mean_rng_is_reproducible_and_per_signature(wu_lognorm):
    runs = []
    for rng, names in [(0, ["ifng6_ayers2017"]), (0, ["caf_bagaev2021", "ifng6_ayers2017"]), (1, ["ifng6_ayers2017"])]:
        adata = wu_lognorm.copy()
        tk.tl.score(adata, names, method="mean", rng=rng)
        runs.append(list(adata.uns["tmekit_scores"]["signatures"]["ifng6_ayers2017"]["control_genes"]))
    assert runs[0] == runs[1]  # scoring another set alongside does not change this set's controls
    assert runs[0] != runs[2]  # another seed draws other controls
    a, b = wu_lognorm.copy(), wu_lognorm.copy()
    tk.tl.score(a, "ifng6_ayers2017", method="mean", rng=np.random.default_rng(5))
    tk.tl.score(b, "ifng6_ayers2017", method="mean", rng=np.random.default_rng(5))
    # the score by hand: mean of the signature's genes minus mean of the control genes the seed drew
    info = a.uns["tmekit_scores"]["signatures"]["ifng6_ayers2017"]
    assert list(b.uns["tmekit_scores"]["signatures"]["ifng6_ayers2017"]["control_genes"]) == list(info["control_genes"])
    X = wu_lognorm.X.toarray() if hasattr(wu_lognorm.X, "toarray") else np.asarray(wu_lognorm.X)
    column = wu_lognorm.var_names.get_indexer
    expected = X[:, column(info["genes_used"])].mean(axis=1) - X[:, column(info["control_genes"])].mean(axis=1)
    np.testing.assert_allclose(np.asarray(a.obsm["tmekit_scores"]["ifng6_ayers2017"]), expected, atol=1e-6)


def test_control_genes_validation():
    adata = _toy(COUNTS / 2)
    with pytest.raises(ValueError, match="contains signature genes"):
        tk.tl.score(adata, {"s": ["G1", "G2"]}, method="mean", control_genes={"s": ["G1", "G5"]})
    with pytest.raises(ValueError, match=r"not in `adata\.var_names`"):
        tk.tl.score(adata, {"s": ["G1", "G2"]}, method="mean", control_genes={"s": ["G99"]})
    with pytest.raises(ValueError, match="not being scored"):
        tk.tl.score(adata, {"s": ["G1", "G2"]}, method="mean", control_genes={"other": ["G5"]})
    tk.tl.score(adata, {"s": ["G1", "G2"]}, method="mean", control_genes={"s": ["G5", "G6"]})
    X = COUNTS / 2
    expected = X[:, :2].mean(axis=1) - X[:, 4:6].mean(axis=1)
    np.testing.assert_allclose(adata.obsm["tmekit_scores"]["s"], expected, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "aucell"}, ValueError, r"Unknown scoring method 'aucell'.*'mean', 'rank'"),
        ({"max_rank": 0}, ValueError, "positive integer"),
        ({"n_jobs": 99}, ValueError, "n_jobs"),
        ({"layer": "nope"}, KeyError, "nope"),
        ({"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tk.tl.score(_toy(COUNTS / 2), {"s": ["G1", "G2"]}, **kwargs)


def test_empty_object_and_empty_cells():
    with pytest.raises(ValueError, match="empty object"):
        tk.tl.score(_toy()[:0].copy(), {"s": ["G1"]})
    adata = _toy()
    tk.tl.score(adata, {"s": ["G1", "G2"]}, max_rank=4)
    assert adata.obsm["tmekit_scores"].loc["B", "s"] == 0.0  # an empty cell scores 0, not NaN


def test_gmt_and_library_inputs(tmp_path, wu_lognorm):
    path = tk.signatures.write_gmt([tk.signatures.get("cyt_rooney2015")], tmp_path / "x.gmt")
    a, b = wu_lognorm.copy(), wu_lognorm.copy()
    tk.tl.score(a, path)
    tk.tl.score(b, "cyt_rooney2015")
    np.testing.assert_array_equal(a.obsm["tmekit_scores"], b.obsm["tmekit_scores"])


def test_score_methods_table():
    table = tk.tl.score_methods()
    assert table.loc["rank", "cell_independent"]
    assert not table.loc["mean", "cell_independent"]
    assert table.loc["mean", "supports_weights"]
    assert not table.loc["rank", "supports_weights"]
