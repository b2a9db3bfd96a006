"""Are positions in micrometres? The spacing of cells, and the checks built on it (one home for units).

Every check runs **per sample**: one object may hold samples whose positions were exported in different units,
and a median over all of them would hide the odd one.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tmekit._warnings import InputWarning

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DUPLICATE_SHARE",
    "POSSIBLE_CELL_SPACING_UM",
    "TYPICAL_CELL_SPACING_UM",
    "UNIT_HINT",
    "cell_spacing",
    "check_cell_units",
    "flat_reason",
    "sample_spacings",
]

#: Median distance (um) between a cell and its nearest neighbour in a segmented tissue section. Measured per sample
#: on the real data tmekit is tested with: Keren 2018 MIBI 6.1-8.8 um (33 fields at 800/2048 um per pixel), 10x
#: Xenium breast 7.8 um, the melanoma mIF images 6.8-10.5 um (at 2 um per unit), tmekit's synthetic tissues
#: 7.7-9 um. Nuclei of packed lymphocytes lie ~5-7 um apart, so no sample's median is below 4 um. Unstated units
#: must give a spacing in this band.
TYPICAL_CELL_SPACING_UM = (4.0, 15.0)
#: Stated units must give a spacing cells can have: the same floor, and up to 60 um for sparse samples (a random
#: subsample, a panel of a few cell types; the Keren 2018 10,000-cell subsample: 15.7-36.9 um per field).
POSSIBLE_CELL_SPACING_UM = (4.0, 60.0)
#: Share of a sample's cells sitting exactly on another cell's position above which the call is refused
#: (segmented cells cannot share a centre: such rows are duplicates and would be counted twice). Fewer: a warning.
DUPLICATE_SHARE = 0.01
#: Cells queried per sample for the spacing (evenly spaced rows: deterministic, and cheap on whole slides).
_SPACING_QUERIES = 20_000
_MIN_CELLS_FOR_SPACING = 20
UNIT_HINT = (
    "Typical values: MIBI 800 um fields of 2048 px: 800/2048 = 0.39; IMC (1 um pixels): 1; CODEX/PhenoCycler at "
    "20x: 0.377; Vectra/Polaris at 20x: 0.5; CosMx pixels: 0.12; Xenium pixels: 0.2125; Xenium, MERSCOPE and "
    "CosMx micrometre exports: 1."
)


def _spacing(points: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distances of (up to 20,000 evenly spaced) cells of one sample."""
    step = max(1, len(points) // _SPACING_QUERIES)
    d, _ = cKDTree(points).query(points[::step], k=2)
    return d[:, 1]


def cell_spacing(xy: np.ndarray, groups: Iterable[np.ndarray]) -> tuple[float, int]:
    """Median nearest-neighbour distance of cells within their own sample (coordinate units), and cells used."""
    distances = [_spacing(xy[idx]) for idx in groups if len(idx) >= 2]
    if not distances:
        return float("nan"), 0
    flat = np.concatenate(distances)
    return float(np.median(flat)), int(flat.size)


def sample_spacings(xy: np.ndarray, groups: Iterable[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Each sample's median nearest-neighbour distance (coordinate units), for samples of 20 cells or more."""
    return {name: float(np.median(_spacing(xy[idx]))) for name, idx in groups if len(idx) >= _MIN_CELLS_FOR_SPACING}


#: A sample whose cells spread less than this across their main axis (one file of cells, or positions on one line)
#: has no tissue area to hold a tumour region, a core or a margin: its calls are indeterminate, with this reason.
MIN_TISSUE_WIDTH_UM = 10.0


def flat_reason(xy: np.ndarray) -> str:
    """Why a sample's positions enclose no area ("" when they do): fewer than 3 cells, or all on (nearly) one line.

    A line: the cells spread less than :data:`MIN_TISSUE_WIDTH_UM` across their main axis (the range of their
    projection on the minor principal axis, in the units of ``xy``: micrometres here) and less than a tenth of
    their length along it (a field shrunk by a wrong unit is small, not a line: the unit check speaks for it).
    """
    if len(xy) < 3:
        return f"{len(xy)} cell(s): no tissue area"
    centred = xy - xy.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    across, along = centred @ vectors[:, 0], centred @ vectors[:, 1]  # eigh: the minor axis first
    width, length = float(np.ptp(across)), float(np.ptp(along))
    if width >= MIN_TISSUE_WIDTH_UM or width >= 0.1 * length:
        return ""
    return (
        f"the cells lie on one line (they spread {width:.3g} um across it, less than one cell, {MIN_TISSUE_WIDTH_UM:g} "
        "um): no tissue area for a tumour region, core or margin (check the coordinates: x and y the same column?)"
    )


def _duplicates(xy: np.ndarray, groups: list[tuple[str, np.ndarray]]) -> dict[str, tuple[int, int]]:
    """Per sample with repeated positions: (cells on an earlier cell's exact position, cells)."""
    out = {}
    for name, idx in groups:
        repeated = int(pd.DataFrame(xy[idx]).duplicated().sum()) if len(idx) > 1 else 0
        if repeated:
            out[name] = (repeated, len(idx))
    return out


def _check_duplicates(xy: np.ndarray, groups: list[tuple[str, np.ndarray]], library_key: str | None) -> None:
    found = _duplicates(xy, groups)
    if not found:
        return
    worst = max(found, key=lambda k: found[k][0] / found[k][1])
    n, total = found[worst]
    by = f".assign(sample=adata.obs[{library_key!r}].to_numpy())" if library_key else ""
    fix = (
        f"Drop them first: `keep = ~pd.DataFrame(adata.obsm['spatial'][:, :2]){by}.duplicated().to_numpy(); "
        "adata = adata[keep].copy()`."
    )
    where = f"sample {worst!r}" if library_key else "the object"
    text = (
        f"{n:,} of the {total:,} cells of {where} ({n / total:.1%}) sit exactly on the position of another cell"
        f"{f' (and {len(found) - 1} more samples have such cells)' if len(found) > 1 else ''}. Segmented cells "
        "cannot share a centre: these are duplicated rows (a table appended twice?) and would be counted twice in "
        f"every count and density. {fix}"
    )
    if any(k / t >= DUPLICATE_SHARE for k, t in found.values()):
        raise ValueError(text)
    warnings.warn(text, InputWarning, stacklevel=5)


def _describe(spacings: dict[str, float], names: list[str]) -> str:
    shown = ", ".join(f"{n!r} {spacings[n]:.3g}" for n in names[:5])
    return f"{shown}{f' and {len(names) - 5} more' if len(names) > 5 else ''}"


def check_cell_units(
    xy_um: np.ndarray,
    groups: Iterable[tuple[str, np.ndarray]],
    *,
    microns_per_unit: float | None,
    library_key: str | None = None,
) -> dict[str, float]:
    """Raise unless the cells of every sample are spaced as cells in tissue are; return each sample's spacing (um).

    ``groups``: ``(sample name, cell indices)``. First, cells sharing an exact position (duplicated rows) are
    refused when they are 1% of a sample or more, announced otherwise. Then ``microns_per_unit=None`` means the
    units were not stated (and 1 was assumed): each sample's median spacing must be typical of segmented tissue
    (:data:`TYPICAL_CELL_SPACING_UM`), which catches pixel coordinates passed as micrometres. Stated units must give
    a spacing cells can have (:data:`POSSIBLE_CELL_SPACING_UM`), which catches micrometres converted once more, and
    samples in other units than the rest of the object.
    """
    groups = list(groups)
    _check_duplicates(xy_um, groups, library_key)
    # a sample on one line has no spacing to speak of (its calls are indeterminate for that reason, not its units)
    spacings = sample_spacings(xy_um, [(name, idx) for name, idx in groups if not flat_reason(xy_um[idx])])
    lo, hi = TYPICAL_CELL_SPACING_UM if microns_per_unit is None else POSSIBLE_CELL_SPACING_UM
    bad = [name for name, s in spacings.items() if not lo <= s <= hi]
    if not bad:
        return spacings
    mpu = 1.0 if microns_per_unit is None else float(microns_per_unit)
    good = [name for name in spacings if name not in bad]
    s = float(np.median([spacings[n] for n in bad]))
    units, side = s / mpu, "closer" if s < lo else "further"
    limit = lo if s < lo else hi
    if good:  # the object mixes units: one factor cannot be right for all of its samples
        rest = float(np.median([spacings[n] for n in good]))
        msg = (
            f"The samples are not in one unit: with `microns_per_unit={mpu:g}`"
            f"{' (assumed: not given)' if microns_per_unit is None else ''} neighbouring cells are a median "
            f"{rest:.3g} um apart in {len(good)} samples but {_describe(spacings, bad)} um in {len(bad)} (in "
            f"`obs[{library_key!r}]`), and cells in tissue cannot be {side} than {limit:g} um. One "
            "`microns_per_unit` applies to every sample of the object: bring the positions of those samples to the "
            f"unit of the others first (about x{rest / s:.3g}), or call them in an object of their own. {UNIT_HINT}"
        )
        raise ValueError(msg)
    suggest = 8.0 / units if units > 0 else float("nan")
    where = f" (samples {_describe(spacings, bad)} um)" if library_key and len(spacings) > 1 else ""
    if microns_per_unit is None:
        msg = (
            f"The coordinates do not look like micrometres: neighbouring cells are a median {units:.3g} units apart"
            f"{where}, while cells in tissue sections lie {lo:g}-{hi:g} um apart (7-8 um typically). "
            "`microns_per_unit` was not given, so 1 unit = 1 um would have been assumed. Pass `microns_per_unit=` "
            f"(about {suggest:.3g} would give the typical 8 um). {UNIT_HINT} If they really are micrometres (sparse "
            "or subsampled cells), pass `microns_per_unit=1` to say so."
        )
    else:
        msg = (
            f"With `microns_per_unit={microns_per_unit:g}` neighbouring cells are a median {s:.3g} um apart "
            f"({units:.3g} units){where}: cells in tissue cannot be {side} than {limit:g} um. The coordinates are "
            f"in another unit: about `microns_per_unit={suggest:.3g}` would give the typical 8 um. {UNIT_HINT}"
        )
        typical = TYPICAL_CELL_SPACING_UM
        if microns_per_unit != 1 and typical[0] <= units <= typical[1]:  # micrometres converted once more
            msg = (
                f"With `microns_per_unit={microns_per_unit:g}` neighbouring cells are a median {s:.3g} um apart"
                f"{where}: cells in tissue cannot be {side} than {limit:g} um. As given, the positions are {units:.3g} "
                "units apart, as cells in micrometres are: they look converted already (Xenium, CosMx and MERSCOPE "
                "exports are in micrometres). Pass `microns_per_unit=1` (or leave it out) for positions in "
                "micrometres; the factor is for pixel coordinates."
            )
    raise ValueError(msg)
