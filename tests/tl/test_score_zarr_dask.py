"""Scores from a zarr store, read eagerly or lazily (dask), and on a dask.distributed cluster, equal in-memory ones."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
import zarr
from dask.distributed import Client, LocalCluster, get_task_stream

import tmekit as tk

SETS = ["ifng6_ayers2017", "cd8_teff_mariathasan2018", "caf_bagaev2021"]


@pytest.fixture(scope="module")
def store(wu_lognorm, tmp_path_factory):
    path = tmp_path_factory.mktemp("zarr") / "wu.zarr"
    with warnings.catch_warnings():  # anndata's notices about its future zarr defaults, not about tmekit
        warnings.simplefilter("ignore", UserWarning)
        wu_lognorm.write_zarr(path)
    return path


@pytest.mark.parametrize("method", ["rank", "mean"])
def test_zarr_and_lazy_dask_equal_in_memory(wu_lognorm, store, method):
    ref = wu_lognorm.copy()
    tk.tl.score(ref, SETS, method=method, rng=0)
    eager = ad.read_zarr(store)
    tk.tl.score(eager, SETS, method=method, rng=0)
    lazy_x = ad.experimental.read_elem_lazy(zarr.open_group(store, mode="r")["X"], chunks=(250, -1))
    lazy = ad.AnnData(X=lazy_x, obs=wu_lognorm.obs.copy(), var=wu_lognorm.var.copy())
    tk.tl.score(lazy, SETS, method=method, rng=0)
    np.testing.assert_array_equal(eager.obsm["tmekit_scores"].to_numpy(), ref.obsm["tmekit_scores"].to_numpy())
    np.testing.assert_array_equal(lazy.obsm["tmekit_scores"].to_numpy(), ref.obsm["tmekit_scores"].to_numpy())
    assert lazy.uns["tmekit_scores"]["array_type"] == "dask array"


def test_runs_on_a_local_dask_cluster(wu_lognorm, store):
    ref = wu_lognorm.copy()
    tk.tl.score(ref, SETS, method="mean", rng=0)
    lazy_x = ad.experimental.read_elem_lazy(zarr.open_group(store, mode="r")["X"], chunks=(400, -1))
    lazy = ad.AnnData(X=lazy_x, obs=wu_lognorm.obs.copy(), var=wu_lognorm.var.copy())
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        with get_task_stream(client) as stream:
            tk.tl.score(lazy, SETS, method="mean", rng=0)  # chunks are read and materialised by the cluster's workers
        assert len(client.scheduler_info()["workers"]) == 2
        on_workers = {t["worker"] for t in stream.data}
        assert len(stream.data) >= 2 * lazy_x.numblocks[0]  # every chunk, read for the gene means and the scores
        assert on_workers <= set(client.scheduler_info()["workers"]) and on_workers
    np.testing.assert_array_equal(lazy.obsm["tmekit_scores"].to_numpy(), ref.obsm["tmekit_scores"].to_numpy())


@pytest.mark.parametrize("method", ["rank", "mean"])
def test_lazy_scores_stay_lazy_until_computed_on_a_cluster(wu_lognorm, store, method):
    import dask.array as da

    ref = wu_lognorm.copy()
    tk.tl.score(ref, SETS, method=method, rng=0)
    reads: list[int] = []

    def counted(block):
        reads.append(block.shape[0])  # every chunk read from the store passes here
        return block

    lazy_x = ad.experimental.read_elem_lazy(zarr.open_group(store, mode="r")["X"], chunks=(300, -1))
    lazy_x = lazy_x.map_blocks(counted, dtype=lazy_x.dtype, meta=lazy_x._meta)
    lazy = ad.AnnData(X=lazy_x, obs=wu_lognorm.obs.copy(), var=wu_lognorm.var.copy())
    tk.tl.score(lazy, SETS, method=method, rng=0, lazy=True)
    scores = lazy.obsm["tmekit_scores"]
    assert isinstance(scores, da.Array)  # nothing computed yet: a task graph, one task per row chunk
    assert scores.shape == (wu_lognorm.n_obs, len(SETS)) and scores.numblocks[0] == 6
    if method == "rank":
        assert reads == []  # nothing read from the store yet
    else:
        assert len(reads) >= 6  # mean reads every chunk once, now, for its gene means (documented)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as stream,
    ):
        computed = scores.compute()
    scored = [t for t in stream.data if t["key"][0].startswith("one_chunk")]
    assert len(scored) == 6  # one scoring task per row chunk, run by the cluster's workers at compute time
    np.testing.assert_array_equal(computed, ref.obsm["tmekit_scores"].to_numpy())
    assert list(lazy.uns["tmekit_scores"]["signatures"]) == SETS
    with pytest.raises(TypeError, match="needs a dask array"):
        tk.tl.score(wu_lognorm.copy(), SETS, lazy=True)
