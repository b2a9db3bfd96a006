"""`tk.sp.compartments`: tumour region, signed distance to its boundary, core / margin / stroma, cells and spots.

The per-sample summary in ``uns`` keeps what the region was made of, so that nothing downstream recomputes it:
for cells each grid pixel's compartment (:func:`tmekit.sp.tile_table` reads the areas per tile from it),
for cells and spots the boundary as a polyline (``boundary_um``; :func:`tmekit.pl.compartments` draws it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

from tmekit._constants import COMPARTMENT_KEY, CONTENT_KEY, DISTANCE_KEY, SPATIAL_KEY, TUMOR_CONTENT_KEY
from tmekit._obs import coordinates_um, label_mask, samples
from tmekit._progress import advance
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._units import flat_reason
from tmekit.sp._spotdata import is_spot_data

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

__all__ = ["COMPARTMENTS", "Geometry", "compartments", "margin_halfwidth", "pixel_centres", "sample_grid"]

#: The compartments :func:`compartments` gives a cell or spot, by signed distance to the tumour boundary.
COMPARTMENTS = ("tumour core", "invasive margin", "stroma")
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

    Parameters
    ----------
    extent_um
        The shorter side of the sample, in micrometres.

    Returns
    -------
    The half-width in micrometres: ``extent_um / 16`` clipped to 25-500 um.

    Examples
    --------
    >>> tk.sp.margin_halfwidth(800.0), tk.sp.margin_halfwidth(20_000.0)
    (50.0, 500.0)
    """
    return float(np.clip(extent_um / 16.0, MIN_HALFWIDTH_UM, WHOLE_SLIDE_HALFWIDTH_UM))


@dataclass
class Geometry:
    """One sample's grid: signed distance of every pixel to the tumour boundary (um), tissue mask."""

    signed_grid: np.ndarray
    tissue: np.ndarray
    pixel_um: float
    origin: np.ndarray
    halfwidth: float | np.ndarray  # per pixel when nests have their own

    def boundary(self) -> np.ndarray:
        """The tumour boundary (signed distance 0) as a polyline in micrometres, NaN rows between lines."""
        ny, nx = self.signed_grid.shape
        gx = self.origin[0] + (np.arange(nx) + 0.5) * self.pixel_um
        gy = self.origin[1] + (np.arange(ny) + 0.5) * self.pixel_um
        return _zero_lines(gx, gy, self.signed_grid)

    def stored(self) -> dict[str, Any]:
        """The grid as ``uns`` keeps it: each pixel's compartment and whether it is inside the tumour region.

        ``compartment``: 0 core, 1 margin, 2 stroma, -1 no tissue; ``inside``: the core and the inner half of the
        margin.
        """
        s, w = self.signed_grid, self.halfwidth
        code = np.where(s <= -w, 0, np.where(np.abs(s) < w, 1, 2)).astype(np.int8)
        code[~self.tissue] = -1
        return {"compartment": code, "inside": (s < 0) & self.tissue,
                "origin_um": np.asarray(self.origin, dtype=np.float64), "pixel_um": self.pixel_um}  # fmt: skip

    def pixel_centres(self) -> np.ndarray:
        """(n_pixels, 2) x, y of every pixel centre, in the same order as ``signed_grid.ravel()``."""
        return pixel_centres(self.signed_grid.shape, self.origin, self.pixel_um)


def pixel_centres(shape: tuple[int, ...], origin: np.ndarray, pixel_um: float) -> np.ndarray:
    """(n_pixels, 2) x, y of the centres of a grid of ``shape`` (rows = y), in ``ravel()`` order."""
    rows, cols = np.indices(shape)
    return np.column_stack([cols.ravel(), rows.ravel()]) * pixel_um + np.asarray(origin) + pixel_um / 2


def _polyline(lines: list[np.ndarray]) -> np.ndarray:
    """Lines as one (n, 2) array, NaN rows between them (matplotlib draws it as separate lines)."""
    gap = np.full((1, 2), np.nan)
    parts = [p for line in lines if len(line) >= 2 for p in (np.asarray(line, dtype=np.float64), gap)]
    return np.concatenate(parts[:-1]) if parts else np.empty((0, 2))


def _zero_lines(gx: np.ndarray, gy: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The zero level of ``grid`` (rows = y, columns = x; NaN = outside) as a polyline."""
    import contourpy

    finite = np.isfinite(grid)
    if min(grid.shape) < 2 or not ((grid[finite] < 0).any() and (grid[finite] > 0).any()):
        return np.empty((0, 2))
    generator = contourpy.contour_generator(gx, gy, np.ma.masked_invalid(grid), line_type="Separate")
    return _polyline(generator.lines(0.0))


def _cell_spacing(xy: np.ndarray) -> float:
    """Median distance (um) from a cell to its nearest neighbour (evenly spaced rows queried on large samples)."""
    if len(xy) < 3:
        return float("inf")
    d, _ = cKDTree(xy).query(xy[:: max(1, len(xy) // 20_000)], k=2)
    return float(np.median(d[:, 1]))


def sample_grid(
    xy: np.ndarray,
    tumour: np.ndarray,
    *,
    halfwidth: float | None,
    pixel_um: float | None,
    bandwidth_um: float | None,
    min_tumor_fraction: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], Geometry]:
    """Signed distance and margin half-width per cell, per-sample summary and the grid geometry of one sample.

    The pixel is 1/200 of the field's shorter side but never coarser than the cells' own spacing (so nest edges
    are found at cell scale on whole slides too), 2-25 um. The margin half-width is ``halfwidth`` (default
    :func:`margin_halfwidth` of the field) around each tumour nest (a connected part of the tumour region), but at
    most half the nest's depth (its largest distance to its own edge): so every nest keeps a core, and a slide
    of many small nests is not all margin.
    """
    lo = xy.min(axis=0) if len(xy) else np.zeros(2)
    extent = xy.max(axis=0) - lo if len(xy) else np.zeros(2)
    shorter = float(max(extent.min(), 1.0))
    w = margin_halfwidth(shorter) if halfwidth is None else float(halfwidth)
    flat = flat_reason(xy)
    if flat:  # no area: nothing to grid (a whole slide of cells on a line would otherwise be gridded and smoothed)
        info = {"margin_halfwidth_um": w, "pixel_um": np.nan, "bandwidth_um": np.nan, "tumor_area_mm2": 0.0,
                "core_area_mm2": 0.0, "margin_area_mm2": 0.0, "stroma_area_mm2": 0.0, "n_nests": 0,
                "has_tumor_region": False, "no_area": flat}  # fmt: skip
        empty = Geometry(np.full((1, 1), np.inf), np.zeros((1, 1), bool), 1.0, lo, w)
        return np.full(len(xy), np.inf), np.full(len(xy), w), info, empty
    px = float(pixel_um) if pixel_um is not None else float(np.clip(min(shorter / 200.0, _cell_spacing(xy)), 2, 25))
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
        info.update(tumor_area_mm2=0.0, core_area_mm2=0.0, margin_area_mm2=0.0, n_nests=0)
        info["stroma_area_mm2"] = float(tissue.sum() * px * px / 1e6)
        info["has_tumor_region"] = False
        return np.full(len(xy), np.inf), np.full(len(xy), w), info, Geometry(np.full(shape, np.inf), tissue, px, lo, w)
    inside = ndimage.distance_transform_edt(mask) * px
    outside, nearest = ndimage.distance_transform_edt(~mask, return_indices=True)
    # Pixel centres: a boundary pixel is half a pixel from the edge on either side.
    signed_grid = np.where(mask, -(inside - px / 2), outside * px - px / 2)
    nests, n_nests = ndimage.label(mask)
    depth = np.asarray(ndimage.maximum(inside, nests, index=np.arange(1, n_nests + 1)), dtype=np.float64)
    nest_w = np.minimum(w, depth / 2)
    width = nest_w[nests[nearest[0], nearest[1]] - 1]  # each pixel: the half-width of its own or nearest nest
    pixel_mm2 = px * px / 1e6
    info.update(
        tumor_area_mm2=float((mask & tissue).sum() * pixel_mm2),
        core_area_mm2=float((tissue & (signed_grid <= -width)).sum() * pixel_mm2),
        margin_area_mm2=float((tissue & (np.abs(signed_grid) < width)).sum() * pixel_mm2),
        stroma_area_mm2=float((tissue & (signed_grid >= width)).sum() * pixel_mm2),
        has_tumor_region=True,
        n_nests=int(n_nests),
        nest_margin_halfwidth_min_um=float(nest_w.min()),
    )
    return signed_grid[row, col], width[row, col], info, Geometry(signed_grid, tissue, px, lo, width)


@accepts_spatialdata
@all_or_nothing
def compartments(
    adata: AnnData,
    *,
    cell_types: Mapping[str, Any] | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    margin_width: float | None = None,
    pixel_size: float | None = None,
    bandwidth: float | None = None,
    min_tumor_fraction: float = 0.5,
    mode: Literal["auto", "cells", "spots"] = "auto",
    content_key: str = CONTENT_KEY,
    key_added: str = COMPARTMENT_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Tumour region, signed distance to its boundary and compartments, per sample.

    **Spots** (Visium, binned data; ``mode="spots"``, or ``"auto"`` when the object is spot data: made by
    :func:`tmekit.sp.pseudo_visium`, read by ``sc.read_visium`` or deconvolved by
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
    compartment: ``tumour core`` (distance <= -w), ``invasive margin`` (``|distance| < w``) or
    ``stroma`` (distance >= w), where w is the margin half-width.

    Parameters
    ----------
    adata
        Cells with coordinates in ``obsm[spatial_key]``.
    cell_types
        Read: the cell types' ``key`` and ``tumor`` labels declared with :func:`tmekit.pp.cell_types` (or by
        :func:`tmekit.tl.annotate`); this mapping changes entries for this call only (e.g. ``{"tumor": [...]}``).
        Spots: ``tumor`` names columns of the spot content (default: the reference's tumour types).
    library_key
        ``obs`` column naming the sample (field, image, core); each is processed alone.
    spatial_key
        Coordinates key in ``obsm``.
    microns_per_unit
        Micrometres per coordinate unit (e.g. 800/2048 for a 2048-pixel, 800 um MIBI field). ``None``: the
        coordinates are taken as micrometres, but only if the cells are spaced as cells in tissue are (median
        nearest-neighbour distance 4-15 um in every sample; typically 7-8 um); otherwise this raises and asks for
        the unit. Stated units are checked too, per sample: a spacing below 4 um or above 60 um cannot be cells in
        micrometres (micrometres converted once more, or one sample in other units than the rest). Cells on a line
        (no area) make the sample indeterminate; duplicated positions are refused (see ``tmekit._units``).
    margin_width
        Half-width w of the invasive-margin band in micrometres. Default: Immunoscore's 500 um per
        side on whole slides, scaled to 1/16 of the shorter side of smaller fields (50 um for an
        800 um field), at least 25 um; see :func:`margin_halfwidth`. Around each tumour nest (a connected part
        of the tumour region) the band is at most half the nest's depth, so every nest keeps a core: a slide of
        many nests smaller than 1 mm is not all margin (``uns`` records ``n_nests`` and the narrowest band).
    pixel_size, bandwidth
        Grid pixel and smoothing bandwidth in micrometres. Defaults: pixel = shorter side / 200, but no coarser
        than the cells' median spacing (2-25 um); bandwidth = min(w, 30 um), at least two pixels.
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

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    >>> tk.sp.compartments(adata)
    >>> adata.obs["tmekit_compartment"].value_counts().to_dict()
    {'stroma': 1231, 'invasive margin': 627, 'tumour core': 513}
    >>> round(float(tk.get.compartments(adata).loc["all", "margin_halfwidth_um"]), 1)
    49.9
    """
    if mode not in {"auto", "cells", "spots"}:
        msg = f"Unknown mode={mode!r}: use 'auto', 'cells' (single-cell positions) or 'spots' (Visium-like)."
        raise ValueError(msg)
    spots = mode == "spots" or (mode == "auto" and is_spot_data(adata) and roles(adata, cell_types).key is None)
    given = roles(adata, cell_types, need=() if spots else ("key", "tumor"))
    cell_type_key, tumor_labels = given.key, given.tumor or None
    written = (key_added, DISTANCE_KEY, TUMOR_CONTENT_KEY) if spots else (key_added, DISTANCE_KEY)
    existing = [k for k in written if k in adata.obs] + ([key_added] if key_added in adata.uns else [])
    fixed = [k for k in written[1:] if k in adata.obs]
    ours = any(isinstance(v, dict) and v.get("distance_key") == DISTANCE_KEY for v in adata.uns.values())
    if fixed and not ours:  # a column of the user's under a name tmekit always writes: never replaced
        msg = (
            f"`adata.obs` has {fixed}, which no compartments result in `adata.uns` accounts for: your own column, or "
            "one left by an earlier call whose `uns` was dropped (e.g. by `ad.concat`). tmekit writes its results "
            "under these fixed names, so `key_added=` cannot avoid them and `overwrite=True` would lose the column. "
            f"Rename it (`adata.obs = adata.obs.rename(columns={{{fixed[0]!r}: 'my_name'}})`) or, if it is an old "
            f"tmekit result, drop it (`del adata.obs[{fixed[0]!r}]`)."
        )
        raise ValueError(msg)
    if existing and not overwrite:
        msg = f"`adata.obs`/`uns` already has {existing}. Pass `overwrite=True` to replace, or `key_added=`."
        raise ValueError(msg)
    if spots:
        from tmekit.sp._spot_regions import spot_compartments  # here: it builds on this module's geometry

        smooth, signed, w, per_sample, params = spot_compartments(
            adata, content_key=content_key, tumor_labels=tumor_labels, library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit, margin_width=margin_width,
            min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        extra_obs = {TUMOR_CONTENT_KEY: smooth}
    else:
        signed, w, per_sample, params = _cell_compartments(
            adata, cell_type_key=cell_type_key, tumor_labels=tumor_labels, library_key=library_key,
            spatial_key=spatial_key, microns_per_unit=microns_per_unit, margin_width=margin_width,
            pixel_size=pixel_size, bandwidth=bandwidth, min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        extra_obs = {}
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
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Any]], dict[str, Any]]:
    """Per cell: signed distance (um) to the tumour boundary and margin half-width; per sample: summary; params."""
    if cell_type_key is None or tumor_labels is None:
        msg = (
            "Single-cell compartments need `cell_type_key=` (obs column of cell types) and `tumor_labels=`. "
            "For spot data (Visium) pass `mode='spots'` after `tk.sp.spot_content(spots)`."
        )
        raise ValueError(msg)
    tumour = label_mask(adata, cell_type_key=cell_type_key, labels=tumor_labels, what="tumor")
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    signed, width = np.full(adata.n_obs, np.nan), np.full(adata.n_obs, np.nan)
    per_sample = {}
    groups = list(samples(adata, library_key=library_key))
    for k, (name, idx) in enumerate(groups):
        advance("tumour regions (samples)", k, len(groups))
        d, half, info, geom = sample_grid(
            xy[idx], tumour[idx], halfwidth=margin_width, pixel_um=pixel_size, bandwidth_um=bandwidth,
            min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        info.update(n_cells=len(idx), n_tumor_cells=int(tumour[idx].sum()), grid=geom.stored())
        info["boundary_um"] = geom.boundary()
        signed[idx], width[idx] = d, half
        advance("tumour regions (samples)", k + 1, len(groups))
        per_sample[name] = info
    params = {
        "mode": "cells",
        "cell_type_key": cell_type_key,
        "tumor_labels": list([tumor_labels] if isinstance(tumor_labels, str) else tumor_labels),
        "microns_per_unit": 1.0 if microns_per_unit is None else float(microns_per_unit),
        "microns_per_unit_stated": microns_per_unit is not None,
        "min_tumor_fraction": float(min_tumor_fraction),
    }
    return signed, width, per_sample, params
