"""The compiled kernels against plain numpy on inputs that reach every path: few and many distinct values, wide
and skewed value ranges, ties, explicit zeros, rows stored in any order (issue 20: no sort, no copy)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import rankdata

from tmekit import _kernels


def _ucell(X: np.ndarray, genes: np.ndarray, max_rank: int) -> np.ndarray:
    """UCell by definition: ranks among the non-zero values of the cell (1 = highest, ties averaged), capped."""
    out = np.empty(X.shape[0])
    n = len(genes)
    for i, row in enumerate(X):
        ranks = np.full(X.shape[1], float(max_rank))
        nz = np.flatnonzero(row)
        if nz.size:
            ranks[nz] = np.minimum(rankdata(-row[nz], method="average"), max_rank)
        s_min, s_max = n * (n + 1) / 2, n * max_rank
        out[i] = max(0.0, 1 - (ranks[genes].sum() - s_min) / (s_max - s_min))  # (negative when n > max_rank)
    return out


def _shuffled_rows(X: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    Y = X.copy()
    for i in range(Y.shape[0]):
        a, b = Y.indptr[i], Y.indptr[i + 1]
        order = rng.permutation(b - a) + a
        Y.indices[a:b], Y.data[a:b] = Y.indices[order], Y.data[order]
    Y.has_sorted_indices = False
    return Y


VALUES = {
    "counts": lambda rng, shape: rng.poisson(1.5, shape).astype(float),
    "gamma": lambda rng, shape: rng.gamma(2.0, 1.0, shape),
    "skewed": lambda rng, shape: rng.lognormal(0.0, 6.0, shape),  # 1e-8 .. 1e8: most values in a few bins
    "clustered": lambda rng, shape: np.round(rng.gamma(2.0, 1.0, shape), 1) + rng.random(shape) * 1e-9,
}


@pytest.mark.parametrize("kind", list(VALUES))
@pytest.mark.parametrize("max_rank", [25, 1500])
@pytest.mark.parametrize("n_genes", [150, 330])  # ~75 / ~165 expressed: one straight count / the two-level one
def test_rank_kernel_equals_rankdata(kind, max_rank, n_genes):
    rng = np.random.default_rng(3)
    X = VALUES[kind](rng, (80, 400)) * (rng.random((80, 400)) < 0.5)
    X[:5, :] = 0.0  # empty cells
    X[5:10, :60] = 2.0  # a block of ties, spanning the signature
    genes = np.sort(rng.choice(400, n_genes, replace=False))
    slot, mem_ptr, mem_sig, mem_down = _kernels.membership(400, np.array([0, n_genes]), genes, np.array([0, 0]),
                                                           np.array([], dtype=np.int64))  # fmt: skip
    csr = sp.csr_matrix(X)
    csr.data[::7] = 0.0  # explicit zeros count as not expressed
    dense = csr.toarray()
    for block in (csr, _shuffled_rows(csr, rng)):
        got = _kernels.rank_scores(block.data, block.indices, block.indptr, np.array([n_genes]), np.array([0]), slot,
                                   mem_ptr, mem_sig, mem_down, float(max_rank), 1.0, 4)[:, 0]  # fmt: skip
        np.testing.assert_allclose(got, _ucell(dense, genes, max_rank), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 3])
def test_weighted_sums_identical_in_any_storage_order(n_threads):
    """Sums in the genes' order, whatever order a row stores them in: bit for bit, and equal to numpy."""
    rng = np.random.default_rng(5)
    X = sp.random(120, 3000, density=0.05, format="csr", random_state=1, data_rvs=lambda n: rng.lognormal(0, 2, n))
    W = sp.random(3000, 7, density=0.02, format="csr", random_state=2, data_rvs=lambda n: rng.normal(0, 1, n))
    W.sort_indices()

    def sums(M):
        return _kernels.weighted_sums(M.data, M.indices, M.indptr, 3000, W.indptr, W.indices, W.data, 7, n_threads)

    ordered = sums(X)
    np.testing.assert_allclose(ordered, (X @ W).toarray(), rtol=1e-12, atol=1e-12)
    for seed in range(3):
        assert np.array_equal(sums(_shuffled_rows(X, np.random.default_rng(seed))), ordered)
    backwards = sp.diags(np.ones(X.shape[0])) @ X  # scipy's product stores each row in descending order
    assert not backwards.has_sorted_indices and np.all(np.diff(backwards.indices[: backwards.indptr[1]]) < 0)
    assert np.array_equal(sums(backwards), ordered)
    one_by_one = np.zeros_like(ordered)  # the sorted row summed in storage order: the same additions
    for i in range(X.shape[0]):
        for p in range(X.indptr[i], X.indptr[i + 1]):
            g = X.indices[p]
            for m in range(W.indptr[g], W.indptr[g + 1]):
                one_by_one[i, W.indices[m]] += X.data[p] * W.data[m]
    assert np.array_equal(ordered, one_by_one)
