"""Are positions in micrometres? The spacing of cells, and the checks built on it (one home for units)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["POSSIBLE_CELL_SPACING_UM", "TYPICAL_CELL_SPACING_UM", "UNIT_HINT", "cell_spacing", "check_cell_units"]

#: Median distance (um) between a cell and its nearest neighbour in a segmented tissue section. Measured on the
#: real data tmekit is tested with: Keren 2018 MIBI 7.4 um (all cells, 800/2048 um per pixel), 10x Xenium breast
#: 7.8 um, tmekit's synthetic tissues 8-9 um. Unstated units must give a spacing in this band.
TYPICAL_CELL_SPACING_UM = (2.5, 15.0)
#: Stated units must at least give a spacing cells can have (a random subsample, a sparse panel of a few cell
#: types: a few tens of um; the Keren 2018 10,000-cell subsample: 22 um).
POSSIBLE_CELL_SPACING_UM = (0.5, 150.0)
#: Cells queried per sample for the spacing (evenly spaced rows: deterministic, and cheap on whole slides).
_SPACING_QUERIES = 20_000
_MIN_CELLS_FOR_SPACING = 20
UNIT_HINT = (
    "Typical values: MIBI 800 um fields of 2048 px: 800/2048 = 0.39; IMC (1 um pixels): 1; CODEX/PhenoCycler at "
    "20x: 0.377; Vectra/Polaris at 20x: 0.5; CosMx pixels: 0.12; Xenium, MERSCOPE and CosMx micrometre exports: 1."
)


def cell_spacing(xy: np.ndarray, groups: Iterable[np.ndarray]) -> tuple[float, int]:
    """Median nearest-neighbour distance of cells within their own sample (coordinate units), and cells used."""
    distances = []
    for idx in groups:
        if len(idx) < 2:
            continue
        points = xy[idx]
        step = max(1, len(idx) // _SPACING_QUERIES)
        d, _ = cKDTree(points).query(points[::step], k=2)
        distances.append(d[:, 1])
    if not distances:
        return float("nan"), 0
    flat = np.concatenate(distances)
    return float(np.median(flat)), int(flat.size)


def check_cell_units(xy_um: np.ndarray, groups: Iterable[np.ndarray], *, microns_per_unit: float | None) -> float:
    """Raise unless cells at ``xy_um`` are spaced as cells in tissue are; return the median spacing (um).

    ``microns_per_unit=None`` means the units were not stated (and 1 was assumed): the spacing must then be
    typical of segmented tissue (:data:`TYPICAL_CELL_SPACING_UM`), which catches pixel coordinates passed as
    micrometres. Stated units only need to be possible (:data:`POSSIBLE_CELL_SPACING_UM`), which catches
    coordinates off by orders of magnitude before any grid or graph is built from them.
    """
    spacing, n = cell_spacing(xy_um, groups)
    if n < _MIN_CELLS_FOR_SPACING or not np.isfinite(spacing):
        return spacing
    lo, hi = TYPICAL_CELL_SPACING_UM if microns_per_unit is None else POSSIBLE_CELL_SPACING_UM
    if lo <= spacing <= hi:
        return spacing
    mpu = 1.0 if microns_per_unit is None else float(microns_per_unit)
    units = spacing / mpu
    suggest = 8.0 / units if units > 0 else float("nan")
    if microns_per_unit is None:
        msg = (
            f"The coordinates do not look like micrometres: neighbouring cells are a median {units:.3g} units apart, "
            f"while cells in tissue sections lie {lo:g}-{hi:g} um apart (7-8 um typically). `microns_per_unit` was "
            f"not given, so 1 unit = 1 um would have been assumed. Pass `microns_per_unit=` (about {suggest:.3g} "
            f"would give the typical 8 um). {UNIT_HINT} If they really are micrometres (sparse or subsampled cells), "
            "pass `microns_per_unit=1` to say so."
        )
    else:
        msg = (
            f"With `microns_per_unit={microns_per_unit:g}` neighbouring cells are a median {spacing:.3g} um apart "
            f"({units:.3g} units): cells in tissue cannot be {'closer' if spacing < lo else 'further'} than "
            f"{lo if spacing < lo else hi:g} um. The coordinates are in another unit: about "
            f"`microns_per_unit={suggest:.3g}` would give the typical 8 um. {UNIT_HINT}"
        )
    raise ValueError(msg)
