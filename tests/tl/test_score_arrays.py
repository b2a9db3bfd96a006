"""Identical scores on every array type, chunk size and thread count (and from a backed file)."""

from __future__ import annotations

import anndata as ad
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp

import tmekit as tk

NAMES = ["ifng6_ayers2017", "caf_bagaev2021", "exhaustion_core_curated", "hypoxia_buffa2010", "marker_t"]


@pytest.fixture(scope="module")
def small_lognorm(wu_lognorm):
    return wu_lognorm[:300].copy()


@pytest.fixture(scope="module")
def reference(small_lognorm):
    out = {}
    for method in ("rank", "mean"):
        adata = small_lognorm.copy()
        tk.tl.score(adata, NAMES, method=method)
        out[method] = adata.obsm["tmekit_scores"].to_numpy()
    return out


@pytest.mark.parametrize("method", ["rank", "mean"])
def test_identical_across_array_types(small_lognorm, reference, array_type, method):
    kind, convert = array_type
    adata = ad.AnnData(X=convert(small_lognorm.X.toarray()), obs=small_lognorm.obs, var=small_lognorm.var)
    tk.tl.score(adata, NAMES, method=method)
    np.testing.assert_array_equal(adata.obsm["tmekit_scores"].to_numpy(), reference[method])
    assert "dask" not in kind or isinstance(adata.X, da.Array)  # the user's X stays a dask array


@pytest.mark.parametrize("method", ["rank", "mean"])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10_000])
def test_identical_across_chunk_sizes(small_lognorm, reference, chunk_size, method):
    adata = small_lognorm.copy()
    tk.tl.score(adata, NAMES, method=method, chunk_size=chunk_size)
    np.testing.assert_array_equal(adata.obsm["tmekit_scores"].to_numpy(), reference[method])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_identical_across_thread_counts(small_lognorm, reference, n_jobs):
    adata = small_lognorm.copy()
    tk.tl.score(adata, NAMES, n_jobs=n_jobs)
    np.testing.assert_array_equal(adata.obsm["tmekit_scores"].to_numpy(), reference["rank"])


@pytest.mark.parametrize("method", ["rank", "mean"])
def test_backed_file_gives_the_same_scores(tmp_path, small_lognorm, reference, method):
    path = tk.io.write_h5ad(small_lognorm, tmp_path / "small.h5ad")
    backed = tk.io.read_h5ad(path, backed="r")
    tk.tl.score(backed, NAMES, method=method, chunk_size=50)
    np.testing.assert_array_equal(backed.obsm["tmekit_scores"].to_numpy(), reference[method])
    assert backed.isbacked
    backed.file.close()


def test_layer_gives_the_same_scores_as_X(small_lognorm, reference):
    adata = small_lognorm.copy()
    adata.layers["lognorm"] = adata.X.copy()
    adata.X = sp.csr_matrix(adata.shape, dtype=np.float32)
    tk.tl.score(adata, NAMES, layer="lognorm")
    np.testing.assert_array_equal(adata.obsm["tmekit_scores"].to_numpy(), reference["rank"])
    assert adata.uns["tmekit_scores"]["params"]["layer"] == "lognorm"
