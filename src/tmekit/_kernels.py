"""Compiled per-cell kernels (numba) over CSR row blocks.

Each kernel takes one CSR block (``data``, ``indices``, ``indptr``) and writes one row of ``out``
per cell. Cells are split into contiguous blocks, one per thread; every cell is computed from its
own row only, so results do not depend on the number of threads, the chunk size or the other
cells in the object.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["block_column_sums", "membership", "nonfinite_and_min", "rank_scores", "weighted_sums"]

_BLOCK = 16  # distinct signature values per block of the two-level count (_count_below)
_LINEAR = 128  # up to this many distinct signature values in a cell, one straight count beats the two-level one


def membership(
    n_vars: int, up_ptr: np.ndarray, up_genes: np.ndarray, down_ptr: np.ndarray, down_genes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Map genes to the signatures that contain them.

    Returns ``slot`` (per gene: -1, or its index among signature genes), and in CSR form over
    slots: ``mem_ptr``, ``mem_sig`` (signature index) and ``mem_down`` (1 for a down gene).
    """
    pairs: dict[int, list[tuple[int, int]]] = {}
    for down, (ptr, genes) in enumerate(((up_ptr, up_genes), (down_ptr, down_genes))):
        for s in range(len(ptr) - 1):
            for g in genes[ptr[s] : ptr[s + 1]]:
                pairs.setdefault(int(g), []).append((s, down))
    slot = np.full(n_vars, -1, dtype=np.int32)
    mem_ptr = np.zeros(len(pairs) + 1, dtype=np.int64)
    mem_sig, mem_down = [], []
    for i, (g, members) in enumerate(sorted(pairs.items())):
        slot[g] = i
        mem_ptr[i + 1] = mem_ptr[i] + len(members)
        mem_sig += [s for s, _ in members]
        mem_down += [d for _, d in members]
    return slot, mem_ptr, np.array(mem_sig, dtype=np.int64), np.array(mem_down, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _signature_gene_ranks(data, indices, start, stop, max_rank, slot, work):  # noqa: PLR0917
    """UCell ranks of this cell's expressed signature genes.

    The rank of a value v among the cell's non-zero values (1 = highest, ties averaged) is
    1 + #(values > v) + (#(values == v) - 1) / 2, capped at ``max_rank``. Only the few distinct
    values of the expressed signature genes are needed, so the row is scanned once (no sort of the
    row) and each of its values located among those m values by counting, not bisecting: up to
    ``_LINEAR`` values, over all of them (padded with +inf to a whole ``_BLOCK``); beyond, first how many of
    every ``_BLOCK``-th value lie below it (which block it falls in), then how many in that block. The counts
    are straight loops the compiler vectorises, with no chain of dependent loads and no branch to mispredict,
    so continuous data (hundreds of distinct values, every comparison a coin flip) cost about what counts do.
    Fills ``work`` = (slots, values, ranks, uniq, above, equal, starts) and returns how many genes it holds.
    """
    slots, values, ranks, uniq, above, equal, starts = work
    k = 0
    for p in range(start, stop):
        v = data[p]
        if v != 0:
            s = slot[indices[p]]
            if s >= 0:
                slots[k] = s
                values[k] = v
                k += 1
    if k == 0:
        return 0
    sorted_values = np.sort(values[:k])
    m = 0
    for q in range(k):
        if m == 0 or sorted_values[q] != uniq[m - 1]:
            uniq[m] = sorted_values[q]
            m += 1
    above[:, : m + 1] = 0  # above[c, j]: values with exactly j distinct signature values below them
    for j in range(m):
        equal[j] = 0
    lowest = uniq[0]
    uniq[m : m + _BLOCK] = np.inf  # so that every block holds _BLOCK values: a fixed-length, unrolled count
    n_starts = (m + _BLOCK - 1) // _BLOCK
    m_pad = n_starts * _BLOCK
    for c in range(n_starts):
        starts[c] = uniq[c * _BLOCK]
    for p in range(start, stop):
        v = data[p]
        if v < lowest or v == 0:  # below every signature value: outranks no signature gene
            continue
        if m <= _LINEAR:  # up to 128 distinct values: one straight count over them all, padded to a block
            lo = 0
            for j in range(m_pad):
                lo += uniq[j] < v
        else:
            lo = _count_below(uniq, m, starts, n_starts, v)
        above[p & 3, lo] += 1  # four interleaved histograms avoid store-to-load stalls
        if lo < m and uniq[lo] == v:
            equal[lo] += 1
    for j in range(1, m + 1):
        above[0, j] += above[1, j] + above[2, j] + above[3, j]
    greater = 0.0
    for j in range(m - 1, -1, -1):  # uniq[j] is the (m - j)-th largest signature value
        greater += above[0, j + 1]
        above[0, j + 1] = min(1.0 + greater + 0.5 * (equal[j] - 1), max_rank)  # now the rank of uniq[j]
    for q in range(k):
        ranks[q] = above[0, _count_below(uniq, m, starts, n_starts, values[q]) + 1]
    return k


@numba.njit(cache=True, nogil=True, inline="always")
def _count_below(uniq, m, starts, n_starts, v):
    """How many of the ascending distinct values ``uniq[:m]`` are below ``v``.

    ``starts[c] = uniq[c * _BLOCK]``. The blocks whose first value is below ``v`` (after the first) say which block
    ``v`` falls in; everything before that block is below ``v``, everything after it is not.
    """
    block = 0
    for c in range(1, n_starts):
        block += starts[c] < v
    lo = block * _BLOCK
    count = lo
    for j in range(_BLOCK):  # uniq is padded with +inf: never counted
        count += uniq[lo + j] < v
    return count


@numba.njit(cache=True, nogil=True)
def _u(rank_sum, n, max_rank):
    if n == 0:
        return 0.0
    s_min = n * (n + 1) / 2.0
    s_max = n * max_rank
    if s_max == s_min:
        return 0.0
    return 1.0 - (rank_sum - s_min) / (s_max - s_min)


@numba.njit(cache=True, parallel=True)
def rank_scores(  # noqa: PLR0917 - flat arrays are how numba kernels take structured input
    data, indices, indptr, n_up, n_down, slot, mem_ptr, mem_sig, mem_down, max_rank, w_neg, n_blocks
):
    """UCell scores (Andreatta & Carmona 2021) for every cell of a CSR block and every signature.

    ``n_up``/``n_down`` count each signature's up and down genes; ``slot``/``mem_*`` come from
    :func:`membership`. Score = max(0, U_up - w_neg * U_down) with U = 1 - (sum of ranks - n(n+1)/2)
    / (n * max_rank - n(n+1)/2); genes not expressed, or ranked beyond ``max_rank``, count as
    ``max_rank``. Explicit zeros in ``data`` are treated as not expressed.
    """
    n_cells = indptr.size - 1
    n_sigs = n_up.size
    n_slots = mem_ptr.size - 1
    out = np.zeros((n_cells, n_sigs), dtype=np.float64)
    step = (n_cells + n_blocks - 1) // n_blocks
    for b in numba.prange(n_blocks):
        work = (
            np.empty(n_slots, dtype=np.int64),
            np.empty(n_slots, dtype=np.float64),
            np.empty(n_slots, dtype=np.float64),
            np.empty(n_slots + _BLOCK, dtype=np.float64),  # uniq, padded with +inf after its last value
            np.zeros((4, n_slots + 1), dtype=np.float64),
            np.zeros(n_slots, dtype=np.int64),
            np.empty(n_slots // _BLOCK + 1, dtype=np.float64),
        )
        deficit = np.zeros((n_sigs, 2), dtype=np.float64)  # sum of (max_rank - rank) of expressed genes
        for i in range(b * step, min((b + 1) * step, n_cells)):
            k = _signature_gene_ranks(data, indices, indptr[i], indptr[i + 1], max_rank, slot, work)
            for q in range(k):
                s = work[0][q]
                for mpos in range(mem_ptr[s], mem_ptr[s + 1]):
                    deficit[mem_sig[mpos], mem_down[mpos]] += max_rank - work[2][q]
            for s in range(n_sigs):
                up = _u(n_up[s] * max_rank - deficit[s, 0], n_up[s], max_rank)
                down = _u(n_down[s] * max_rank - deficit[s, 1], n_down[s], max_rank)
                out[i, s] = max(0.0, up - w_neg * down)
                deficit[s, 0] = 0.0
                deficit[s, 1] = 0.0
    return out


_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)  # a de Bruijn sequence: (lowest bit * it) >> 58 names the bit


def _debruijn_positions() -> np.ndarray:
    table = np.zeros(64, dtype=np.int64)
    for i in range(64):
        table[((1 << i) * int(_DEBRUIJN) & (2**64 - 1)) >> 58] = i
    return table


_BIT_POSITION = _debruijn_positions()


@numba.njit(cache=True, parallel=True)
def weighted_sums(data, indices, indptr, n_vars, w_ptr, w_cols, w_vals, n_sigs, n_blocks):  # noqa: PLR0917
    """``out[i, s] = sum_j x_ij * W[j, s]`` for a CSR block and a gene-major sparse weight matrix W.

    ``w_ptr``/``w_cols``/``w_vals`` store W row by row (one row per gene). Every signature sums its genes in
    ascending gene order, whatever order a row stores them in (no sort, no copy of the block): a row stored
    in ascending order is summed as stored, one stored in descending order (what ``diags @ X`` makes) backwards;
    any other row is scattered into a dense buffer, its weighted genes marked in a bitmap, and the bitmap read in
    ascending order. So sorted and unsorted rows give identical sums.
    """
    n_cells = indptr.size - 1
    n_words = (n_vars + 63) >> 6
    out = np.zeros((n_cells, n_sigs), dtype=np.float64)
    step = (n_cells + n_blocks - 1) // n_blocks
    one = np.uint64(1)
    weighted = np.zeros(n_vars, dtype=np.uint8)  # 1 byte per gene: stays in the first-level cache
    for gene in range(n_vars):
        weighted[gene] = w_ptr[gene + 1] > w_ptr[gene]
    for b in numba.prange(n_blocks):
        buf = np.zeros(n_vars, dtype=np.float64)
        bits = np.zeros(n_words, dtype=np.uint64)
        for i in range(b * step, min((b + 1) * step, n_cells)):
            ascending = descending = True
            for k in range(indptr[i] + 1, indptr[i + 1]):
                ascending &= indices[k] > indices[k - 1]
                descending &= indices[k] < indices[k - 1]
            if ascending or descending:  # as stored, or backwards (``diags @ X`` stores rows backwards)
                n_row = indptr[i + 1] - indptr[i]
                for t in range(n_row):
                    k = indptr[i] + t if ascending else indptr[i + 1] - 1 - t
                    gene = indices[k]
                    x = np.float64(data[k])
                    for m in range(w_ptr[gene], w_ptr[gene + 1]):
                        out[i, w_cols[m]] += x * w_vals[m]
                continue
            for k in range(indptr[i], indptr[i + 1]):
                gene = indices[k]
                if weighted[gene]:
                    buf[gene] += np.float64(data[k])
                    bits[gene >> 6] |= one << np.uint64(gene & 63)
            for word in range(n_words):
                pending = bits[word]
                if not pending:
                    continue
                bits[word] = 0
                while pending:
                    lowest = pending & (~pending + one)
                    gene = (word << 6) + _BIT_POSITION[(lowest * _DEBRUIJN) >> np.uint64(58)]
                    x = buf[gene]
                    for m in range(w_ptr[gene], w_ptr[gene + 1]):
                        out[i, w_cols[m]] += x * w_vals[m]
                    buf[gene] = 0.0
                    pending ^= lowest
    return out


@numba.njit(cache=True, parallel=True)
def block_column_sums(data, indices, indptr, n_vars, rows_per_block):
    """Column sums of each consecutive ``rows_per_block``-row block of a CSR chunk (one row per block).

    Blocks are summed in parallel, each in storage order; callers add the block rows in order, so the
    totals do not depend on the number of threads.
    """
    n_cells = indptr.size - 1
    n_blocks = (n_cells + rows_per_block - 1) // rows_per_block
    partial = np.zeros((n_blocks, n_vars), dtype=np.float64)
    for b in numba.prange(n_blocks):
        for i in range(b * rows_per_block, min((b + 1) * rows_per_block, n_cells)):
            for p in range(indptr[i], indptr[i + 1]):
                partial[b, indices[p]] += data[p]
    return partial


@numba.njit(cache=True, parallel=True)
def nonfinite_and_min(data, n_blocks):
    """How many values of ``data`` are NaN or infinite, and the smallest finite one (+inf if none): one pass.

    Blocks are scanned in parallel; a count and a minimum do not depend on the order they are combined in.
    """
    step = (data.size + n_blocks - 1) // max(n_blocks, 1)
    bad = np.zeros(n_blocks, dtype=np.int64)
    low = np.full(n_blocks, np.inf)
    for b in numba.prange(n_blocks):
        n_bad = 0
        m = np.inf
        for p in range(b * step, min((b + 1) * step, data.size)):
            v = data[p]
            if np.isfinite(v):
                m = min(m, v)
            else:
                n_bad += 1
        bad[b] = n_bad
        low[b] = m
    return int(bad.sum()), float(low.min()) if n_blocks else np.inf
