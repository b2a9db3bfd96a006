"""Per-sample pseudobulk and per-sample summaries of cell types and signature scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd

from tmekit._arrays import get_matrix
from tmekit._constants import SCORES_KEY
from tmekit._obs import sample_codes, sum_by_sample
from tmekit._spatialdata import accepts_spatialdata

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["AGGREGATE_KEY", "aggregate"]

#: ``uns`` key of the pseudobulk AnnData holding how it was made.
AGGREGATE_KEY = "tmekit_aggregate"
#: Prior count of the log2-CPM transform (edgeR's ``cpm(log=TRUE)`` idea, with a plain +1).
PRIOR_COUNT = 1.0


def _score_summaries(
    scores: pd.DataFrame, codes: np.ndarray, samples: pd.Index, cell_types: pd.Series | None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    values = scores.to_numpy(dtype=np.float64)
    keys = pd.Series(samples[codes], index=scores.index)
    means = pd.DataFrame(values, index=scores.index, columns=scores.columns).groupby(keys.to_numpy()).mean()
    means = means.reindex(samples)
    means.index = means.index.astype(str)
    if cell_types is None:
        return means, None
    frame = pd.DataFrame(values, columns=scores.columns)
    frame["sample"] = keys.to_numpy()
    frame["cell_type"] = cell_types.astype(str).to_numpy()
    grouped = frame.groupby(["sample", "cell_type"], sort=True)
    long = grouped.mean().stack().rename("mean_score").reset_index()
    long = long.rename(columns={long.columns[2]: "signature"})
    n_cells = grouped.size().rename("n_cells").reset_index()
    long = long.merge(n_cells, on=["sample", "cell_type"])
    return means, long


@accepts_spatialdata
def aggregate(
    adata: AnnData,
    *,
    library_key: str,
    cell_type_key: str | None = None,
    layer: str | None = None,
    scores_key: str = SCORES_KEY,
    chunk_size: int | None = None,
) -> AnnData:
    """Per-sample pseudobulk from raw counts, with cell-type fractions and signature-score summaries.

    Counts of all cells of a sample are summed gene by gene (the same numbers as
    ``sc.get.aggregate(adata, by=library_key, func="sum")``), streaming the matrix in row chunks so that
    backed (``backed="r"``) and dask matrices never have to fit in memory. The pseudobulk is then
    normalised per sample, using only that sample's counts:

        ``X = log2(CPM + 1)``, CPM = counts / total counts of the sample x 10^6

    (log2 counts per million with a prior count of 1, the scale of log2 TPM/CPM bulk RNA-seq, so the
    result can go straight into ``tk.tl.classify(mode="expression")``).

    Parameters
    ----------
    adata
        Cells x genes with raw counts in ``X`` or ``layers[layer]``.
    library_key
        ``obs`` column identifying the sample (patient, tumour, biopsy) of each cell.
    cell_type_key
        Optional ``obs`` column of cell types: adds per-sample cell-type fractions and, with scores,
        per-sample per-cell-type score means.
    layer
        Layer holding the raw counts (``None``: ``X``). Log-normalised data are refused with a message.
    scores_key
        ``obsm`` key of per-cell signature scores from :func:`tmekit.tl.score`; summarised when present.
    chunk_size
        Rows per chunk (default: about 8 million stored values per chunk).

    Returns
    -------
    AnnData, samples x genes: ``X`` log2(CPM + 1) (float64), ``layers["counts"]`` summed counts,
    ``obs["n_cells"]`` and ``obs["total_counts"]``, ``obsm["cell_type_fractions"]`` (with
    ``cell_type_key``), ``obsm["score_means"]`` (mean per-cell score per sample, when ``scores_key``
    exists) and ``uns["tmekit_aggregate"]`` (parameters and, with both, ``score_means_by_cell_type``:
    a long table of sample, cell type, signature, mean score, number of cells). The input is not changed.

    Examples
    --------
    >>> cells = tk.datasets.wu2021_cid4465()  # one tumour, raw counts
    >>> bulk = tk.tl.aggregate(cells, library_key="sample_id", cell_type_key="cell_type_major")
    >>> bulk.shape
    (1, 29733)
    >>> tk.tl.classify_expression(bulk)  # the inferred call of the tumour's pseudobulk
    """
    codes, samples = sample_codes(adata, library_key)
    if adata.n_vars == 0:
        msg = "`adata` has no genes: nothing to aggregate."
        raise ValueError(msg)
    X = get_matrix(adata, layer=layer)
    source = "`adata.X`" if layer is None else f"`adata.layers[{layer!r}]`"
    sums, cell_totals = sum_by_sample(X, codes, len(samples), chunk_size=chunk_size, source=source)
    totals = sums.sum(axis=1)
    empty = samples[totals == 0].tolist()
    if empty:
        msg = f"Samples {empty} have no counts at all (every cell is empty): remove them before aggregating."
        raise ValueError(msg)
    log_cpm = np.log2(sums / totals[:, None] * 1e6 + PRIOR_COUNT)

    obs = pd.DataFrame(
        {"n_cells": np.bincount(codes, minlength=len(samples)), "total_counts": totals},
        index=pd.Index(samples.astype(str), name=None),
    )
    obs[library_key] = samples.astype(str)
    out = ad.AnnData(X=log_cpm, obs=obs, var=pd.DataFrame(index=adata.var_names.copy()))
    out.layers["counts"] = sums
    info: dict[str, object] = {
        "library_key": library_key,
        "layer": layer if layer is not None else "X",
        "normalisation": "log2(counts / sample total * 1e6 + 1)",
        "n_cells_input": int(adata.n_obs),
        "empty_cells": int((cell_totals == 0).sum()),
    }
    cell_types = None
    if cell_type_key is not None:
        if cell_type_key not in adata.obs:
            msg = f"`adata.obs[{cell_type_key!r}]` not found (cell_type_key)."
            raise KeyError(msg)
        cell_types = adata.obs[cell_type_key].astype(str).fillna("unassigned")
        fractions = pd.crosstab(samples[codes], cell_types.to_numpy(), normalize="index")
        fractions.index = fractions.index.astype(str)
        fractions.columns = fractions.columns.astype(str)
        fractions.index.name = fractions.columns.name = None
        out.obsm["cell_type_fractions"] = fractions.reindex(out.obs_names)
        info["cell_type_key"] = cell_type_key
    if scores_key in adata.obsm:
        scores = adata.obsm[scores_key]
        if not isinstance(scores, pd.DataFrame):
            scores = pd.DataFrame(np.asarray(scores), index=adata.obs_names)
        means, by_type = _score_summaries(scores, codes, samples, cell_types)
        out.obsm["score_means"] = means.reindex(out.obs_names)
        info["scores_key"] = scores_key
        if by_type is not None:
            info["score_means_by_cell_type"] = by_type
    out.uns[AGGREGATE_KEY] = info
    return out
