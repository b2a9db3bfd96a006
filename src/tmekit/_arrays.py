"""Row-chunk access to any AnnData matrix: numpy, scipy sparse, backed h5ad, dask.

Every numeric pass in tmekit streams the matrix through :func:`iter_row_blocks`, so memory is
bounded by the chunk and every array type goes through the same code. A block is either a
dense ``numpy.ndarray`` or a ``scipy.sparse.csr_matrix``.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

__all__ = ["array_type_name", "default_chunk_size", "get_matrix", "iter_row_blocks", "to_block"]

#: Target number of stored values per chunk (~64 MB as float64 dense-equivalent of sparse data).
_TARGET_VALUES_PER_CHUNK = 8_000_000


def get_matrix(adata: AnnData, *, layer: str | None) -> Any:
    """``adata.X`` or ``adata.layers[layer]``, with a clear error when missing. Never copies."""
    if layer is None:
        if adata.X is None:
            where = f"its layers are {list(adata.layers)}" if len(adata.layers) else "it has no layers either"
            msg = (
                "`adata.X` is empty (None): the object holds no expression matrix there (positions and cell types "
                f"only?), and {where}. Pass `layer=` naming the layer with expression values."
            )
            raise ValueError(msg)
        return adata.X
    if layer not in adata.layers:
        msg = f"`adata.layers[{layer!r}]` not found. Available layers: {list(adata.layers)}; use `layer=None` for X."
        raise KeyError(msg)
    return adata.layers[layer]


def _nnz_per_row(X: Any) -> float:
    n_obs, n_vars = X.shape
    if n_obs == 0:
        return 0.0
    if sp.issparse(X):
        return X.nnz / n_obs
    nnz = getattr(X, "nnz", None)  # backed sparse datasets expose nnz without reading data
    if nnz is None and hasattr(X, "group") and "data" in getattr(X, "group", {}):
        nnz = X.group["data"].shape[0]
    return float(nnz) / n_obs if nnz is not None else float(n_vars)


def default_chunk_size(X: Any) -> int:
    """Rows per chunk so that one chunk holds about 8 million stored values (at least 256 rows)."""
    per_row = max(_nnz_per_row(X), 1.0)
    return int(max(256, min(X.shape[0] or 1, _TARGET_VALUES_PER_CHUNK // per_row)))


@functools.singledispatch
def to_block(chunk: Any) -> np.ndarray | sp.csr_matrix:
    """Normalise one sliced chunk to a dense ndarray or a CSR matrix."""
    msg = f"tmekit cannot read a matrix of type {type(chunk).__module__}.{type(chunk).__name__}."
    raise TypeError(msg)


@to_block.register(np.ndarray)
def _(chunk: np.ndarray) -> np.ndarray:
    return np.asarray(chunk)


@to_block.register(np.matrix)
def _(chunk: np.matrix) -> np.ndarray:
    return np.asarray(chunk)


@to_block.register(sp.spmatrix)
@to_block.register(sp.sparray)
def _(chunk: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    if isinstance(chunk, sp.csr_matrix):
        return chunk  # never re-wrap: scipy's constructor copies row-chunk views (see _csr_views)
    return sp.csr_matrix(chunk)


def _slice_rows(X: Any, start: int, stop: int) -> Any:
    if isinstance(X, h5py.Dataset):
        return X[start:stop]
    if type(X).__module__.startswith("dask"):
        return X[start:stop].compute()
    return X[start:stop]


def iter_row_blocks(
    X: Any, *, chunk_size: int | None = None, reuse_buffers: bool = False
) -> Iterator[tuple[int, int, np.ndarray | sp.csr_matrix]]:
    """Yield ``(start, stop, block)`` over consecutive row ranges of ``X``.

    Works on numpy arrays, scipy sparse matrices/arrays (CSR, CSC, COO), anndata backed datasets
    (``backed="r"``; on-disk CSR is read one block ahead), h5py datasets and dask arrays (each chunk
    computed on its own). ``reuse_buffers=True`` lets on-disk CSR blocks share two alternating buffers:
    only for consumers that are done with a block when they ask for the next (never keep a block).
    """
    n_obs = X.shape[0]
    size = default_chunk_size(X) if chunk_size is None else int(chunk_size)
    if size < 1:
        msg = f"`chunk_size` must be a positive number of rows, got {chunk_size}."
        raise ValueError(msg)
    if sp.issparse(X) and X.format not in {"csr", "csc"}:
        X = sp.csr_matrix(X)  # COO/LIL/... cannot be row-sliced
    if sp.issparse(X) and X.format == "csr":
        yield from _csr_views(X, size)
        return
    if _is_backed_csr(X):
        yield from _backed_csr_blocks(X, size, reuse_buffers=reuse_buffers)
        return
    for start in range(0, n_obs, size):
        stop = min(start + size, n_obs)
        yield start, stop, to_block(_slice_rows(X, start, stop))


def _csr_views(X: Any, size: int) -> Iterator[tuple[int, int, sp.csr_matrix]]:
    """Row blocks of an in-memory CSR matrix as views of its arrays (no copy of data or indices)."""
    for start in range(0, X.shape[0], size):
        stop = min(start + size, X.shape[0])
        lo, hi = X.indptr[start], X.indptr[stop]
        # Built by assigning the arrays: the (data, indices, indptr) constructor "prunes" views smaller than
        # half of their base by copying them, which would copy the whole matrix once per pass.
        view = sp.csr_matrix((stop - start, X.shape[1]), dtype=X.dtype)
        view.indptr = (X.indptr[start : stop + 1] - lo).astype(X.indices.dtype, copy=False)
        view.indices = X.indices[lo:hi]
        view.data = X.data[lo:hi]
        yield start, stop, view


def _is_backed_csr(X: Any) -> bool:
    group = getattr(X, "group", None)
    return (
        type(X).__module__.startswith("anndata")
        and getattr(X, "format", None) == "csr"
        and group is not None
        and all(k in group for k in ("data", "indices", "indptr"))
    )


def _backed_csr_blocks(X: Any, size: int, *, reuse_buffers: bool) -> Iterator[tuple[int, int, sp.csr_matrix]]:
    """Row blocks of an on-disk CSR matrix (backed h5ad or a zarr group), the next one read while this one is used.

    Reads the stored ``data``/``indices`` range of each row block directly (the values anndata's row slicing
    returns, without its per-slice validation), one block ahead on a single reader thread, so reading overlaps
    the numba kernels and at most two blocks are in memory. With ``reuse_buffers`` the blocks are read into two
    alternating preallocated buffers (no fresh allocation per block): a block is then valid only until the
    next one is requested.
    """
    group = X.group
    indptr = np.asarray(group["indptr"][...])
    data, indices = group["data"], group["indices"]
    n_obs, n_vars = X.shape
    starts = list(range(0, n_obs, size))
    buffers: list[tuple[np.ndarray, np.ndarray]] = []
    if reuse_buffers and hasattr(data, "read_direct") and hasattr(indices, "read_direct") and starts:
        bounds = indptr[[*starts, n_obs]]
        widest = int(np.diff(bounds).max())
        buffers = [(np.empty(widest, data.dtype), np.empty(widest, indices.dtype)) for _ in range(2)]

    def read(k: int) -> sp.csr_matrix:
        start = starts[k]
        stop = min(start + size, n_obs)
        lo, hi = int(indptr[start]), int(indptr[stop])
        block = sp.csr_matrix((stop - start, n_vars), dtype=data.dtype)
        if buffers:
            values, columns = buffers[k % 2]
            if hi > lo:
                data.read_direct(values, np.s_[lo:hi], np.s_[0 : hi - lo])
                indices.read_direct(columns, np.s_[lo:hi], np.s_[0 : hi - lo])
            block.data, block.indices = values[: hi - lo], columns[: hi - lo]
        else:
            block.data, block.indices = np.asarray(data[lo:hi]), np.asarray(indices[lo:hi])
        block.indptr = (indptr[start : stop + 1] - lo).astype(block.indices.dtype, copy=False)
        return block

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tmekit-read") as reader:
        pending = reader.submit(read, 0) if starts else None
        for k, start in enumerate(starts):
            block = pending.result()
            # The consumer is done with block k-1 when it asks for block k: its buffer can take block k+1.
            pending = reader.submit(read, k + 1) if k + 1 < len(starts) else None
            yield start, min(start + size, n_obs), block


def array_type_name(X: Any) -> str:
    """Short description of the array type, for reports (e.g. ``'scipy csr_matrix'``, ``'backed CSR'``)."""
    if isinstance(X, np.ndarray):
        return "numpy ndarray"
    if sp.issparse(X):
        return f"scipy {type(X).__name__}"
    if isinstance(X, h5py.Dataset):
        return "backed dense (h5py)"
    module = type(X).__module__
    if module.startswith("dask"):
        return "dask array"
    if module.startswith("anndata"):
        fmt = getattr(X, "format", "sparse")
        return f"backed {str(fmt).upper()}"
    return f"{module}.{type(X).__name__}"
