"""`tk.sp.pseudo_visium`: single cells with positions aggregated into Visium-like spots (known composition)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from tmekit._arrays import get_matrix
from tmekit._constants import SPATIAL_KEY, SPOTS_KEY
from tmekit._obs import coordinates_um, samples
from tmekit._spatialdata import accepts_spatialdata
from tmekit._values import require_counts
from tmekit.sp._spotdata import VISIUM_PITCH_UM, VISIUM_SPOT_DIAMETER_UM

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["pseudo_visium"]


def _hex_centres(lo: np.ndarray, hi: np.ndarray, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of a hexagonal grid covering [lo, hi] (Visium layout), with array_row / array_col."""
    dy = pitch * np.sqrt(3) / 2
    n_rows = int(np.floor((hi[1] - lo[1]) / dy)) + 1
    n_cols = int(np.floor((hi[0] - lo[0]) / pitch)) + 2
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    x = lo[0] + cols * pitch + (rows % 2) * pitch / 2
    y = lo[1] + rows * dy
    return np.column_stack([x, y]), rows, 2 * cols + (rows % 2)  # Visium's array_col steps by 2


@accepts_spatialdata
def pseudo_visium(
    adata: AnnData,
    *,
    cell_type_key: str | None = None,
    layer: str | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    spot_diameter: float = VISIUM_SPOT_DIAMETER_UM,
    pitch: float = VISIUM_PITCH_UM,
    min_cells: int = 1,
) -> AnnData:
    """Aggregate single cells with positions into Visium-like spots (55 um spots, 100 um hexagonal pitch).

    Each cell whose centre lies within ``spot_diameter / 2`` of a spot centre is counted in that spot
    (cells between spots are not captured, as in Visium: with the defaults spots cover ~27% of the
    tissue). A spot's counts are the sum of its cells' raw counts; spots with fewer than ``min_cells``
    cells are dropped (outside the tissue).

    Parameters
    ----------
    adata
        Single cells with raw counts (``X`` or ``layer``) and coordinates in ``obsm[spatial_key]``.
    cell_type_key
        ``obs`` column of cell types: each spot then records how many cells of each type it holds
        (``obsm["cell_type_counts"]``, ``obsm["cell_type_fractions"]``): its true composition.
    library_key
        ``obs`` column naming samples; each gets its own grid.
    microns_per_unit
        Micrometres per coordinate unit; ``None``: the coordinates are micrometres (checked against the cells'
        spacing, see :func:`tmekit.sp.compartments`).
    spot_diameter, pitch
        Spot diameter and centre-to-centre distance, in micrometres.
    min_cells
        Keep spots with at least this many cells.

    Returns
    -------
    AnnData (spots x genes) with the summed counts in ``X``, ``obs["n_cells"]``, ``obs["array_row"]``,
    ``obs["array_col"]``, ``obs["in_tissue"]``, the sample in ``obs["sample_id"]``, spot centres in
    micrometres in ``obsm["spatial"]``, the scale in ``uns["tmekit_spots"]`` and the cell -> spot
    assignment in ``uns["tmekit_spots"]["cells"]``. The input is not modified.

    Examples
    --------
    >>> import anndata as ad
    >>> tissue = tk.datasets.synthetic_tissue("inflamed", rng=0)  # positions in um and cell types, no genes
    >>> counts = np.random.default_rng(0).poisson(2.0, size=(tissue.n_obs, 3)).astype(np.float32)
    >>> cells = ad.AnnData(counts, obs=tissue.obs, obsm=dict(tissue.obsm))
    >>> spots = tk.sp.pseudo_visium(cells, cell_type_key="cell_type")
    >>> spots.shape, tk.sp.is_spot_data(spots)
    ((83, 3), True)
    """
    if spot_diameter <= 0 or pitch < spot_diameter:
        msg = f"Need 0 < spot_diameter <= pitch, got spot_diameter={spot_diameter}, pitch={pitch}."
        raise ValueError(msg)
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    X = sp.csr_matrix(get_matrix(adata, layer=layer))
    require_counts(X, 0, "adata.X" if layer is None else f"adata.layers[{layer!r}]", what="pseudo_visium")
    if cell_type_key is not None and cell_type_key not in adata.obs:
        msg = f"`adata.obs[{cell_type_key!r}]` not found; pass `cell_type_key=None` or an existing column."
        raise KeyError(msg)
    parts, assignment = [], []
    for name, idx in samples(adata, library_key=library_key):
        centres, rows, cols = _hex_centres(xy[idx].min(axis=0), xy[idx].max(axis=0), pitch)
        dist, nearest = cKDTree(centres).query(xy[idx])
        captured = dist <= spot_diameter / 2
        n_per_spot = np.bincount(nearest[captured], minlength=len(centres))
        kept = np.flatnonzero(n_per_spot >= max(min_cells, 1))
        new_index = np.full(len(centres), -1)
        new_index[kept] = np.arange(len(kept))
        member = captured & (new_index[nearest] >= 0)
        spot_of = new_index[nearest[member]]
        agg = sp.csr_matrix(
            (np.ones(member.sum()), (spot_of, np.arange(member.sum()))), shape=(len(kept), int(member.sum()))
        )
        ids = [f"{name}_r{r}_c{c}" for r, c in zip(rows[kept], cols[kept], strict=True)]
        obs = pd.DataFrame(
            {"sample_id": name, "array_row": rows[kept], "array_col": cols[kept], "in_tissue": 1,
             "n_cells": n_per_spot[kept]},
            index=ids,
        )  # fmt: skip
        parts.append({"X": agg @ X[idx[member]], "obs": obs, "xy": centres[kept]})
        assignment.append(pd.DataFrame({"cell": adata.obs_names[idx[member]], "spot": np.asarray(ids)[spot_of]}))
    out = ad.AnnData(
        X=sp.vstack([p["X"] for p in parts], format="csr").astype(np.float32),
        obs=pd.concat([p["obs"] for p in parts]),
        var=pd.DataFrame(index=adata.var_names.copy()),
    )
    out.obsm["spatial"] = np.concatenate([p["xy"] for p in parts])
    cell_table = pd.concat(assignment, ignore_index=True)
    if cell_type_key is not None:
        types = adata.obs[cell_type_key].astype(str).reindex(cell_table["cell"]).to_numpy()
        categories = list(pd.Series(adata.obs[cell_type_key]).astype("category").cat.categories.astype(str))
        counts = pd.crosstab(cell_table["spot"].to_numpy(), types).reindex(
            index=out.obs_names, columns=categories, fill_value=0
        )
        counts.index.name = counts.columns.name = None
        out.obsm["cell_type_counts"] = counts
        out.obsm["cell_type_fractions"] = counts.div(counts.sum(axis=1), axis=0)
    out.uns[SPOTS_KEY] = {
        "source": "tk.sp.pseudo_visium",
        "spot_diameter_um": float(spot_diameter),
        "pitch_um": float(pitch),
        "microns_per_unit": 1.0,
        "n_cells_total": int(adata.n_obs),
        "n_cells_captured": len(cell_table),
        "cell_type_key": cell_type_key or "",
        "cells": cell_table,
    }
    return out
