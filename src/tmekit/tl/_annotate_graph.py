"""`tk.tl.annotate` with the user's own structure: node scores smoothed over a neighbour graph, cluster voting.

- **Graph** (``neighbors_key``): a cell's neighbour score of a node is the weighted mean of its own score and its
  neighbours' (weight 1 for itself, the graph's connectivities for the neighbours: ``(s + C s) / (1 + C 1)``), on
  the graph ``sc.pp.neighbors`` stored. In sparse scRNA-seq (a few hundred UMIs per cell) a cell's own markers often
  dropped out; its neighbours in expression space carry the same type. Rounded to 12 decimals, so the sums do not
  depend on the order of the cells.
- **Votes** (``groupby``): per cluster, the deepest type that more than half of its cells are (that label or a type
  below it) is the cluster's; its other cells (another lineage, ``unassigned`` or a coarser label above it) take it,
  and cells already at it or below it keep their finer label. Clusters with no such majority keep every cell's call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit.tl._lineages import TREE, Node

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["neighbor_graph", "smoothed", "vote"]

#: Decimals the neighbour scores are rounded to (sums over neighbours then do not depend on cell order).
DECIMALS = 12


def neighbor_graph(adata: AnnData, neighbors_key: str | None) -> tuple[sp.csr_matrix | None, str]:
    """The connectivities to smooth over and their ``obsp`` key (``None, ""`` for per-cell calls).

    ``"auto"``: scanpy's default graph (``uns["neighbors"]``, ``obsp["connectivities"]``) when there is one.
    A name: ``uns[name]["connectivities_key"]`` as ``sc.pp.neighbors(key_added=name)`` stores it, or an ``obsp`` key.
    """
    if neighbors_key is None:
        return None, ""
    if neighbors_key == "auto":
        key = str(adata.uns.get("neighbors", {}).get("connectivities_key", "connectivities"))
        if key not in adata.obsp:
            return None, ""
    else:
        entry = adata.uns.get(neighbors_key)
        key = str(entry["connectivities_key"]) if isinstance(entry, dict) and "connectivities_key" in entry else (
            neighbors_key)  # fmt: skip
        if key not in adata.obsp:
            msg = (
                f"No neighbour graph under `neighbors_key={neighbors_key!r}`: neither "
                f"`adata.uns[{neighbors_key!r}]['connectivities_key']` nor `adata.obsp[{neighbors_key!r}]` exists "
                f"(obsp keys: {list(adata.obsp.keys())}). Compute one with `sc.pp.neighbors(adata, "
                f"key_added={neighbors_key!r})`, or pass `neighbors_key=None` for per-cell calls."
            )
            raise KeyError(msg)
    graph = sp.csr_matrix(adata.obsp[key], dtype=np.float64)
    if graph.nnz and (not np.isfinite(graph.data).all() or graph.data.min() < 0):
        msg = f"`adata.obsp[{key!r}]` has negative or non-finite weights: pass a connectivity graph (sc.pp.neighbors)."
        raise ValueError(msg)
    graph = sp.csr_matrix(graph - sp.diags(graph.diagonal()))  # the cell itself has weight 1, not its loop's
    graph.eliminate_zeros()
    return graph, key


def smoothed(values: np.ndarray, graph: sp.csr_matrix) -> np.ndarray:
    """``(s + C s) / (1 + C 1)`` per node score column, rounded to :data:`DECIMALS`."""
    weight = 1.0 + np.asarray(graph.sum(axis=1)).ravel()
    return np.round((values + graph @ values) / weight[:, None], DECIMALS)


def _paths(node: Node, above: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Label -> the labels from its lineage down to it."""
    out = {}
    for child in node.children:
        out[child.label] = (*above, child.label)
        out |= _paths(child, out[child.label])
    return out


def vote(call: np.ndarray, groups: pd.Series, root: Node = TREE) -> np.ndarray:
    """Cluster majority over the hierarchy below ``root`` (module notes); cells with a missing group keep theirs."""
    paths, out = _paths(root), call.copy()
    codes = pd.Categorical(groups)
    for code in range(len(codes.categories)):
        rows = np.flatnonzero(codes.codes == code)
        lineage = [paths.get(str(c), ()) for c in call[rows]]
        winner: tuple[str, ...] = ()
        while True:
            depth = len(winner)
            below = pd.Series([p[depth] for p in lineage if len(p) > depth and p[:depth] == winner], dtype=object)
            if below.empty:
                break
            counts = below.value_counts()
            top = counts.index[counts.to_numpy() == counts.max()]
            if counts.max() * 2 <= len(rows) or len(top) > 1:
                break
            winner = (*winner, str(top[0]))
        if winner:
            inside = np.array([p[: len(winner)] == winner for p in lineage], dtype=bool)
            out[rows[~inside]] = winner[-1]
    return out
