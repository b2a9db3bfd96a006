"""Row blocks read straight from on-disk CSR (backed h5ad, zarr group) equal in-memory row slices."""

from __future__ import annotations

import itertools
import threading
import warnings

import anndata as ad
import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import zarr

from tmekit._arrays import iter_row_blocks


@pytest.fixture(scope="module")
def wu_small(wu_lognorm):
    return wu_lognorm[:700].copy()


@pytest.fixture(scope="module")
def h5ad_path(wu_small, tmp_path_factory):
    path = tmp_path_factory.mktemp("blocks") / "wu.h5ad"
    wu_small.write_h5ad(path)
    return path


def _assert_blocks_equal(blocks, X, size):
    seen = 0
    for start, stop, block in blocks:
        assert (start, stop) == (seen, min(seen + size, X.shape[0]))
        assert sp.issparse(block) and block.format == "csr"
        np.testing.assert_array_equal(block.toarray(), X[start:stop].toarray())
        seen = stop
    assert seen == X.shape[0]


@pytest.mark.parametrize("reuse_buffers", [False, True])
@pytest.mark.parametrize("size", [1, 64, 333, 700, 5000])
def test_backed_h5ad_blocks(wu_small, h5ad_path, size, reuse_buffers):
    backed = ad.read_h5ad(h5ad_path, backed="r")
    blocks = iter_row_blocks(backed.X, chunk_size=size, reuse_buffers=reuse_buffers)
    first = next(blocks)
    assert _reader_threads()  # the direct read-ahead path, not anndata's row slicing
    _assert_blocks_equal(itertools.chain([first], blocks), wu_small.X, size)
    backed.file.close()


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tmekit-read") and t.is_alive()]


def test_zarr_group_blocks(wu_small, tmp_path):
    with warnings.catch_warnings():  # anndata's notices about its future zarr defaults
        warnings.simplefilter("ignore", UserWarning)
        wu_small.write_zarr(tmp_path / "wu.zarr")
    X = ad.io.sparse_dataset(zarr.open_group(tmp_path / "wu.zarr", mode="r")["X"])
    _assert_blocks_equal(iter_row_blocks(X, chunk_size=256), wu_small.X, 256)


def test_kept_blocks_without_buffer_reuse_stay_valid(wu_small, h5ad_path):
    """Without buffer reuse every block owns its arrays, so a consumer may keep them all."""
    backed = ad.read_h5ad(h5ad_path, backed="r")
    kept = [block for _, _, block in iter_row_blocks(backed.X, chunk_size=100)]
    np.testing.assert_array_equal(sp.vstack(kept).toarray(), wu_small.X.toarray())
    backed.file.close()


def test_abandoned_iteration_releases_the_file(h5ad_path):
    backed = ad.read_h5ad(h5ad_path, backed="r")
    blocks = iter_row_blocks(backed.X, chunk_size=50, reuse_buffers=True)
    next(blocks)
    assert _reader_threads()
    blocks.close()  # the reader thread finishes its pending block and stops
    assert not _reader_threads()
    backed.file.close()
    with h5py.File(h5ad_path, "r+"):  # nothing still holds the file open
        pass
