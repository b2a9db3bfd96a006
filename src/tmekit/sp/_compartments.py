"""`tk.sp.compartments`: tumour region, signed distance to its boundary, core / margin / stroma."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import ndimage

from tmekit._constants import COMPARTMENT_KEY, SPATIAL_KEY
from tmekit._obs import coordinates_um, label_mask, samples
from tmekit._transaction import all_or_nothing

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["COMPARTMENTS", "Geometry", "compartments", "margin_halfwidth", "sample_geometry"]

COMPARTMENTS = ("tumour core", "invasive margin", "stroma")
DISTANCE_KEY = "tmekit_tumor_distance"
TUMOR_CONTENT_KEY = "tmekit_tumor_content"  # obs of spot data: smoothed tumour fraction
#: Immunoscore's invasive margin: 500 um on each side of the tumour border on whole slides.
WHOLE_SLIDE_HALFWIDTH_UM = 500.0
#: On small fields the band scales with the field (1/16 of its shorter side) but never below 25 um,
#: about 2-3 cell diameters (SPIAT's default margin is 5 cell layers, i.e. ~50 um for 10 um cells).
MIN_HALFWIDTH_UM = 25.0
#: Largest grid built per sample (about 64 bytes per pixel while the region is computed: ~2.6 GB). A 16 x 16 mm
#: whole slide at the default 25 um pixels has 0.4 million.
MAX_GRID_PIXELS = 4e7


def margin_halfwidth(extent_um: float) -> float:
    """Default half-width of the invasive-margin band for a sample whose shorter side is ``extent_um``.

    Whole slides (shorter side >= 8 mm) use Immunoscore's 500 um per side; smaller fields scale it
    down to 1/16 of the shorter side (50 um for an 800 um MIBI field, 62.5 um for a 1 mm TMA core),
    never below 25 um, so that the band stays a minority of the field and the core keeps an interior.
    """
    return float(np.clip(extent_um / 16.0, MIN_HALFWIDTH_UM, WHOLE_SLIDE_HALFWIDTH_UM))


@dataclass
class Geometry:
    """One sample's grid: signed distance of every pixel to the tumour boundary (um), tissue mask."""

    signed_grid: np.ndarray
    tissue: np.ndarray
    pixel_um: float
    origin: np.ndarray
    halfwidth: float

    def pixel_centres(self) -> np.ndarray:
        """(n_pixels, 2) x, y of every pixel centre, in the same order as ``signed_grid.ravel()``."""
        rows, cols = np.indices(self.signed_grid.shape)
        return np.column_stack([cols.ravel(), rows.ravel()]) * self.pixel_um + self.origin + self.pixel_um / 2


def sample_geometry(
    xy: np.ndarray,
    tumour: np.ndarray,
    *,
    halfwidth: float | None,
    pixel_um: float | None,
    bandwidth_um: float | None,
    min_tumor_fraction: float,
) -> tuple[np.ndarray, dict[str, Any], Geometry]:
    """Signed distance per cell, per-sample summary and the grid geometry of one sample."""
    lo = xy.min(axis=0)
    extent = xy.max(axis=0) - lo
    shorter = float(max(extent.min(), 1.0))
    w = margin_halfwidth(shorter) if halfwidth is None else float(halfwidth)
    px = float(pixel_um) if pixel_um is not None else float(np.clip(shorter / 200.0, 2.0, 25.0))
    bw = float(bandwidth_um) if bandwidth_um is not None else max(2.0 * px, min(w, 30.0))
    shape = (np.floor(extent / px).astype(int) + 1)[::-1]  # rows = y, cols = x
    n_pixels = float(np.prod(shape.astype(np.float64)))
    if n_pixels > MAX_GRID_PIXELS:
        msg = (
            f"The tumour-region grid of this sample would have {n_pixels:.3g} pixels ({extent[0] / 1000:.4g} x "
            f"{extent[1] / 1000:.4g} mm at {px:g} um per pixel, about {n_pixels * 64 / 1e9:.3g} GB); the limit is "
            f"{MAX_GRID_PIXELS:.0e}. Pass a larger `pixel_size=` (um), or check `microns_per_unit`: a field this "
            "large is usually coordinates in the wrong unit."
        )
        raise ValueError(msg)
    col, row = np.floor((xy - lo) / px).astype(int).T
    all_counts = np.zeros(shape)
    np.add.at(all_counts, (row, col), 1.0)
    tum_counts = np.zeros(shape)
    np.add.at(tum_counts, (row[tumour], col[tumour]), 1.0)
    sigma = bw / px
    all_s = ndimage.gaussian_filter(all_counts, sigma, mode="constant")
    tum_s = ndimage.gaussian_filter(tum_counts, sigma, mode="constant")
    tissue = all_s > 0.05 * all_s.max() if all_s.max() > 0 else np.zeros(shape, bool)
    mask = tissue & (tum_s >= min_tumor_fraction * np.maximum(all_s, 1e-12))
    info: dict[str, Any] = {"margin_halfwidth_um": w, "pixel_um": px, "bandwidth_um": bw}
    if not mask.any():
        signed = np.full(len(xy), np.inf)
        info.update(tumour_area_mm2=0.0, core_area_mm2=0.0, margin_area_mm2=0.0)
        info["stroma_area_mm2"] = float(tissue.sum() * px * px / 1e6)
        info["has_tumour_region"] = False
        return signed, info, Geometry(np.full(shape, np.inf), tissue, px, lo, w)
    inside = ndimage.distance_transform_edt(mask) * px
    outside = ndimage.distance_transform_edt(~mask) * px
    # Pixel centres: a boundary pixel is half a pixel from the edge on either side.
    signed_grid = np.where(mask, -(inside - px / 2), outside - px / 2)
    signed = signed_grid[row, col]
    pixel_mm2 = px * px / 1e6
    info.update(
        tumour_area_mm2=float((mask & tissue).sum() * pixel_mm2),
        core_area_mm2=float((tissue & (signed_grid <= -w)).sum() * pixel_mm2),
        margin_area_mm2=float((tissue & (np.abs(signed_grid) < w)).sum() * pixel_mm2),
        stroma_area_mm2=float((tissue & (signed_grid >= w)).sum() * pixel_mm2),
        has_tumour_region=True,
    )
    return signed, info, Geometry(signed_grid, tissue, px, lo, w)


@all_or_nothing
def compartments(
    adata: AnnData,
    *,
    cell_type_key: str | None = None,
    tumor_labels: Sequence[str] | str | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    margin_width: float | None = None,
    pixel_size: float | None = None,
    bandwidth: float | None = None,
    min_tumor_fraction: float = 0.5,
    mode: Literal["auto", "cells", "spots"] = "auto",
    content_key: str = "tmekit_spot_content",
    key_added: str = COMPARTMENT_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Tumour region, signed distance to its boundary and compartments, per sample.

    **Spots** (Visium, binned data; ``mode="spots"``, or ``"auto"`` when the object is spot data: made by
    :func:`tmekit.datasets.pseudo_visium`, read by ``sc.read_visium`` or deconvolved by
    :func:`tmekit.sp.spot_content`): the tumour content of each spot (sum of the ``tumor_labels``
    columns of ``obsm[content_key]``; default: the reference's tumour types) is smoothed on squidpy's
    grid graph (half its own value, half the mean of its neighbours); spots whose smoothed content is at least
    ``min_tumor_fraction`` form the tumour region. The boundary runs half-way between neighbouring
    tumour and non-tumour spots, so a spot's signed distance is the distance between their centres
    minus half the pitch. The margin half-width is at least one pitch (100 um on Visium), so that the
    spots on either side of the boundary are margin. The scale comes from ``uns["tmekit_spots"]`` or
    Visium's ``scalefactors`` (``spot_diameter_fullres`` = 55 um), else ``microns_per_unit``.
    ``obs["tmekit_tumor_content"]`` gets the smoothed tumour content.

    **Cells** (below):

    Per sample, tumour and all cells are counted on a square grid and smoothed with a Gaussian
    (``bandwidth``); the tumour region is where tumour cells make up at least ``min_tumor_fraction``
    of the smoothed cell density (within tissue, i.e. where cells are). Every cell gets its signed
    distance to the region's boundary (Euclidean distance transform; negative inside) and a
    compartment: ``tumour core`` (distance <= -w), ``invasive margin`` (|distance| < w) or
    ``stroma`` (distance >= w), where w is the margin half-width.

    Parameters
    ----------
    adata
        Cells with coordinates in ``obsm[spatial_key]``.
    cell_type_key, tumor_labels
        ``obs`` column with cell types, and the labels that mean tumour cells.
    library_key
        ``obs`` column naming the sample (field, image, core); each is processed alone.
    spatial_key
        Coordinates key in ``obsm``.
    microns_per_unit
        Micrometres per coordinate unit (e.g. 800/2048 for a 2048-pixel, 800 um MIBI field). ``None``: the
        coordinates are taken as micrometres, but only if the cells are spaced as cells in tissue are (median
        nearest-neighbour distance 2.5-15 um; typically 7-8 um); otherwise this raises and asks for the unit.
        Stated units are checked too: a spacing below 0.5 um or above 150 um cannot be cells in micrometres.
    margin_width
        Half-width w of the invasive-margin band in micrometres. Default: Immunoscore's 500 um per
        side on whole slides, scaled to 1/16 of the shorter side of smaller fields (50 um for an
        800 um field), at least 25 um; see :func:`margin_halfwidth`.
    pixel_size, bandwidth
        Grid pixel and smoothing bandwidth in micrometres. Defaults: pixel = shorter side / 200
        (2-25 um); bandwidth = min(w, 30 um), at least two pixels.
    min_tumor_fraction
        Share of smoothed cell density that must be tumour for a pixel to be tumour region.
    key_added
        ``obs[key_added]`` gets the compartment, ``obs["tmekit_tumor_distance"]`` the signed distance
        in micrometres (+inf in samples without a tumour region), ``uns[key_added]`` the
        parameters and per-sample areas (mm^2).
    overwrite, copy
        Replace existing results; return a new object instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.
    """
    if mode not in {"auto", "cells", "spots"}:
        msg = f"Unknown mode={mode!r}: use 'auto', 'cells' (single-cell positions) or 'spots' (Visium-like)."
        raise ValueError(msg)
    from tmekit.sp._spots import is_spot_data

    spots = mode == "spots" or (mode == "auto" and is_spot_data(adata) and cell_type_key is None)
    written = (key_added, DISTANCE_KEY, TUMOR_CONTENT_KEY) if spots else (key_added, DISTANCE_KEY)
    existing = [k for k in written if k in adata.obs] + ([key_added] if key_added in adata.uns else [])
    if existing and not overwrite:
        msg = f"`adata.obs`/`uns` already has {existing}. Pass `overwrite=True` to replace, or `key_added=`."
        raise ValueError(msg)
    if spots:
        from tmekit.sp._spots import spot_compartments

        smooth, signed, per_sample, params = spot_compartments(
            adata, content_key=content_key, tumor_labels=tumor_labels, library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit, margin_width=margin_width,
            min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        extra_obs = {TUMOR_CONTENT_KEY: smooth}
    else:
        signed, per_sample, params = _cell_compartments(
            adata, cell_type_key=cell_type_key, tumor_labels=tumor_labels, library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit, margin_width=margin_width,
            pixel_size=pixel_size, bandwidth=bandwidth, min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        extra_obs = {}
    w = np.empty(adata.n_obs)
    for name, idx in samples(adata, library_key=library_key):
        w[idx] = per_sample[name]["margin_halfwidth_um"]
    labels = np.where(signed <= -w, 0, np.where(np.abs(signed) < w, 1, 2))
    target = adata.copy() if copy else adata
    target.obs[key_added] = pd.Categorical.from_codes(labels, categories=list(COMPARTMENTS))
    target.obs[DISTANCE_KEY] = signed
    for column, values in extra_obs.items():
        target.obs[column] = values
    target.uns[key_added] = {
        "params": {**params, "library_key": library_key or "", "spatial_key": spatial_key},
        "samples": per_sample,
        "distance_key": DISTANCE_KEY,
    }
    return target if copy else None


def _cell_compartments(
    adata: AnnData,
    *,
    cell_type_key: str | None,
    tumor_labels: Sequence[str] | str | None,
    library_key: str | None,
    spatial_key: str,
    microns_per_unit: float | None,
    margin_width: float | None,
    pixel_size: float | None,
    bandwidth: float | None,
    min_tumor_fraction: float,
) -> tuple[np.ndarray, dict[str, dict[str, Any]], dict[str, Any]]:
    """Per cell: signed distance (um) to the tumour boundary; per sample: summary; and the parameters."""
    if cell_type_key is None or tumor_labels is None:
        msg = (
            "Single-cell compartments need `cell_type_key=` (obs column of cell types) and `tumor_labels=`. "
            "For spot data (Visium) pass `mode='spots'` after `tk.sp.spot_content(spots)`."
        )
        raise ValueError(msg)
    tumour = label_mask(adata, cell_type_key=cell_type_key, labels=tumor_labels, what="tumor")
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    signed = np.full(adata.n_obs, np.nan)
    per_sample = {}
    for name, idx in samples(adata, library_key=library_key):
        d, info, _ = sample_geometry(
            xy[idx], tumour[idx], halfwidth=margin_width, pixel_um=pixel_size, bandwidth_um=bandwidth,
            min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        info.update(n_cells=len(idx), n_tumor_cells=int(tumour[idx].sum()))
        signed[idx] = d
        per_sample[name] = info
    params = {
        "mode": "cells",
        "cell_type_key": cell_type_key,
        "tumor_labels": list([tumor_labels] if isinstance(tumor_labels, str) else tumor_labels),
        "microns_per_unit": 1.0 if microns_per_unit is None else float(microns_per_unit),
        "microns_per_unit_stated": microns_per_unit is not None,
        "min_tumor_fraction": float(min_tumor_fraction),
    }
    return signed, per_sample, params
