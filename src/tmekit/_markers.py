"""Per-cell marker status (PD-L1, PD-1, TIM-3, ...) from an ``obs`` column or a channel / gene of ``X``.

One positivity rule for every subpackage, stated where the status is used:

- ``obs`` booleans (``bool`` or pandas ``boolean`` with ``<NA>``), or the strings ``"True"`` / ``"False"`` a CSV
  gives (any case; empty or NaN is unknown): as given; ``<NA>`` is *unknown*.
- values that are all 0 or 1 (binarised markers, e.g. Keren 2018's MIBI positivity): 1 is positive.
- whole numbers of a **gene** of ``X`` (a human or mouse gene symbol, e.g. CD274 in Xenium, CosMx or scRNA-seq
  counts): transcript counts, positive at ``threshold`` counts or more (default 1: one detected transcript; a
  dropout can only make a cell negative).
- anything else (continuous intensities, log values, whole-number intensities of a protein channel such as
  "PD-L1" or of an ``obs`` column, e.g. uint16 images): positive above ``threshold``, which must then be given,
  since an intensity scale has no natural cut.

The status is a float array: 1.0 positive, 0.0 negative, NaN unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._genenames import is_gene_symbol

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["describe_marker", "marker_status", "positivity_rule"]


def _column(adata: AnnData, key: str, what: str) -> tuple[np.ndarray, str]:
    if key in adata.obs.columns:
        col = adata.obs[key]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            words = col.astype("string").str.strip().str.lower()
            words = words.mask(words.isin(["", "nan", "na", "<na>", "none"]))
            if words.dropna().isin(["true", "false"]).all() and words.notna().any():  # a CSV's booleans
                flags = words.map({"true": 1.0, "false": 0.0}).astype("Float64")
                return flags.to_numpy(dtype=np.float64, na_value=np.nan), f"obs[{key!r}] (boolean)"
            msg = (
                f"`obs[{key!r}]` ({what}) holds labels ({list(pd.unique(col.astype(str)))[:4]}); give a boolean or "
                "numeric column, or a channel / gene name of `X`."
            )
            raise ValueError(msg)
        if pd.api.types.is_bool_dtype(col.dtype):
            return col.astype("float64").to_numpy(na_value=np.nan), f"obs[{key!r}] (boolean)"
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan), f"obs[{key!r}]"
    if key in adata.var_names:
        j = adata.var_names.get_loc(key)
        if not isinstance(j, int | np.integer):
            msg = f"`var_names` has {key!r} more than once; make them unique (`adata.var_names_make_unique()`)."
            raise ValueError(msg)
        values = adata.X[:, j] if adata.X is not None else None
        if values is None:
            msg = f"`adata.X` is empty, so the {what} channel {key!r} cannot be read."
            raise ValueError(msg)
        values = values.toarray() if sp.issparse(values) else np.asarray(values)
        gene = " (gene)" if is_gene_symbol(key) else ""
        return np.asarray(values, dtype=np.float64).ravel(), f"X[:, {key!r}]{gene}"
    msg = (
        f"The {what} marker {key!r} is neither an `obs` column nor a var name (channel or gene) of `X`. "
        f"Give e.g. an obs column of booleans or the channel name (for RNA, the gene: CD274 for PD-L1)."
    )
    raise KeyError(msg)


def _kind(values: np.ndarray, source: str, threshold: float | None) -> str:
    """``"boolean"``, ``"binary"`` (0/1 without a threshold), ``"counts"`` (whole numbers of a gene) or ``"cut"``."""
    if source.endswith("(boolean)"):
        return "boolean"
    known = values[np.isfinite(values)]
    if known.size and np.isin(known, (0.0, 1.0)).all() and threshold is None:
        return "binary"
    whole = known.size and np.allclose(known, np.round(known)) and (known >= 0).all()
    return "counts" if whole and source.endswith("(gene)") else "cut"


def positivity_rule(values: np.ndarray, threshold: float | None, source: str) -> str:
    """The rule :func:`marker_status` applies to these values, in words (recorded beside the results)."""
    kind = _kind(values, source, threshold)
    if kind == "boolean":
        return f"{source} as given"
    if kind == "binary":
        return f"{source}: 1 positive, 0 negative (binarised)"
    if kind == "counts":
        return f"{source}: positive at >= {1 if threshold is None else threshold:g} transcript counts"
    return f"{source}: positive above {threshold}"


def describe_marker(
    adata: AnnData, key: str, *, threshold: float | None = None, what: str = "marker", hint: str = "`threshold=`"
) -> str:
    """The positivity rule :func:`marker_status` applies to marker ``key`` of ``adata``, in words."""
    values, source = _column(adata, key, what)
    return positivity_rule(values, threshold, source)


def marker_status(
    adata: AnnData, key: str, *, threshold: float | None = None, what: str = "marker", hint: str = "`threshold=`"
) -> np.ndarray:
    """Each cell's status for marker ``key``: 1.0 positive, 0.0 negative, NaN unknown (the module's rule).

    Raises with what to do when the marker is missing or, for intensities, no threshold is given; ``hint`` says
    how the caller's user passes one (e.g. ``"`pdl1_threshold=`"``).
    """
    values, source = _column(adata, key, what)
    if np.isinf(values).any():
        msg = f"{source} ({what}) has infinite values; replace them (NaN means unknown)."
        raise ValueError(msg)
    kind = _kind(values, source, threshold)
    if kind == "boolean":
        return values
    known = np.isfinite(values)
    if not known.any():
        return np.full(len(values), np.nan)
    v = values[known]
    if threshold is None and kind == "cut":
        whole = np.allclose(v, np.round(v))
        what_they_are = (
            "whole numbers that are not transcript counts of a gene (an obs column, or a protein channel): intensities"
            if whole
            else "continuous values"
        )
        msg = (
            f"{source} ({what}) holds {what_they_are} (range {v.min():.3g} to {v.max():.3g}); a positivity cut "
            f"cannot be assumed on an intensity scale. Pass the cut with {hint}, or a boolean obs column of positive "
            "cells. Transcript counts are read as such only from a gene of `X` (e.g. CD274)."
        )
        raise ValueError(msg)
    cut = 0.5 if kind == "binary" else (1.0 if threshold is None else float(threshold))
    out = np.full(len(values), np.nan)
    out[known] = (v >= cut) if kind == "counts" else (v > cut)
    return out
