"""`tk.sp.infiltration`: per-sample cell densities per compartment, mixing score, distances to tumour."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tmekit._constants import COMPARTMENT_KEY, SPATIAL_KEY
from tmekit._obs import coordinates_um, label_mask, samples
from tmekit.sp._compartments import DISTANCE_KEY, sample_geometry
from tmekit.sp._graphs import contact_edges

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["infiltration", "metrics_from_sums", "tile_tables"]

POPULATIONS = ("tumor", "cd8", "t", "immune")
_COMP = ("core", "margin", "stroma")
#: Default contact radius for the mixing score: cells whose centres are within 20 um "touch" (SPIAT's
#: default radius; Keren et al. counted touching cells in the segmentation, ~2 cell radii apart).
CONTACT_RADIUS_UM = 20.0


def tile_tables(
    adata: AnnData,
    *,
    cell_type_key: str,
    tumor_labels: Sequence[str] | str,
    immune_labels: Sequence[str],
    cd8_labels: Sequence[str],
    t_labels: Sequence[str] | None,
    library_key: str | None,
    spatial_key: str,
    microns_per_unit: float | None,
    compartment_key: str,
    contact_radius: float,
    tile_size: float | None,
) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Per sample, a table of tiles with cell counts per population and compartment, areas and contacts.

    Sums over all tiles give the sample's metrics; resampling tiles gives their sampling noise.
    """
    if compartment_key not in adata.obs or DISTANCE_KEY not in adata.obs or compartment_key not in adata.uns:
        msg = (
            f"Compartments not found (`adata.obs[{compartment_key!r}]`). Run `tk.sp.compartments(adata, "
            "cell_type_key=..., tumor_labels=..., library_key=...)` first."
        )
        raise KeyError(msg)
    cparams = adata.uns[compartment_key]["params"]
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    mpu = 1.0 if microns_per_unit is None else float(microns_per_unit)
    masks = {
        "tumor": label_mask(adata, cell_type_key=cell_type_key, labels=tumor_labels, what="tumor"),
        "cd8": label_mask(adata, cell_type_key=cell_type_key, labels=cd8_labels, what="cd8"),
        "immune": label_mask(adata, cell_type_key=cell_type_key, labels=immune_labels, what="immune"),
    }
    masks["t"] = label_mask(adata, cell_type_key=cell_type_key, labels=t_labels, what="t") if t_labels else masks["cd8"]
    comp = adata.obs[compartment_key].cat.codes.to_numpy()
    signed = adata.obs[DISTANCE_KEY].to_numpy()
    lib = np.zeros(adata.n_obs, dtype=np.int64)
    groups = list(samples(adata, library_key=library_key))
    for k, (_, idx) in enumerate(groups):
        lib[idx] = k
    rows, cols = contact_edges(xy / mpu, lib, contact_radius / mpu)
    out = {}
    for name, idx in groups:
        info = adata.uns[compartment_key]["samples"].get(name)
        if info is None:
            msg = f"Sample {name!r} has no compartments in `uns[{compartment_key!r}]`; rerun `tk.sp.compartments`."
            raise KeyError(msg)
        _, _, geom = sample_geometry(
            xy[idx], masks["tumor"][idx], halfwidth=info["margin_halfwidth_um"], pixel_um=info["pixel_um"],
            bandwidth_um=info["bandwidth_um"], min_tumor_fraction=cparams["min_tumor_fraction"],
        )  # fmt: skip
        extent = float((xy[idx].max(axis=0) - xy[idx].min(axis=0)).min()) if len(idx) else 0.0
        tile = float(tile_size) if tile_size is not None else max(50.0, extent / 8.0)
        origin = xy[idx].min(axis=0)
        n_tx = int(np.floor((xy[idx, 0].max() - origin[0]) / tile)) + 1

        def tile_of(
            points: np.ndarray, origin: np.ndarray = origin, tile: float = tile, n_tx: int = n_tx
        ) -> np.ndarray:
            t = np.floor((points - origin) / tile).astype(np.int64)
            return np.clip(t[:, 1], 0, None) * n_tx + np.clip(t[:, 0], 0, n_tx - 1)

        cell_tile = tile_of(xy[idx])
        centres = geom.pixel_centres()
        pix_tile = tile_of(centres)
        sg, tissue = geom.signed_grid.ravel(), geom.tissue.ravel()
        n_tiles = int(max(cell_tile.max(initial=0), pix_tile.max(initial=0))) + 1
        table = {}
        for pop in POPULATIONS:
            m = masks[pop][idx]
            table[f"n_{pop}"] = np.bincount(cell_tile[m], minlength=n_tiles)
            for code, cname in enumerate(_COMP):
                table[f"n_{pop}_{cname}"] = np.bincount(cell_tile[m & (comp[idx] == code)], minlength=n_tiles)
        table["n_immune_inside"] = np.bincount(cell_tile[masks["immune"][idx] & (signed[idx] < 0)], minlength=n_tiles)
        pixel_mm2 = geom.pixel_um**2 / 1e6
        w = geom.halfwidth
        regions = {"core": sg <= -w, "margin": np.abs(sg) < w, "stroma": sg >= w}
        for cname, sel in regions.items():
            table[f"area_{cname}"] = np.bincount(pix_tile[tissue & sel], minlength=n_tiles) * pixel_mm2
        table["area_tissue"] = np.bincount(pix_tile[tissue], minlength=n_tiles) * pixel_mm2
        in_sample = np.zeros(adata.n_obs, dtype=bool)
        in_sample[idx] = True
        local = np.full(adata.n_obs, -1)
        local[idx] = np.arange(len(idx))
        e_rows, e_cols = rows[in_sample[rows]], cols[in_sample[rows]]
        imm, tum = masks["immune"], masks["tumor"]
        it = (imm[e_rows] & tum[e_cols]) | (tum[e_rows] & imm[e_cols])
        ii = imm[e_rows] & imm[e_cols]
        edge_tile = cell_tile[local[e_rows]]
        table["e_it"] = np.bincount(edge_tile[it], minlength=n_tiles)
        table["e_ii"] = np.bincount(edge_tile[ii], minlength=n_tiles)
        frame = pd.DataFrame(table)
        frame = frame[(frame["area_tissue"] > 0) | (frame.filter(like="n_").sum(axis=1) > 0)]
        extra = {"margin_halfwidth_um": w, "tile_um": tile, "has_tumour_region": info["has_tumour_region"]}
        cd8_xy, tum_xy = xy[idx][masks["cd8"][idx]], xy[idx][masks["tumor"][idx]]
        if len(cd8_xy) and len(tum_xy):
            dist, _ = cKDTree(tum_xy).query(cd8_xy)
            extra.update(
                cd8_tumor_distance_median_um=float(np.median(dist)), cd8_tumor_distance_mean_um=float(dist.mean())
            )
            extra["cd8_within_20um_fraction"] = float((dist <= 20.0).mean())
        else:
            extra.update(cd8_tumor_distance_median_um=np.nan, cd8_tumor_distance_mean_um=np.nan)
            extra["cd8_within_20um_fraction"] = np.nan
        cd8_signed = signed[idx][masks["cd8"][idx]]
        extra["cd8_boundary_distance_median_um"] = float(np.median(cd8_signed)) if len(cd8_signed) else np.nan
        out[name] = (frame, extra)
    return out


def metrics_from_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """Densities, fractions and the mixing score from summed tile counts (one row per sum)."""
    m = pd.DataFrame(index=sums.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        for pop in POPULATIONS:
            m[f"n_{pop}"] = sums[f"n_{pop}"]
            for cname in _COMP:
                m[f"n_{pop}_{cname}"] = sums[f"n_{pop}_{cname}"]
                area = sums[f"area_{cname}"].to_numpy()
                m[f"density_{pop}_{cname}"] = np.where(
                    area > 0, sums[f"n_{pop}_{cname}"] / np.where(area > 0, area, 1), np.nan
                )
        for cname in (*_COMP, "tissue"):
            m[f"area_{cname}_mm2"] = sums[f"area_{cname}"]
        tissue = sums["area_tissue"].to_numpy()
        m["density_immune_tissue"] = np.where(tissue > 0, sums["n_immune"] / np.where(tissue > 0, tissue, 1), np.nan)
        n_imm = sums["n_immune"].to_numpy()
        m["intratumoral_immune_fraction"] = np.where(
            n_imm > 0, sums["n_immune_inside"] / np.where(n_imm > 0, n_imm, 1), np.nan
        )
        e_it, e_ii = sums["e_it"].to_numpy(float), sums["e_ii"].to_numpy(float)
        m["immune_tumor_contacts"] = e_it
        m["immune_immune_contacts"] = e_ii
        m["mixing_score"] = np.where(e_ii > 0, e_it / np.where(e_ii > 0, e_ii, 1), np.where(e_it > 0, np.inf, np.nan))
    return m


def infiltration(
    adata: AnnData,
    *,
    cell_type_key: str,
    tumor_labels: Sequence[str] | str,
    immune_labels: Sequence[str],
    cd8_labels: Sequence[str],
    t_labels: Sequence[str] | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    compartment_key: str = COMPARTMENT_KEY,
    contact_radius: float = CONTACT_RADIUS_UM,
) -> pd.DataFrame:
    """Per-sample infiltration metrics (needs :func:`tmekit.sp.compartments` first). Never modifies ``adata``.

    Parameters
    ----------
    adata
        Cells with coordinates and compartments.
    cell_type_key, tumor_labels, immune_labels, cd8_labels, t_labels
        ``obs`` column of cell types and the labels of tumour, immune (all leukocytes), CD8 T and
        all T cells (``t_labels`` defaults to the CD8 labels).
    library_key, spatial_key, microns_per_unit
        As for :func:`tmekit.sp.compartments`.
    compartment_key
        Where :func:`tmekit.sp.compartments` wrote its results.
    contact_radius
        Cells whose centres lie within this many micrometres are in contact, for the mixing score
        (squidpy radius graph, built per sample). Default 20 um (SPIAT's default radius).

    Returns
    -------
    DataFrame, one row per sample: counts ``n_<pop>`` and ``n_<pop>_<core|margin|stroma>`` for
    tumor, cd8, t and immune cells; compartment and tissue areas (mm^2); densities per mm^2 of each
    compartment (``density_<pop>_<compartment>``) and of tissue for immune cells;
    ``intratumoral_immune_fraction`` (immune cells inside the tumour region / all immune cells);
    ``mixing_score`` (Keren et al. 2018: immune-tumour contacts / immune-immune contacts) with its
    contact counts; CD8 distances to the nearest tumour cell (median, mean, share within 20 um) and
    their median signed distance to the tumour boundary; the margin half-width and tile size.
    """
    tables = tile_tables(
        adata, cell_type_key=cell_type_key, tumor_labels=tumor_labels, immune_labels=immune_labels,
        cd8_labels=cd8_labels, t_labels=t_labels, library_key=library_key, spatial_key=spatial_key,
        microns_per_unit=microns_per_unit, compartment_key=compartment_key, contact_radius=contact_radius,
        tile_size=None,
    )  # fmt: skip
    rows = []
    for name, (frame, extra) in tables.items():
        metrics = metrics_from_sums(frame.sum().to_frame().T).iloc[0].to_dict()
        rows.append({"sample": name, **metrics, **extra})
    table = pd.DataFrame(rows).set_index("sample")
    table["contact_radius_um"] = float(contact_radius)
    return table
