"""Positions in `tk.pp.check`: present, finite, and spaced like cells in micrometres (or not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._units import TYPICAL_CELL_SPACING_UM, UNIT_HINT, cell_spacing, flat_reason, sample_spacings
from tmekit.pp._problem import Problem

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["check_positions"]


def check_positions(
    adata: AnnData, *, spatial_key: str, library_key: str | None
) -> tuple[dict[str, Any], list[Problem]]:
    """Positions: present, NaN, median spacing of neighbouring cells (or spots) and the units it implies."""
    if spatial_key not in adata.obsm:
        return {"key": None}, []
    xy = np.asarray(adata.obsm[spatial_key], dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] < 2:
        msg = f"`adata.obsm[{spatial_key!r}]` has shape {xy.shape}, not (n_cells, 2): spatial functions cannot use it."
        return {"key": None}, [Problem("coordinates_shape", "error", msg)]
    xy = xy[:, :2]
    finite = np.isfinite(xy).all(axis=1)
    lib = adata.obs[library_key].astype(str).to_numpy() if library_key in adata.obs else np.zeros(adata.n_obs)
    groups = [(str(v), np.flatnonzero(finite & (lib == v))) for v in pd.unique(lib)]
    spacing, _ = cell_spacing(xy, [idx for _, idx in groups])
    spots = {"array_row", "array_col"} <= set(map(str, adata.obs.columns))
    lo, hi = TYPICAL_CELL_SPACING_UM
    problems = []
    per_sample = sample_spacings(xy, [(n, idx) for n, idx in groups if not flat_reason(xy[idx])])
    odd = {n: s for n, s in per_sample.items() if not lo <= s <= hi}
    if spots:
        implied = f"spot pitch {spacing:.3g} units; Visium spots are 100 um apart"
    elif not np.isfinite(spacing):
        implied = "too few cells to tell"
    elif lo <= spacing <= hi and odd:  # the object as a whole looks right, some samples do not: mixed units?
        shown = ", ".join(f"{n!r} {s:.3g}" for n, s in list(odd.items())[:5])
        implied = (
            f"consistent with micrometres overall, but not in {len(odd)} of {len(per_sample)} samples ({shown} "
            "units): are those in another unit?"
        )
        msg = f"Positions in obsm[{spatial_key!r}] are {implied} Spatial calls check each sample. {UNIT_HINT}"
        problems.append(Problem("coordinate_units", "warning", msg))
    elif lo <= spacing <= hi:
        implied = "consistent with micrometres"
    else:
        implied = (
            f"not micrometres unless the cells are sparse: segmented cells lie {lo:g}-{hi:g} um apart; about "
            f"`microns_per_unit={8.0 / spacing:.3g}` would give the typical 8 um"
        )
        msg = (
            f"Positions in obsm[{spatial_key!r}] are {implied}. Pass `microns_per_unit=` to spatial calls. {UNIT_HINT}"
        )
        problems.append(Problem("coordinate_units", "warning", msg))
    n_nan = int((~finite).sum())
    if n_nan:
        msg = (
            f"{n_nan} cells have NaN/infinite coordinates in obsm[{spatial_key!r}]; spatial functions refuse them. "
            f"Remove them: `adata = adata[np.isfinite(adata.obsm[{spatial_key!r}]).all(axis=1)].copy()`."
        )
        problems.append(Problem("nan_coordinates", "warning", msg))
    info = {"key": spatial_key, "n_nan": n_nan, "spacing": spacing, "implied": implied, "spots": spots}
    return info, problems
