"""`tk.tl.classify_expression`: an immune phenotype per sample from bulk or pseudobulk expression (inferred).

**Expression** (bulk, pseudobulk; ``inferred=True``): the shipped model (CD8 T effector, IFN-gamma, T- and B-cell
features fitted on the 142 IMvigor210 calibration patients; ``tk.tl.load_phenotype_model().provenance``) reads
per-gene standardised log expression of each sample on its own (z-scores as given; log2, counts and linear values
brought to log2(x + 1) and standardised against the model's fixed reference; ``scale="cohort"`` z-scores within
the cohort instead, flagged). With ``library_key`` cells are first summed per sample (:func:`tmekit.tl.aggregate`);
a pseudobulk below ``min_cells`` cells (50) or ``min_counts`` counts (100,000) is indeterminate (the model's genes
are ~1 in 10,000 counts of a tumour). Cell-level data without ``library_key`` are refused. ``confidence`` = top
class probability x ``gene_coverage`` (the share of the model's evidence whose genes are present); indeterminate
below ``min_overlap``.

``rules="til_pdl1"`` infers the TIL x PD-L1 type (Teng et al. 2015) from CD274 and CD8 T-effector expression instead
(the shipped IMvigor210 models). Spatial calls on cells or spots: :func:`tmekit.tl.classify`.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tmekit._constants import PHENOTYPE_KEY
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit.tl._phenotype.expression import MIN_PSEUDOBULK_CELLS, MIN_PSEUDOBULK_COUNTS, expression_calls
from tmekit.tl._phenotype.rules import store
from tmekit.tl._phenotype.til_pdl1_expression import til_pdl1_expression_calls

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from tmekit.tl._phenotype.model import PhenotypeModel, Scale

__all__ = ["classify_expression"]


@accepts_spatialdata
@all_or_nothing
def classify_expression(
    adata: AnnData,
    *,
    rules: str | None = None,
    library_key: str | None = None,
    model: PhenotypeModel | str | Path | None = None,
    scale: Scale = "auto",
    layer: str | None = None,
    min_overlap: float = 0.5,
    min_cells: int = MIN_PSEUDOBULK_CELLS,
    min_counts: float = MIN_PSEUDOBULK_COUNTS,
    species: str = "auto",
    key_added: str = PHENOTYPE_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Call each sample inflamed, excluded or desert from its expression (``inferred=True``), with a confidence.

    Read the calls back with :func:`tmekit.get.phenotypes` (one row per sample: ``phenotype``, ``confidence``,
    ``model``, ``inferred``, ``gene_coverage``, ``reason`` and the features the model read).

    Parameters
    ----------
    adata
        Samples x genes (bulk, pseudobulk), or cells x genes with ``library_key``.
    rules
        ``None``: inflamed / excluded / desert with ``model``; ``"til_pdl1"``: the TIL x PD-L1 type from CD274 and
        CD8 T-effector expression (its own shipped models).
    library_key
        Cells: the ``obs`` column of samples; cells are summed per sample first (:func:`tmekit.tl.aggregate`).
    model
        A :class:`~tmekit.tl.PhenotypeModel` or a saved model (``None``: the shipped IMvigor210 model).
    scale
        The input scale: ``"auto"``, ``"zscore"``, ``"log2"``, ``"counts"`` or ``"cohort"``.
    layer
        The layer with expression (bulk) or raw counts (cells); default ``X``.
    min_overlap
        The smallest ``gene_coverage`` (share of the model's evidence whose genes are present) that is called.
    min_cells, min_counts
        With ``library_key``: the smallest pseudobulk called (cells, counts).
    species
        ``"auto"``, ``"human"`` or ``"mouse"`` (mouse data are read through the orthologs of the model's genes).
    key_added, overwrite, copy
        ``uns[key_added]`` gets ``{"table", "params"}``, ``obs[key_added]`` each cell's call; replace existing
        results; return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()  # 348 bladder tumours, per-gene z-scores
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> calls = tk.get.phenotypes(bulk)
    >>> calls["phenotype"].value_counts().to_dict()
    {'inflamed': 135, 'desert': 110, 'excluded': 103, 'indeterminate': 0}
    >>> bool(calls["inferred"].all())  # an inference from expression, never a measurement
    True
    """
    if rules not in {None, "til_pdl1"}:
        msg = (
            f"classify_expression takes rules=None (inflamed / excluded / desert) or 'til_pdl1', not {rules!r}; "
            "spatial rule sets are applied by `tk.tl.classify` on cells or spots with positions."
        )
        raise ValueError(msg)
    if rules is not None and model is not None:
        msg = "`rules='til_pdl1'` uses its own shipped models; drop `model=` (or `rules=` to use your model)."
        raise ValueError(msg)
    if not overwrite and (key_added in adata.uns or key_added in adata.obs):
        msg = f"`adata.uns[{key_added!r}]` or `adata.obs[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        raise ValueError(msg)
    target = adata.copy() if copy else adata
    infer = til_pdl1_expression_calls if rules == "til_pdl1" else partial(expression_calls, model=model)
    table, params, sample_of = infer(
        target, scale=scale, layer=layer, library_key=library_key, min_overlap=min_overlap, species=species,
        min_cells=min_cells, min_counts=min_counts,
    )  # fmt: skip
    calls = {str(params["model"]): tuple(table["phenotype"].cat.categories)}  # the model's classes
    store(target, table, params, sample_of=sample_of, key_added=key_added, calls=calls)
    return target if copy else None
