"""`tk.pp.check`: detection on real files and on small objects with known problems."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import tmekit as tk


def _small(X, var_names, **var_cols) -> ad.AnnData:
    adata = ad.AnnData(X=X, var=pd.DataFrame(var_cols, index=var_names))
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    return adata


def _snapshot(adata: ad.AnnData):
    X = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X)
    return X, adata.obs.copy(), adata.var.copy(), set(adata.uns), set(adata.layers), set(adata.obsm)


def test_bundled_wu_is_raw_counts_and_unchanged(wu_counts):
    before = _snapshot(wu_counts)
    report = tk.pp.check(wu_counts)
    after = _snapshot(wu_counts)
    np.testing.assert_array_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])
    pd.testing.assert_frame_equal(before[2], after[2])
    assert before[3:] == after[3:]
    assert report.value_kind == "raw_counts"
    assert "raw_counts" in report.codes
    raw = next(p for p in report.problems if p.code == "raw_counts")
    assert raw.severity == "warning"
    assert "sc.pp.normalize_total" in raw.message and "layer=" in raw.message
    assert report.gene_id_type == "symbol"
    assert report.species == "human"
    assert report.n_nan == 0 and report.n_empty_cells == 0
    assert report.n_obs == 1564 and report.n_vars == 29733
    assert report.max_value == wu_counts.X.max()
    # All-zero genes counted independently.
    assert report.n_empty_genes == int((np.asarray((wu_counts.X != 0).sum(axis=0)).ravel() == 0).sum())
    ov = report.signature_overlap
    assert len(ov) == len(tk.signatures.list())
    assert ov.loc["ifng6_ayers2017", "fraction"] == 1.0
    assert ov.loc["hypoxia_buffa2010", "n_found_via_alias"] == 1  # UTP11 is UTP11L in this annotation
    assert ov.loc["hypoxia_ragnum2015", "missing"] == "FER1L4"
    assert report.ok  # raw counts are a warning, not an error
    assert "raw_counts" in str(report)


def test_log_normalised_is_recognised(wu_lognorm):
    report = tk.pp.check(wu_lognorm)
    assert report.value_kind == "log_normalized"
    assert "10000" in report.value_detail or "1e+04" in report.value_detail
    assert "raw_counts" not in report.codes
    assert report.ok


def test_layer_is_checked_not_X(wu_lognorm):
    adata = wu_lognorm.copy()
    adata.layers["counts"] = sp.csr_matrix(np.expm1(adata.X.toarray()).round())
    assert tk.pp.check(adata, layer="counts").value_kind == "raw_counts"
    assert tk.pp.check(adata, layer="counts").source == "adata.layers['counts']"
    with pytest.raises(KeyError, match=r"layers\['nope'\]` not found.*'counts'"):
        tk.pp.check(adata, layer="nope")


def test_real_xenium_and_wu_files_are_raw_counts(shared_data, read_shared):
    xen = read_shared("xenium_breast_idc/xenium_breast_idc_subregion.h5ad")
    report = tk.pp.check(xen)
    assert report.value_kind == "raw_counts"
    assert "raw_counts" in report.codes
    assert report.species == "human"
    wu = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad")
    assert tk.pp.check(wu).value_kind == "raw_counts"


def test_real_files_of_other_kinds(shared_data, read_shared):
    sade = tk.pp.check(read_shared("sade_feldman_melanoma/sade_feldman_tcells550.h5ad"))
    assert sade.value_kind == "log_normalized"
    zscore = tk.pp.check(read_shared("imvigor210/imvigor210_all348_zscore.h5ad"))
    assert zscore.value_kind == "scaled"
    assert "scaled_values" in zscore.codes
    tpm = tk.pp.check(read_shared("imvigor210/imvigor210_bladder195_log2tpm.h5ad"))
    assert tpm.value_kind == "log_normalized"
    assert "negatives" in tpm.value_detail
    mibi = tk.pp.check(read_shared("keren_tnbc_mibi/keren_tnbc_patient6_full.h5ad"))
    assert mibi.value_kind != "raw_counts" or mibi.max_value > 1
    binary = tk.pp.check(read_shared("keren_tnbc_mibi/keren_tnbc_full33.h5ad"))
    assert binary.value_kind == "binary"


def test_backed_real_file_streams(shared_data, read_shared):
    backed = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad", backed="r")
    in_memory = read_shared("wu2021_breast_cid4465/wu2021_cid4465_tnbc.h5ad")
    a, b = tk.pp.check(backed, chunk_size=300), tk.pp.check(in_memory)
    assert a.array_type.startswith("backed")
    for field in ("value_kind", "max_value", "n_nan", "n_empty_cells", "n_empty_genes", "value_detail"):
        assert getattr(a, field) == getattr(b, field), field
    backed.file.close()


def test_ensembl_ids_detected_with_the_fix():
    ids = [f"ENSG{i:011d}" for i in range(1, 21)]
    adata = _small(np.ones((3, 20), dtype=np.float32), ids, gene_symbols=[f"GENE{i}" for i in range(20)])
    report = tk.pp.check(adata)
    assert report.gene_id_type == "ensembl"
    assert report.species == "human"
    problem = next(p for p in report.problems if p.code == "ensembl_ids")
    assert problem.severity == "error"
    assert "adata.var['gene_symbols']" in problem.message
    assert not report.ok
    assert report.signature_overlap["n_found"].sum() == 0
    mouse_ids = _small(np.ones((2, 3)), ["ENSMUSG00000000001", "ENSMUSG00000000028", "ENSMUSG00000000031"])
    assert tk.pp.check(mouse_ids).species == "mouse"


def test_mouse_symbols_detected():
    genes = ["Cd8a", "Ptprc", "Actb", "Gapdh", "Pdcd1", "Cd3e", "H2-K1", "Havcr2", "Lag3", "Foxp3"]
    report = tk.pp.check(_small(np.ones((4, 10)), genes))
    assert report.species == "mouse"
    problem = next(p for p in report.problems if p.code == "mouse_symbols")
    assert "ortholog" in problem.message and "upper-cas" in problem.message
    assert "tk.tl.score(adata, signatures)" in problem.message and problem.severity == "info"
    assert report.ok  # scoring handles mouse data: not an error any more


def test_mixed_species_detected():
    genes = ["CD8A", "PTPRC", "ACTB", "Cd8a", "Ptprc", "Actb"]
    assert tk.pp.check(_small(np.ones((2, 6)), genes)).species == "mixed"


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_nan_and_inf_detected(fmt):
    X = np.abs(np.random.default_rng(0).normal(size=(6, 5))).astype(np.float32)
    X[1, 2] = np.nan
    X[4, 0] = np.nan
    X[5, 3] = np.inf
    adata = _small(X if fmt == "dense" else sp.csr_matrix(X), ["CD3D", "CD3E", "CD2", "GZMA", "PRF1"])
    report = tk.pp.check(adata)
    assert (report.n_nan, report.n_inf) == (2, 1)
    problem = next(p for p in report.problems if p.code == "nan_values")
    assert problem.severity == "error" and "2 NaN and 1 infinite" in problem.message
    assert not report.ok


# anndata warns about the duplicated names that this test builds on purpose
@pytest.mark.filterwarnings("ignore:Variable names are not unique:UserWarning")
@pytest.mark.filterwarnings("ignore:Observation names are not unique:UserWarning")
def test_empty_cells_duplicates_and_empty_object():
    X = np.array([[1, 2, 0], [0, 0, 0], [3, 0, 1], [0, 0, 0]], dtype=np.float32)
    adata = _small(X, ["CD3D", "CD3D", "GZMA"])
    adata.obs_names = ["a", "b", "a", "c"]
    report = tk.pp.check(adata)
    assert report.n_empty_cells == 2
    assert "empty_cells" in report.codes
    assert "filter_cells" in next(p for p in report.problems if p.code == "empty_cells").message
    assert report.duplicated_var_names == ["CD3D"]
    assert report.n_duplicated_obs_names == 1
    assert {"duplicated_genes", "duplicated_cells"} <= report.codes
    empty = tk.pp.check(adata[:0].copy())
    assert "empty_object" in empty.codes and not empty.ok


def test_unlogged_normalised_values():
    X = np.random.default_rng(1).gamma(1.0, 300.0, size=(20, 30)).astype(np.float32) + 0.5
    report = tk.pp.check(_small(X, [f"G{i}" for i in range(30)]))
    assert report.value_kind == "normalized_unlogged"
    assert "sc.pp.log1p" in next(p for p in report.problems if p.code == "not_log_transformed").message


@pytest.mark.parametrize("chunk_size", [None, 1, 13])
def test_same_report_for_every_array_type_and_chunk_size(wu_lognorm, array_type, chunk_size):
    sub = wu_lognorm[:60, :400]
    dense = sub.X.toarray()
    dense[3] = 0  # one empty cell
    reference = tk.pp.check(ad.AnnData(dense, var=sub.var.copy()))
    adata = ad.AnnData(X=array_type[1](dense), var=sub.var.copy())
    report = tk.pp.check(adata, chunk_size=chunk_size)
    for field in ("value_kind", "value_detail", "max_value", "min_value", "n_nan", "n_empty_cells", "n_empty_genes"):
        assert getattr(report, field) == getattr(reference, field), field
    assert report.n_empty_cells == 1
    pd.testing.assert_frame_equal(report.signature_overlap, reference.signature_overlap)


def test_check_logs_its_summary(wu_counts, caplog):
    with caplog.at_level("INFO", logger="tmekit"):
        tk.pp.check(wu_counts)
    assert "tmekit input check" in caplog.text


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["CD8A", "PTPRC", "C1orf112", "LINC00115", "HLA-DRA"], "human"),
        (["Cd8a", "Ptprc", "Gm12345", "1700001C19Rik", "H2-K1", "Actb"], "mouse"),
        (["1", "2"], "unknown"),
    ],
)
def test_detect_species(names, expected):
    assert tk.pp.detect_species(names) == expected


def test_detect_gene_id_type():
    assert tk.pp.detect_gene_id_type(["ENSG00000188389.3", "ENSG00000120217"]) == "ensembl"
    assert tk.pp.detect_gene_id_type(["PDCD1", "CD274"]) == "symbol"
    assert tk.pp.detect_gene_id_type(["PDCD1", "ENSG00000120217"]) == "mixed"
    assert tk.pp.detect_gene_id_type([]) == "unknown"


def test_positions_checked_per_sample():
    """Two fields in micrometres and one in MIBI pixels: the object's median spacing looks right, the odd sample
    is named; each field alone is consistent with micrometres."""
    fields = [tk.datasets.synthetic_tissue("inflamed", rng=k, sample_id=f"f{k}") for k in range(3)]
    fields[2].obsm["spatial"] = fields[2].obsm["spatial"] / (800 / 2048)
    mixed = ad.concat(fields, merge="first")
    report = tk.pp.check(mixed, library_key="sample_id")
    assert "coordinate_units" in report.codes
    assert "not in 1 of 3 samples ('f2' 2" in report.coordinates["implied"]
    alone = tk.pp.check(fields[0], library_key="sample_id")
    assert "coordinate_units" not in alone.codes and alone.coordinates["implied"] == "consistent with micrometres"
