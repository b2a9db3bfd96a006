"""Expression-based immune-phenotype calls (bulk, pseudobulk): each sample read by the phenotype model.

Without positions, exclusion cannot be seen; the call is an *inference* from signature features and is
labelled as such (``inferred=True``). Every feature is computed from one sample's own expression, so a
sample gets the same call alone or inside a cohort (unless ``scale="cohort"`` is asked for, which is
cohort-relative by definition and flagged in the output).
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._arrays import get_matrix, iter_row_blocks
from tmekit._constants import LOGGER_NAME
from tmekit._genenames import data_species, mouse_orthologs
from tmekit._warnings import MissingGenesWarning
from tmekit.tl._aggregate import aggregate
from tmekit.tl._phenotype.model import (
    PhenotypeModel,
    expression_features,
    load_phenotype_model,
    standardise,
)
from tmekit.tl._score import compute_scores

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from tmekit.tl._phenotype.model import Scale

__all__ = ["MIN_PSEUDOBULK_CELLS", "MIN_PSEUDOBULK_COUNTS", "expression_calls"]

log = logging.getLogger(LOGGER_NAME)

#: Smallest pseudobulk called (cells; summed counts). The model's genes (CD8A, GZMB, CXCL9, ...) make up about
#: 1 in 10,000 counts of a tumour: below these, a sample's features rest on a handful of molecules.
MIN_PSEUDOBULK_CELLS = 50
MIN_PSEUDOBULK_COUNTS = 100_000
#: Observations look like single cells when most values are zero and few genes are detected per observation.
_CELL_ZERO_FRACTION = 0.5
_CELL_MAX_GENES = 6_000
_CELL_PROBE_ROWS = 2_000
_SAMPLE_COLUMNS = ("sample_id", "sample", "patient_id", "patient", "donor", "orig.ident", "library_id", "batch")


# --------------------------------------------------------------------------------------------- calling
def _cell_evidence(adata: AnnData, layer: str | None) -> tuple[float, float] | None:
    """``(share of zeros, median genes detected)`` of the first observations when they look like single cells."""
    if adata.n_obs < 2 or adata.n_vars == 0:
        return None
    _, _, block = next(iter_row_blocks(get_matrix(adata, layer=layer), chunk_size=min(_CELL_PROBE_ROWS, adata.n_obs)))
    if sp.issparse(block):  # explicitly stored zeros are zeros too
        detected = np.asarray((sp.csr_matrix(block) != 0).sum(axis=1)).ravel()
    else:
        detected = np.count_nonzero(np.asarray(block), axis=1)
    zeros = 1.0 - float(detected.sum()) / (block.shape[0] * adata.n_vars)
    genes = float(np.median(detected))
    return (zeros, genes) if zeros > _CELL_ZERO_FRACTION and genes < _CELL_MAX_GENES else None


def _refuse_cells_without_samples(adata: AnnData, layer: str | None) -> None:
    evidence = _cell_evidence(adata, layer)
    if evidence is None:
        return
    zeros, genes = evidence
    columns = [c for c in _SAMPLE_COLUMNS if c in adata.obs and adata.obs[c].nunique() < adata.n_obs]
    hint = f" (this object has {columns})" if columns else ""
    msg = (
        f"These {adata.n_obs:,} observations look like single cells ({zeros:.0%} of values are zero, a median "
        f"{genes:,.0f} genes detected each), and expression calls are per tumour: each cell would be called as a "
        f"sample. Pass `library_key=` naming the obs column of samples{hint}; cells are then summed per sample "
        "(raw counts: `layer=` if X is normalised). For bulk samples with sparse values, aggregate them yourself."
    )
    raise ValueError(msg)


def expression_calls(
    adata: AnnData,
    *,
    model: PhenotypeModel | str | Path | None = None,
    scale: Scale = "auto",
    layer: str | None = None,
    library_key: str | None = None,
    min_overlap: float = 0.5,
    species: str = "auto",
    min_cells: int = MIN_PSEUDOBULK_CELLS,
    min_counts: float = MIN_PSEUDOBULK_COUNTS,
) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray]:
    """Expression mode of :func:`tmekit.tl.classify`: ``(table, params, sample of each observation)``, unwritten."""
    if not 0 < min_overlap <= 1:
        msg = (
            f"`min_overlap` is the share of the model's evidence that must be computable, in (0, 1]; got {min_overlap}."
        )
        raise ValueError(msg)
    if adata.n_obs == 0:
        msg = "`adata` has no samples (0 rows): nothing to classify."
        raise ValueError(msg)
    fitted = model if isinstance(model, PhenotypeModel) else load_phenotype_model(model)
    samples = adata
    if library_key is not None and library_key not in adata.obs:
        msg = f"`adata.obs[{library_key!r}]` not found: `library_key` must name the obs column identifying samples."
        raise KeyError(msg)
    if library_key is None:
        _refuse_cells_without_samples(adata, layer)
    pseudobulk = library_key is not None and (
        adata.obs[library_key].nunique() < adata.n_obs or _cell_evidence(adata, layer) is not None
    )
    if pseudobulk:
        samples = aggregate(adata, library_key=library_key, layer=layer)  # log2(CPM + 1) of summed counts
        layer_used = None
    else:
        layer_used = layer
    model_view, species_used, renamed = _in_model_species(samples, fitted, layer=layer_used, species=species)
    std, scales = standardise(model_view, fitted, layer=None if model_view is not samples else layer_used,
                                scale=scale)  # fmt: skip
    feats, coverage = expression_features(std, fitted.features)
    prob = fitted.predict_proba(feats.fillna(0.0))
    importance = fitted.importance
    evidence = (coverage * importance).sum(axis=1)  # share of the model's evidence that could be computed
    no_genes = (coverage.loc[:, importance > 0] == 0).any(axis=1)
    thin = (evidence < min_overlap) | no_genes | pd.Series([s == "empty" for s in scales], index=std.index)
    small = _small_pseudobulks(samples, std.index, min_cells=min_cells, min_counts=min_counts) if pseudobulk else {}
    thin |= pd.Series([name in small for name in std.index], index=std.index)
    call = prob.idxmax(axis=1).where(~thin, "indeterminate")
    confidence = (prob.max(axis=1) * evidence).where(~thin, 0.0)
    table = pd.DataFrame(
        {
            "phenotype": pd.Categorical(call, categories=[*fitted.classes, "indeterminate"]),
            "confidence": confidence.astype(np.float64),
            **{f"p_{c}": prob[c] for c in fitted.classes},
            "mode": "expression",
            "inferred": True,
            "cohort_relative": scale == "cohort",
            "model": fitted.name,
            "species": species_used,
            "input_scale": scales,
            "gene_coverage": evidence,
            "reason": np.where(
                thin,
                [
                    small[i]
                    if i in small
                    else "no expression values"
                    if s == "empty"
                    else f"only {evidence[i]:.0%} of the model's evidence has its genes (min_overlap "
                    f"{min_overlap:.0%}); coverage: " + ", ".join(f"{f} {c:.0%}" for f, c in coverage.loc[i].items())
                    for i, s in zip(std.index, scales, strict=True)
                ],
                "",
            ),
        },
        index=std.index,
    )
    for name in fitted.feature_names:
        table[f"feature_{name}"] = feats[name]
        table[f"coverage_{name}"] = coverage[name]
    for column, values in _context_scores(samples, layer_used).items():
        table[column] = values.to_numpy()
    if pseudobulk:
        table.index.name = library_key
    found = set(std.columns[np.isfinite(std.to_numpy()).any(axis=0)])
    missing = {f: [g for g in genes if g not in found] for f, genes in fitted.features.items()}
    lost = {f: m for f, m in missing.items() if m}
    if lost:
        detail = "; ".join(
            f"{f}: {len(m)}/{len(fitted.features[f])} missing ({', '.join(m[:6])})" for f, m in lost.items()
        )
        msg = f"Phenotype features computed from the genes available: {detail}. Confidence is lowered accordingly."
        warnings.warn(msg, MissingGenesWarning, stacklevel=3)
    params = {
        "mode": "expression", "model": fitted.name, "model_provenance": json.dumps(fitted.provenance),
        "scale": scale, "min_overlap": float(min_overlap), "missing_genes": {f: list(m) for f, m in lost.items()},
        "species": species_used, "orthologs": renamed, "library_key": library_key or "", "min_cells": int(min_cells),
        "min_counts": float(min_counts),
    }  # fmt: skip
    sample_of = adata.obs[library_key].astype(str).to_numpy() if pseudobulk else table.index.to_numpy()
    return table, params, sample_of


def _small_pseudobulks(samples: AnnData, names: pd.Index, *, min_cells: int, min_counts: float) -> dict[str, str]:
    """Pseudobulks too small to call: sample -> reason."""
    n_cells = samples.obs["n_cells"].to_numpy()
    totals = samples.obs["total_counts"].to_numpy()
    out = {}
    for name, cells, total in zip(names, n_cells, totals, strict=True):
        if cells < min_cells:
            out[name] = f"pseudobulk of {int(cells)} cells (< min_cells={min_cells})"
        elif total < min_counts:
            out[name] = f"pseudobulk of {total:,.0f} counts (< min_counts={min_counts:,.0f})"
    return out


def _in_model_species(
    samples: AnnData, model: PhenotypeModel, *, layer: str | None, species: str
) -> tuple[AnnData, str, dict[str, str]]:
    """The samples as the (human) model reads them: mouse genes renamed to their human orthologs.

    Only the model's genes with a well-supported one-to-one (or best one-to-many) mouse ortholog are renamed;
    the expression values are not touched (a light object sharing the matrix).
    """
    found = data_species(pd.Index(samples.var_names), species)
    if found != "mouse":
        return samples, found, {}
    to_human = {m: h for h, m in mouse_orthologs(model.genes, name=model.name).items()}
    names = pd.Index([to_human.get(str(g), str(g)) for g in samples.var_names])
    if names.has_duplicates:  # a human model gene already present under its own name: keep the mouse gene's
        names = pd.Index(
            [
                str(g) if dup else n
                for g, n, dup in zip(samples.var_names, names, names.duplicated(keep=False), strict=True)
            ]
        )
    light = ad.AnnData(X=get_matrix(samples, layer=layer), obs=pd.DataFrame(index=samples.obs_names.copy()),
                       var=pd.DataFrame(index=names))  # fmt: skip
    renamed = {m: h for m, h in to_human.items() if m in set(samples.var_names)}
    log.info("mouse data: %d model genes read through their mouse orthologs", len(renamed))
    return light, "mouse (orthologs of the human model genes)", renamed


#: Not read by the model: per-sample rank (UCell) scores shown with the call, for the T-effector vs TGF-beta
#: plane of Mariathasan 2018 (rank scores use only the sample's own expression).
CONTEXT_SIGNATURES = {"score_cd8_teff": "cd8_teff_mariathasan2018", "score_pan_ftbrs": "pan_ftbrs_mariathasan2018"}


def _context_scores(samples: AnnData, layer: str | None) -> pd.DataFrame:
    X = get_matrix(samples, layer=layer)
    dense = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)  # samples x genes: bulk-sized
    low = np.nanmin(dense, axis=1, keepdims=True) if dense.size else np.zeros((len(dense), 1))
    # z-scores and log2(x + small offset) go below 0; ranks within a sample are unchanged by a shift, and rank
    # scoring refuses negative values (meaningless as cell expression), so such samples are shifted to >= 1 first.
    dense = np.where(low < 0, dense - low + 1.0, dense)
    light = ad.AnnData(X=dense, var=pd.DataFrame(index=samples.var_names.copy()))
    out = pd.DataFrame(index=samples.obs_names.astype(str))
    for column, name in CONTEXT_SIGNATURES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, _ = compute_scores(
                    light, [name], method="rank", max_rank=min(1500, light.n_vars), min_overlap=0.1
                )
            out[column] = scores[name].to_numpy()
        except ValueError:
            out[column] = np.nan  # too few of its genes measured: the plane is left out, the call is not affected
    return out
