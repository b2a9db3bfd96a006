"""Scoring methods: a small registry, each method declaring what it is and what it supports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit import _kernels
from tmekit._arrays import default_chunk_size, iter_row_blocks

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tmekit.tl._genes import MatchedSignature

__all__ = ["METHODS", "ScoringMethod", "register_method"]


@dataclass(frozen=True)
class ScoringMethod:
    """One scoring method.

    ``prepare(ctx)`` runs once (it may stream the matrix, e.g. for gene means) and returns a state;
    ``compute(state, block, n_threads)`` scores one CSR row block and returns ``(n_rows, n_signatures)``.
    """

    name: str
    description: str
    citation: str
    cell_independent: bool
    supports_down: bool
    supports_weights: bool
    needs_log_data: bool
    prepare: Callable[[ScoringContext], Any]
    compute: Callable[[Any, sp.csr_matrix, int], np.ndarray]


@dataclass(frozen=True)
class ScoringContext:
    """What a method's ``prepare`` may read."""

    X: Any
    var_names: pd.Index
    matched: list[MatchedSignature]
    chunk_size: int | None
    max_rank: int
    ctrl_size: int
    n_bins: int
    seed: int
    control_genes: Mapping[str, Sequence[str]] | None


METHODS: dict[str, ScoringMethod] = {}


def register_method(method: ScoringMethod) -> ScoringMethod:
    """Add a method to the registry (``tk.tl.score(method=name)``)."""
    METHODS[method.name] = method
    return method


def _ptr(groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(g) for g in groups])
    flat = np.array([i for g in groups for i in g], dtype=np.int64)
    return ptr, flat


# ---------------------------------------------------------------------------------------- rank
def _rank_prepare(ctx: ScoringContext) -> dict[str, Any]:
    up_ptr, up = _ptr([m.up for m in ctx.matched])
    down_ptr, down = _ptr([m.down for m in ctx.matched])
    return {
        "n_up": np.diff(up_ptr).astype(np.float64),
        "n_down": np.diff(down_ptr).astype(np.float64),
        "membership": _kernels.membership(len(ctx.var_names), up_ptr, up, down_ptr, down),
        "max_rank": float(ctx.max_rank),
    }


def _rank_compute(state: dict[str, Any], block: sp.csr_matrix, n_threads: int) -> np.ndarray:
    return _kernels.rank_scores(
        block.data, block.indices, block.indptr, state["n_up"], state["n_down"], *state["membership"],
        state["max_rank"], 1.0, n_threads,
    )  # fmt: skip


register_method(
    ScoringMethod(
        name="rank",
        description=(
            "UCell: per-cell ranks (average ties, 1 = highest) of the non-zero genes, ranks above max_rank "
            "count as max_rank, Mann-Whitney U normalised to [0, 1]; down genes subtracted (w_neg = 1) and "
            "the result clipped at 0. Weights are not used."
        ),
        citation="Andreatta M, Carmona SJ. UCell: Robust and scalable single-cell gene signature scoring. "
        "Comput Struct Biotechnol J 2021;19:3796-3798. doi:10.1016/j.csbj.2021.06.043",
        cell_independent=True,
        supports_down=True,
        supports_weights=False,
        needs_log_data=False,
        prepare=_rank_prepare,
        compute=_rank_compute,
    )
)


# ---------------------------------------------------------------------------------------- mean
#: Gene means are summed in blocks of this many rows whatever the user's chunk size: within a block each
#: gene's values are added in row order for every array type, so the means (and the control bins) are
#: bit-identical for every chunk size and array type.
_MEANS_ROWS = 1024


def gene_means(X: Any) -> np.ndarray:
    """Mean of every gene over all cells (streamed; float64 sums of fixed 1,024-row blocks, added in order)."""
    sums = np.zeros(X.shape[1], dtype=np.float64)
    rows = max(1, default_chunk_size(X) // _MEANS_ROWS) * _MEANS_ROWS  # ~the usual chunk, a multiple of the block
    for _, _, block in iter_row_blocks(X, chunk_size=rows, reuse_buffers=True):
        csr = block if sp.issparse(block) else sp.csr_matrix(block)
        for partial in _kernels.block_column_sums(csr.data, csr.indices, csr.indptr, X.shape[1], _MEANS_ROWS):
            sums += partial
    return sums / max(X.shape[0], 1)


def control_bins(means: np.ndarray, *, n_bins: int) -> np.ndarray:
    """Scanpy's expression bins: ``rank(method="min") // round(n_genes / (n_bins - 1))`` of gene means."""
    series = pd.Series(means)
    n_items = int(np.round(len(series) / (n_bins - 1)))
    return (series.rank(method="min") // max(n_items, 1)).to_numpy()


def _signature_rng(seed: int, name: str) -> np.random.Generator:
    # A child stream per signature: its controls depend on (seed, name) only, not on the other sets.
    return np.random.default_rng([seed, int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)])


def _draw_controls(
    ctx: ScoringContext, m: MatchedSignature, genes: list[int], cuts: np.ndarray, direction: str
) -> list[int]:
    exclude = np.zeros(len(ctx.var_names), dtype=bool)
    exclude[m.up + m.down] = True
    rng = _signature_rng(ctx.seed, f"{m.signature.name}/{direction}")
    names = ctx.var_names.to_numpy().astype(str)
    chosen: set[int] = set()
    for cut in np.unique(cuts[genes]):
        pool = np.flatnonzero((cuts == cut) & ~exclude)
        pool = pool[np.argsort(names[pool], kind="stable")]  # drawn by gene name: the column order does not matter
        if len(pool) > ctx.ctrl_size:
            pool = rng.choice(pool, size=ctx.ctrl_size, replace=False)
        chosen.update(int(i) for i in pool)
    return sorted(chosen)


def _given_controls(ctx: ScoringContext, m: MatchedSignature) -> list[int]:
    name = m.signature.name
    given = list((ctx.control_genes or {}).get(name, ()))
    position = {g: i for i, g in enumerate(ctx.var_names)}
    unknown = [g for g in given if g not in position]
    if unknown:
        msg = f"`control_genes[{name!r}]` names genes not in `adata.var_names`: {unknown[:10]}."
        raise ValueError(msg)
    idx = sorted({position[g] for g in given})
    overlap = sorted(set(idx) & set(m.up + m.down))
    if overlap:
        msg = f"`control_genes[{name!r}]` contains signature genes {list(ctx.var_names[overlap])}; controls never may."
        raise ValueError(msg)
    if not idx:
        msg = f"`control_genes[{name!r}]` is empty."
        raise ValueError(msg)
    return idx


def _mean_prepare(ctx: ScoringContext) -> dict[str, Any]:
    given = ctx.control_genes or {}
    unknown = sorted(set(given) - {m.signature.name for m in ctx.matched})
    if unknown:
        msg = f"`control_genes` has entries for signatures that are not being scored: {unknown}."
        raise ValueError(msg)
    needs_bins = any(m.signature.name not in given for m in ctx.matched)
    cuts = control_bins(gene_means(ctx.X), n_bins=ctx.n_bins) if needs_bins else None
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    controls: dict[str, list[str]] = {}
    for s, m in enumerate(ctx.matched):
        parts = [(m.up, +1.0, "up")] + ([(m.down, -1.0, "down")] if m.down else [])
        used_controls: list[int] = []
        for genes, sign, direction in parts:
            if m.signature.name in given:
                if direction == "down":
                    msg = f"`control_genes` cannot be given for signature {m.signature.name!r}, which has down genes."
                    raise ValueError(msg)
                ctrl = _given_controls(ctx, m)
            else:
                ctrl = _draw_controls(ctx, m, genes, cuts, direction)
            if not ctrl:
                msg = f"No control genes available for signature {m.signature.name!r}: the object has too few genes."
                raise ValueError(msg)
            w = m.weights_of(direction)
            rows += genes + ctrl
            cols += [s] * (len(genes) + len(ctrl))
            vals += list(sign * w / w.sum()) + [-sign / len(ctrl)] * len(ctrl)
            used_controls += ctrl
        controls[m.signature.name] = sorted(str(g) for g in ctx.var_names[sorted(set(used_controls))])
    W = sp.csr_matrix((vals, (rows, cols)), shape=(len(ctx.var_names), len(ctx.matched)), dtype=np.float64)
    W.sum_duplicates()
    W.sort_indices()
    return {"W": W, "controls": controls}


def _mean_compute(state: dict[str, Any], block: sp.csr_matrix, n_threads: int) -> np.ndarray:
    W = state["W"]
    return _kernels.weighted_sums(
        block.data, block.indices, block.indptr, W.shape[0], W.indptr, W.indices, W.data, W.shape[1], n_threads
    )


register_method(
    ScoringMethod(
        name="mean",
        description=(
            "scanpy score_genes / Seurat AddModuleScore: mean of the signature genes minus the mean of control genes "
            "drawn (ctrl_size per bin) from the signature genes' expression bins (n_bins bins of gene means over all "
            "cells). Controls never include signature genes; the draw is seeded per signature (rng). Weighted sets use "
            "a weighted mean; down genes are scored the same way and subtracted."
        ),
        citation="Tirosh I, et al. Science 2016;352:189-196 (doi:10.1126/science.aad0501); scanpy tl.score_genes "
        "(Wolf FA, Angerer P, Theis FJ. Genome Biol 2018;19:15).",
        cell_independent=False,
        supports_down=True,
        supports_weights=True,
        needs_log_data=True,
        prepare=_mean_prepare,
        compute=_mean_compute,
    )
)
