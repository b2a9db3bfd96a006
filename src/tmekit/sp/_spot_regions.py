"""Compartments of spot data (Visium, binned data): the spot side of :func:`tmekit.sp.compartments`.

Each spot's tumour content is smoothed on squidpy's grid graph; the tumour region is where it reaches
``min_tumor_fraction``; the boundary runs half-way between tumour and non-tumour spots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from tmekit._constants import SPOTS_KEY
from tmekit._obs import coordinates_um, samples
from tmekit.sp._regions import _zero_lines, margin_halfwidth
from tmekit.sp._spotdata import SPOT_PITCH_UM, group_content, measured_pitch, spot_graph, spot_scale

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["spot_compartments"]


def _spot_geometry(
    xy_um: np.ndarray,
    tumour: np.ndarray,
    *,
    pitch_um: float,
    xy_units: np.ndarray,
    halfwidth: float | None,
    min_tumor_fraction: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Smoothed tumour content, signed distance (um) to the tumour boundary and a summary, for one sample.

    Smoothed tumour content = half the spot's own content + half the mean of its grid neighbours (a
    kernel centred on the spot); a spot is tumour region when it is at least ``min_tumor_fraction``.
    The boundary runs half-way between a tumour spot and its nearest non-tumour spot, so the signed
    distance is (distance between their centres) minus half the pitch, negative inside.
    """
    valid = np.isfinite(tumour)
    value = np.where(valid, tumour, 0.0)
    adjacency = spot_graph(xy_units) @ sp.diags(valid.astype(float))  # NaN spots carry no evidence
    n_valid = np.asarray(adjacency.sum(axis=1)).ravel()
    around = np.divide(adjacency @ value, n_valid, out=value.copy(), where=n_valid > 0)
    smooth = np.where(valid, 0.5 * value + 0.5 * around, around)
    smooth[~valid & (n_valid == 0)] = np.nan
    inside = smooth >= min_tumor_fraction
    extent = np.ptp(xy_um, axis=0) if len(xy_um) else np.zeros(2)
    shorter = float(max(extent.min(), pitch_um))
    w = max(margin_halfwidth(shorter), pitch_um) if halfwidth is None else float(halfwidth)
    signed = np.full(len(xy_um), np.inf)
    if inside.any() and (~inside).any():
        d_out, _ = cKDTree(xy_um[~inside]).query(xy_um[inside])
        d_in, _ = cKDTree(xy_um[inside]).query(xy_um[~inside])
        signed[inside] = -(d_out - pitch_um / 2)
        signed[~inside] = d_in - pitch_um / 2
    elif inside.any():
        signed[:] = -np.inf
    spot_mm2 = pitch_um**2 * np.sqrt(3) / 2 / 1e6  # each spot's share of a hexagonal grid
    info = {
        "margin_halfwidth_um": float(w),
        "pitch_um": float(pitch_um),
        "n_spots": len(xy_um),
        "n_tumor_spots": int(inside.sum()),
        "tumor_area_mm2": float(inside.sum() * spot_mm2),
        "core_area_mm2": float((signed <= -w).sum() * spot_mm2),
        "margin_area_mm2": float((np.abs(signed) < w).sum() * spot_mm2),
        "stroma_area_mm2": float((signed >= w).sum() * spot_mm2),
        "has_tumor_region": bool(inside.any()),
    }
    info["boundary_um"] = _spot_boundary(xy_um, signed, pitch_um)
    return smooth, signed, info


def _spot_boundary(xy_um: np.ndarray, signed: np.ndarray, pitch_um: float) -> np.ndarray:
    """Zero line of the spots' signed distance, linearly interpolated on their Delaunay triangles."""
    if len(xy_um) < 3 or not np.isfinite(signed).all() or not ((signed < 0).any() and (signed > 0).any()):
        return np.empty((0, 2))
    from scipy.interpolate import LinearNDInterpolator

    lo, hi = xy_um.min(axis=0), xy_um.max(axis=0)
    step = pitch_um / 4
    gx, gy = np.arange(lo[0], hi[0] + step, step), np.arange(lo[1], hi[1] + step, step)
    mesh = np.meshgrid(gx, gy)
    return _zero_lines(gx, gy, LinearNDInterpolator(xy_um, signed)(*mesh))


def spot_compartments(
    adata: AnnData,
    *,
    content_key: str,
    tumor_labels: Sequence[str] | str | None,
    library_key: str | None,
    spatial_key: str,
    microns_per_unit: float | None,
    margin_width: float | None,
    min_tumor_fraction: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, dict[str, Any]], dict[str, Any]]:
    """Per spot: smoothed tumour content, signed distance (um), margin half-width; per sample: summary; params."""
    mpu, diameter, pitch = spot_scale(adata, microns_per_unit=microns_per_unit)
    units = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=1.0, cells=False)
    xy = units * mpu
    if SPOTS_KEY not in adata.uns and adata.n_obs > 1:
        pitch = measured_pitch(xy)  # Visium: ~100 um; binned data: the bin size
    if not SPOT_PITCH_UM[0] <= pitch <= SPOT_PITCH_UM[1]:
        msg = (
            f"Spots are {pitch:.3g} um apart (centre to centre, with {mpu:g} um per coordinate unit); spot and bin "
            f"grids are {SPOT_PITCH_UM[0]:g}-{SPOT_PITCH_UM[1]:g} um (Visium 100 um, Visium HD bins 2-16 um, legacy "
            f"ST 200 um). Pass `microns_per_unit=` so that the pitch comes out right (Visium full-resolution pixels: "
            "55 / spot_diameter_fullres from the scalefactors)."
        )
        raise ValueError(msg)
    tumour = group_content(adata, content_key=content_key, groups={"tumor": tumor_labels})["tumor"].to_numpy()
    smooth = np.full(adata.n_obs, np.nan)
    signed = np.full(adata.n_obs, np.nan)
    per_sample = {}
    for name, idx in samples(adata, library_key=library_key):
        s, d, info = _spot_geometry(
            xy[idx], tumour[idx], pitch_um=pitch, xy_units=units[idx], halfwidth=margin_width,
            min_tumor_fraction=min_tumor_fraction,
        )  # fmt: skip
        smooth[idx], signed[idx] = s, d
        per_sample[name] = info
    stored = adata.uns.get(content_key, {}).get("groups", {})
    labels = stored.get("tumor", []) if tumor_labels is None else tumor_labels
    params = {
        "mode": "spots",
        "content_key": content_key,
        "tumor_labels": [labels] if isinstance(labels, str) else list(labels),
        "microns_per_unit": float(mpu),
        "spot_diameter_um": float(diameter),
        "pitch_um": float(pitch),
        "min_tumor_fraction": float(min_tumor_fraction),
        "smoothing": "0.5 x own content + 0.5 x mean over squidpy grid-graph neighbours (6 on a hexagonal grid)",
    }
    width = np.empty(adata.n_obs)
    for name, idx in samples(adata, library_key=library_key):
        width[idx] = per_sample[name]["margin_halfwidth_um"]
    return smooth, signed, width, per_sample, params
