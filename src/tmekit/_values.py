"""What the values of a matrix are (counts, log, scaled, ...): one decision for every caller.

``value_kind`` reads a block of values; ``decide`` is the same decision from running totals (for callers that
stream a whole matrix, like ``tk.pp.check``). Every check of tmekit that asks "counts or log?" goes through here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["LINEAR_ABOVE", "ValueKind", "decide", "not_counts", "require_counts", "value_kind"]

ValueKind = Literal["empty", "non_finite", "binary", "counts", "linear", "log", "log_floor", "scaled"]
#: Non-integer values above this are not log expression (log2 of counts per million stays below 20).
LINEAR_ABOVE = 30.0
#: A log(x + offset) floor is the minimum in at least this many genes (the zeros of x, in many genes).
FLOOR_GENES = 3


def decide(
    *, n_values: int, n_nonfinite: int, n_negative: int, n_noninteger: int, high: float, floor_genes: int
) -> ValueKind:
    """The kind of a matrix's values from its totals.

    ``floor_genes``: in how many genes the smallest value occurs. Negative values are ``"log_floor"`` when that
    minimum is shared by several genes (log(x + offset) puts every zero of x there) and ``"scaled"`` otherwise
    (z-scores, ``sc.pp.scale`` output and residuals give each gene its own values; so does a stray negative).
    """
    if n_nonfinite:
        return "non_finite"
    if n_values == 0:
        return "empty"
    if n_negative:
        return "log_floor" if floor_genes >= FLOOR_GENES else "scaled"
    if n_noninteger == 0:
        return "binary" if high <= 1 else "counts"
    return "linear" if high > LINEAR_ABOVE else "log"


def value_kind(values: np.ndarray, columns: np.ndarray | None = None) -> ValueKind:
    """The kind of the (stored) ``values`` of a block; ``columns`` are their gene indices (for the floor test)."""
    values = np.asarray(values).ravel()
    finite = np.isfinite(values)
    clean = values[finite]
    low = clean.min() if clean.size else 0.0
    floor_genes = 0
    if clean.size and low < 0:
        at_floor = values == low
        floor_genes = int(np.unique(np.asarray(columns).ravel()[at_floor]).size) if columns is not None else 0
    return decide(
        n_values=int(clean.size), n_nonfinite=int((~finite).sum()), n_negative=int((clean < 0).sum()),
        n_noninteger=int((clean != np.round(clean)).sum()), high=float(clean.max()) if clean.size else 0.0,
        floor_genes=floor_genes,
    )  # fmt: skip


def block_kind(block: np.ndarray | sp.spmatrix | sp.sparray) -> ValueKind:
    """:func:`value_kind` of a dense or sparse row block (stored values; sparse zeros are zeros)."""
    if sp.issparse(block):
        csr = sp.csr_matrix(block)
        return value_kind(csr.data, csr.indices)
    dense = np.asarray(block)
    columns = np.broadcast_to(np.arange(dense.shape[1] if dense.ndim == 2 else dense.size), dense.shape)
    return value_kind(dense, columns)


def not_counts(source: str, kind: ValueKind, what: str) -> str:
    """Why ``source`` (values of ``kind``) cannot be summed as counts by ``what``, and where the counts may be."""
    seen = {
        "log": f"log-normalised values (non-integer, none above {LINEAR_ABOVE:g}: what `sc.pp.log1p` gives)",
        "linear": f"non-integer values above {LINEAR_ABOVE:g} (normalised expression, not counts)",
        "scaled": "negative values (scaled or centred data)",
        "log_floor": "negative values (log(x + offset) of some data)",
    }.get(kind, "values that are not raw counts")
    if "layers[" in source:  # the user already named a layer: it is the wrong one, or it was filled too late
        fix = (
            "That layer was filled after normalising (or with other values): keep the raw counts before "
            "normalising (`adata.layers['counts'] = adata.X.copy()` before `sc.pp.normalize_total`), or pass "
            "`layer=` naming a layer that holds them (`layer=None` for X)"
        )
    else:
        fix = "Pass `layer=` naming the layer with raw counts (e.g. `layer='counts'`)"
    return (
        f"{source} holds {seen}, but {what} sums raw counts. {fix}; counts kept in `.raw` are read with "
        "`adata.raw.to_adata()`."
    )


def require_counts(block: np.ndarray | sp.csr_matrix, start: int, source: str, *, what: str = "pseudobulk") -> None:
    """Raise unless ``block`` (rows from ``start`` of ``source``) holds raw counts: finite non-negative integers."""
    kind = block_kind(block)
    if kind == "non_finite":
        msg = (
            f"{source} contains NaN/infinite values (rows from {start}). {what} sums would be undefined: "
            "fix or remove those cells (`tk.pp.check(adata)` lists them)."
        )
        raise ValueError(msg)
    if kind not in {"empty", "binary", "counts"}:
        raise ValueError(not_counts(source, kind, what))
