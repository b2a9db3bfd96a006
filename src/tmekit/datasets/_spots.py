"""Spot data made from single cells: pseudo-Visium aggregation and a synthetic spot tissue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from tmekit._arrays import get_matrix
from tmekit._constants import SPATIAL_KEY
from tmekit._obs import coordinates_um, samples
from tmekit._values import require_counts
from tmekit.datasets._synthetic import synthetic_tissue
from tmekit.sp._spots import SPOTS_KEY, VISIUM_PITCH_UM, VISIUM_SPOT_DIAMETER_UM, default_spot_reference

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["pseudo_visium", "synthetic_spots"]

#: Types of :func:`tmekit.datasets.synthetic_tissue` -> default-reference types whose profile they express.
_SYNTHETIC_PROFILE = {
    "Tumour": "Epithelial",
    "Stroma": "Fibroblast",
    "CD8T": "CD8 T",
    "CD4T": "CD4 T",
    "Macrophage": "Myeloid",
}


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


def pseudo_visium(
    cells: AnnData,
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
    cells
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
    """
    if spot_diameter <= 0 or pitch < spot_diameter:
        msg = f"Need 0 < spot_diameter <= pitch, got spot_diameter={spot_diameter}, pitch={pitch}."
        raise ValueError(msg)
    xy = coordinates_um(cells, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    X = sp.csr_matrix(get_matrix(cells, layer=layer))
    require_counts(X, 0, "adata.X" if layer is None else f"adata.layers[{layer!r}]", what="pseudo_visium")
    if cell_type_key is not None and cell_type_key not in cells.obs:
        msg = f"`cells.obs[{cell_type_key!r}]` not found; pass `cell_type_key=None` or an existing column."
        raise KeyError(msg)
    parts, assignment = [], []
    for name, idx in samples(cells, library_key=library_key):
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
        assignment.append(pd.DataFrame({"cell": cells.obs_names[idx[member]], "spot": np.asarray(ids)[spot_of]}))
    out = ad.AnnData(
        X=sp.vstack([p["X"] for p in parts], format="csr").astype(np.float32),
        obs=pd.concat([p["obs"] for p in parts]),
        var=pd.DataFrame(index=cells.var_names.copy()),
    )
    out.obsm["spatial"] = np.concatenate([p["xy"] for p in parts])
    cell_table = pd.concat(assignment, ignore_index=True)
    if cell_type_key is not None:
        types = cells.obs[cell_type_key].astype(str).reindex(cell_table["cell"]).to_numpy()
        categories = list(pd.Series(cells.obs[cell_type_key]).astype("category").cat.categories.astype(str))
        counts = pd.crosstab(cell_table["spot"].to_numpy(), types).reindex(
            index=out.obs_names, columns=categories, fill_value=0
        )
        counts.index.name = counts.columns.name = None
        out.obsm["cell_type_counts"] = counts
        out.obsm["cell_type_fractions"] = counts.div(counts.sum(axis=1), axis=0)
    out.uns[SPOTS_KEY] = {
        "source": "tk.datasets.pseudo_visium",
        "spot_diameter_um": float(spot_diameter),
        "pitch_um": float(pitch),
        "microns_per_unit": 1.0,
        "n_cells_total": int(cells.n_obs),
        "n_cells_captured": len(cell_table),
        "cell_type_key": cell_type_key or "",
        "cells": cell_table,
    }
    return out


def synthetic_spots(
    phenotype: Literal["inflamed", "excluded", "desert", "near_inflamed", "near_excluded"] = "inflamed",
    *,
    size_um: float = 2000.0,
    counts_per_cell: float = 300.0,
    rng: np.random.Generator | int | None = 0,
    sample_id: str | None = None,
) -> AnnData:
    """A seeded synthetic Visium-like tissue whose phenotype and per-spot composition are known.

    Cells are placed by :func:`synthetic_tissue` (same phenotypes and densities, on a larger field so
    that there are hundreds of spots); each cell gets Poisson counts from the real expression profile of
    its type in the bundled Wu et al. 2021 reference (tumour -> epithelial, stroma -> fibroblast, CD8T,
    CD4T, macrophage -> myeloid) over the cell-identity genes, ``counts_per_cell`` on average; cells are
    then aggregated into 55 um spots on a 100 um hexagonal grid by :func:`pseudo_visium`.

    Returns the spot AnnData (raw counts, ``obsm["cell_type_counts"]``/``["cell_type_fractions"]`` =
    truth) with ``uns["synthetic_tissue"]`` (parameters, expected phenotype).
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    tissue = synthetic_tissue(phenotype, size_um=size_um, rng=gen, sample_id=sample_id)
    ref = default_spot_reference()
    types = tissue.obs["cell_type"].astype(str).map(_SYNTHETIC_PROFILE).to_numpy()
    profiles = ref.profiles.loc[types].to_numpy()
    scale = counts_per_cell * (ref.library_size.loc[types] / ref.library_size.mean()).to_numpy()
    counts = gen.poisson(profiles * scale[:, None]).astype(np.float32)
    tissue = ad.AnnData(
        X=sp.csr_matrix(counts), obs=tissue.obs, var=pd.DataFrame(index=ref.profiles.columns.copy()),
        obsm=dict(tissue.obsm), uns=dict(tissue.uns),
    )  # fmt: skip
    spots = pseudo_visium(tissue, cell_type_key="cell_type", library_key="sample_id")
    spots.uns["synthetic_tissue"] = dict(tissue.uns["synthetic_tissue"])
    return spots
