"""Shared input handling for spatial functions: coordinates, samples, cell-type label mappings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from anndata import AnnData

__all__ = ["coordinates_um", "label_mask", "samples"]


def coordinates_um(adata: AnnData, *, spatial_key: str, microns_per_unit: float) -> np.ndarray:
    """``obsm[spatial_key]`` as an (n, 2) float array in micrometres, with clear errors."""
    if spatial_key not in adata.obsm:
        candidates = [k for k in adata.obsm if "spatial" in k.lower() or k.lower() in {"x_spatial", "coords"}]
        hint = f" Found {candidates}: pass `spatial_key={candidates[0]!r}`." if candidates else ""
        cols = " or from obs columns: `adata.obsm['spatial'] = adata.obs[['x', 'y']].to_numpy()`"
        cols = cols if {"x", "y"} <= set(adata.obs.columns) else ""
        msg = (
            f"`adata.obsm[{spatial_key!r}]` not found: spatial functions need cell coordinates.{hint} "
            f"Pass `spatial_key=` or set coordinates with `adata.obsm['spatial'] = ...`{cols}."
        )
        raise KeyError(msg)
    coords = np.asarray(adata.obsm[spatial_key], dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        msg = f"`adata.obsm[{spatial_key!r}]` must be an (n_cells, 2) array of x, y; got shape {coords.shape}."
        raise ValueError(msg)
    if not np.isfinite(coords[:, :2]).all():
        bad = int((~np.isfinite(coords[:, :2])).any(axis=1).sum())
        msg = f"`adata.obsm[{spatial_key!r}]` has {bad} cells with NaN/infinite coordinates; remove them first."
        raise ValueError(msg)
    if not microns_per_unit > 0:
        msg = f"`microns_per_unit` must be positive, got {microns_per_unit}."
        raise ValueError(msg)
    return coords[:, :2] * float(microns_per_unit)


def samples(adata: AnnData, *, library_key: str | None) -> Iterator[tuple[str, np.ndarray]]:
    """``(sample name, cell indices)`` per sample (one sample named ``"all"`` when ``library_key`` is None)."""
    if library_key is None:
        yield "all", np.arange(adata.n_obs)
        return
    if library_key not in adata.obs:
        msg = f"`adata.obs[{library_key!r}]` not found. Pass `library_key=` naming the sample column, or None."
        raise KeyError(msg)
    values = adata.obs[library_key].astype(str).to_numpy()
    for name in pd.unique(values):
        yield str(name), np.flatnonzero(values == name)


def label_mask(adata: AnnData, *, cell_type_key: str, labels: Iterable[str] | None, what: str) -> np.ndarray:
    """Boolean mask of cells whose ``obs[cell_type_key]`` is one of ``labels``; unknown labels are an error."""
    if cell_type_key not in adata.obs:
        msg = (
            f"`adata.obs[{cell_type_key!r}]` not found. Pass `cell_type_key=` naming the cell-type column, or "
            "annotate first with `tk.tl.annotate(adata)` (writes obs['tmekit_cell_type'])."
        )
        raise KeyError(msg)
    column = adata.obs[cell_type_key].astype(str)
    wanted = [labels] if isinstance(labels, str) else list(labels or [])
    if not wanted:
        msg = f"No {what} labels given. Pass `{what}_labels=[...]` with values of `obs[{cell_type_key!r}]`."
        raise ValueError(msg)
    present = set(column.unique())
    unknown = sorted(set(wanted) - present)
    if unknown:
        msg = (
            f"{what}_labels {unknown} do not occur in `adata.obs[{cell_type_key!r}]`. "
            f"Its values are: {sorted(present)[:30]}."
        )
        raise ValueError(msg)
    return column.isin(wanted).to_numpy()
