"""Per-sample evidence from compartments: cell (or spot) counts per tile, densities, mixing, distances.

Every metric is a ratio of sums over the sample's tiles (cells) or spots, so the tables here are the unit of
evidence: :func:`tile_table` gives one row per tile, :func:`tile_metrics` turns summed rows into metrics (a
sample's own sum, or a resampled one); ``_spot_metrics`` does the same for spots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tmekit._constants import COMPARTMENT_KEY, DISTANCE_KEY, SPATIAL_KEY
from tmekit._obs import check_roles, coordinates_um, label_mask, samples
from tmekit._pdl1 import (
    area_column,
    cell_areas,
    describe_area,
    ic_category,
    not_measured,
    pdl1_status,
    unread_roles,
)
from tmekit._progress import advance
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit.sp._graphs import contact_edges
from tmekit.sp._regions import pixel_centres
from tmekit.sp._touching import touching_edges

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

__all__ = [
    "CONTACTS",
    "CONTACT_METRICS",
    "CONTACT_RADIUS_UM",
    "ROW_LABELS",
    "TOUCHING_UM",
    "infiltration",
    "tile_metrics",
    "tile_table",
]

POPULATIONS = ("tumor", "cd8", "t", "immune")
_COMP = ("core", "margin", "stroma")
_COMP_LABELS = {"tumour core": "core", "invasive margin": "margin", "stroma": "stroma"}
#: Cells "touch" (Keren et al. 2018 counted touching cells in the segmentation; the Angelo lab's code expands each
#: mask by a pixel or two) when they are Delaunay neighbours at most 12 um apart: the 75th percentile of the
#: diameter of the paper's segmented cells (10.6 um; cell sizes in the scFeatures copy of its cellData.csv, median
#: 8.6 um) plus the two-pixel (0.8 um) tolerance of the lab's mask expansion, rounded up.
TOUCHING_UM = 12.0
#: The radius definition (SPIAT's default radius: any two cells whose centres are within 20 um).
CONTACT_RADIUS_UM = 20.0
#: The definitions of cells in contact that ``contacts=`` takes.
CONTACTS = ("touching", "radius")
#: The metrics of :func:`tile_metrics` that need the contact graph (the only part of the evidence that does).
CONTACT_METRICS = ("immune_tumor_contacts", "immune_immune_contacts", "mixing_score", "mixing_fraction")
#: Columns of a tile / spot table that name a row rather than count something (never summed).
ROW_LABELS = ("sample", "tile", "tile_um", "tile_x_um", "tile_y_um", "spot")


def _regions(adata: AnnData, compartment_key: str) -> dict[str, Any]:
    if compartment_key not in adata.obs or DISTANCE_KEY not in adata.obs or compartment_key not in adata.uns:
        msg = (
            f"Compartments not found (`adata.obs[{compartment_key!r}]`). Run `tk.sp.compartments(adata, "
            "library_key=...)` first (after declaring the cell types with `tk.pp.cell_types`)."
        )
        raise KeyError(msg)
    return adata.uns[compartment_key]


def _population_masks(
    adata: AnnData, *, cell_type_key: str, labels: dict[str, Sequence[str] | str | None]
) -> dict[str, np.ndarray]:
    masks = {
        pop: label_mask(adata, cell_type_key=cell_type_key, labels=labels[pop], what=pop)
        for pop in ("tumor", "cd8", "immune")
    }
    masks["t"] = (
        label_mask(adata, cell_type_key=cell_type_key, labels=labels["t"], what="t") if labels["t"] else masks["cd8"]
    )
    check_roles(adata.obs[cell_type_key].astype(str).unique(), **labels)
    return masks


@accepts_spatialdata
def tile_table(
    adata: AnnData,
    *,
    cell_types: Mapping[str, Any] | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    compartment_key: str = COMPARTMENT_KEY,
    contacts: str | None = "touching",
    contact_distance: float | None = None,
    tile_size: float | None = None,
) -> pd.DataFrame:
    """One row per square tile of each sample: cells per population and compartment, areas, contacts.

    Needs :func:`tmekit.sp.compartments` first (its grid gives each tile's compartment areas) and the cell types'
    roles (``key``, ``tumor``, ``immune``, ``cd8``, optional ``t`` and ``pdl1``), declared with
    :func:`tmekit.pp.cell_types` or given as ``cell_types={...}`` for this call. Summing a sample's rows and passing
    them to :func:`tile_metrics` gives its metrics; resampling rows gives their sampling noise. Never modifies
    ``adata``.

    Parameters
    ----------
    adata
        Cells with coordinates and compartments.
    cell_types
        Changes to the declared roles for this call only (same keys as :func:`tmekit.pp.cell_types`).
    library_key, spatial_key, microns_per_unit, compartment_key
        As for :func:`tmekit.sp.infiltration`.
    contacts, contact_distance
        ``"touching"`` (default, Keren et al. 2018): Delaunay neighbours at most ``contact_distance`` apart
        (default :data:`TOUCHING_UM`, 12 um); ``"radius"``: every pair within ``contact_distance`` (default 20 um,
        SPIAT's radius graph); ``None``: no contact graph (``e_it`` / ``e_ii`` are NaN), for calls whose rules read
        no contact.
    tile_size
        Tile side in micrometres (default: 1/8 of the sample's shorter side, at least 50 um).

    Returns
    -------
    DataFrame, one row per tile. Columns: ``sample``, ``tile``,
    ``tile_um``, ``tile_x_um`` / ``tile_y_um`` (the tile's centre); ``n_<pop>`` and
    ``n_<pop>_<core|margin|stroma>`` for tumor, cd8, t and immune cells;
    ``n_immune_inside`` (immune cells inside the tumour region); ``area_<core|margin|stroma|tissue>`` (mm^2);
    ``n_<cd8|t>_inside`` / ``n_<cd8|t>_peri`` and ``area_inside`` / ``area_peri``: cells and area inside the tumour
    region (tumour epithelium) and in the stroma around it (outside, within the margin band);
    ``n_tumor_pdl1`` / ``n_immune_pdl1`` (PD-L1-positive tumour / immune cells, with the ``pdl1`` role: an obs
    column or channel / gene of ``X``, positivity as in ``tmekit._markers``; ``pdl1_threshold`` for
    continuous intensities; or a list of PD-L1+ labels, see ``tmekit._pdl1``) and ``n_<tumor|immune>_pdl1_known``
    (cells whose status is known); with PD-L1 also ``ic_area_immune`` / ``ic_area_known`` / ``ic_area_pdl1``: the
    area (mm^2) of the immune cells in the tumour region (core and margin), of those with a known PD-L1 status and
    of the PD-L1+ ones (SP142 IC score; cell areas from ``obs['cell_area']`` / ``obs['area']`` in um^2, else
    estimated, as ``attrs['cell_area']`` records; see ``tmekit._pdl1``);
    ``e_it`` / ``e_ii`` (immune-tumour / immune-immune contacts, each pair once).

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("excluded", rng=0)  # micrometres; cell types declared
    >>> tk.sp.compartments(adata)
    >>> tiles = tk.sp.tile_table(adata)
    >>> tiles.shape
    (81, 34)
    >>> tk.sp.tile_metrics(tiles)[["density_cd8_core", "density_cd8_margin"]].round(1)
            density_cd8_core  density_cd8_margin
    sample
    all                 15.5               819.1
    """
    regions = _regions(adata, compartment_key)
    given = roles(adata, cell_types, need=("key", "tumor", "immune", "cd8"))
    masks = _population_masks(adata, cell_type_key=str(given.key), labels=given.labels())
    pdl1 = pdl1_status(adata, given)
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, library_key=library_key)
    mpu = 1.0 if microns_per_unit is None else float(microns_per_unit)
    comp = adata.obs[compartment_key].cat.codes.to_numpy()
    signed = adata.obs[DISTANCE_KEY].to_numpy()
    groups = list(samples(adata, library_key=library_key))
    lib = np.zeros(adata.n_obs, dtype=np.int64)
    for k, (_, idx) in enumerate(groups):
        lib[idx] = k
    if contacts is None:
        rows = cols = np.empty(0, dtype=np.int64)
    else:
        distance = contact_length(contacts, contact_distance)
        edges = touching_edges if contacts == "touching" else contact_edges
        advance(f"cell contacts ({contacts})", 0, 1)
        # samples without area (cells on a line) have no contacts to count: their calls are indeterminate anyway
        flat = [k for k, (name, _) in enumerate(groups) if regions["samples"].get(name, {}).get("no_area")]
        keep = np.flatnonzero(~np.isin(lib, flat))
        rows, cols = edges(xy[keep] / mpu, lib[keep], distance / mpu)
        rows, cols = keep[rows], keep[cols]
        advance(f"cell contacts ({contacts})", 1, 1)
    imm, tum = masks["immune"], masks["tumor"]
    it_edge = (imm[rows] & tum[cols]) | (tum[rows] & imm[cols])
    ii_edge = imm[rows] & imm[cols]
    frames = []
    for k, (name, idx) in enumerate(groups):
        advance("tiles (samples)", k, len(groups))
        info = regions["samples"].get(name)
        if info is None or "grid" not in info:
            msg = f"Sample {name!r} has no compartments in `uns[{compartment_key!r}]`; rerun `tk.sp.compartments`."
            raise KeyError(msg)
        grid = info["grid"]
        pixel_comp = np.asarray(grid["compartment"])
        points = xy[idx]
        extent = float((points.max(axis=0) - points.min(axis=0)).min()) if len(idx) else 0.0
        tile = float(tile_size) if tile_size is not None else max(50.0, extent / 8.0)
        origin = points.min(axis=0)
        n_tx = int(np.floor((points[:, 0].max() - origin[0]) / tile)) + 1

        def tile_of(p: np.ndarray, origin: np.ndarray = origin, tile: float = tile, n_tx: int = n_tx) -> np.ndarray:
            t = np.floor((p - origin) / tile).astype(np.int64)
            return np.clip(t[:, 1], 0, None) * n_tx + np.clip(t[:, 0], 0, n_tx - 1)

        cell_tile = tile_of(points)
        pix_tile = tile_of(pixel_centres(pixel_comp.shape, grid["origin_um"], float(grid["pixel_um"])))
        n_tiles = int(max(cell_tile.max(initial=0), pix_tile.max(initial=0))) + 1
        table: dict[str, Any] = {}
        for pop in POPULATIONS:
            m = masks[pop][idx]
            table[f"n_{pop}"] = np.bincount(cell_tile[m], minlength=n_tiles)
            for code, cname in enumerate(_COMP):
                table[f"n_{pop}_{cname}"] = np.bincount(cell_tile[m & (comp[idx] == code)], minlength=n_tiles)
        inside, peri = signed[idx] < 0, (signed[idx] >= 0) & (comp[idx] == 1)
        table["n_immune_inside"] = np.bincount(cell_tile[imm[idx] & inside], minlength=n_tiles)
        for pop in ("cd8", "t"):
            table[f"n_{pop}_inside"] = np.bincount(cell_tile[masks[pop][idx] & inside], minlength=n_tiles)
            table[f"n_{pop}_peri"] = np.bincount(cell_tile[masks[pop][idx] & peri], minlength=n_tiles)
        if pdl1 is not None:
            status = pdl1[idx]
            for pop in ("tumor", "immune"):
                m = masks[pop][idx]
                table[f"n_{pop}_pdl1"] = np.bincount(cell_tile[m & (status == 1)], minlength=n_tiles)
                table[f"n_{pop}_pdl1_known"] = np.bincount(cell_tile[m & np.isfinite(status)], minlength=n_tiles)
            # SP142 IC score: areas (mm^2) of immune cells in the tumour region (core and margin), by PD-L1 status
            region = np.flatnonzero(masks["immune"][idx] & (comp[idx] >= 0) & (comp[idx] <= 1))
            area, where, st = cell_areas(adata, points, idx, region) / 1e6, cell_tile[region], status[region]
            table["ic_area_immune"] = np.bincount(where, weights=area, minlength=n_tiles)
            table["ic_area_known"] = np.bincount(where, weights=np.where(np.isfinite(st), area, 0.0), minlength=n_tiles)
            table["ic_area_pdl1"] = np.bincount(where, weights=np.where(st == 1, area, 0.0), minlength=n_tiles)
        code = pixel_comp.ravel()
        if "inside" not in grid:
            msg = f"Sample {name!r}: compartments from an older tmekit (no `inside` grid); rerun `tk.sp.compartments`."
            raise KeyError(msg)
        pix_inside = np.asarray(grid["inside"]).ravel()
        pixel_mm2 = float(grid["pixel_um"]) ** 2 / 1e6
        for k, cname in enumerate(_COMP):
            table[f"area_{cname}"] = np.bincount(pix_tile[code == k], minlength=n_tiles) * pixel_mm2
        table["area_tissue"] = np.bincount(pix_tile[code >= 0], minlength=n_tiles) * pixel_mm2
        table["area_inside"] = np.bincount(pix_tile[pix_inside], minlength=n_tiles) * pixel_mm2
        table["area_peri"] = np.bincount(pix_tile[(code == 1) & ~pix_inside], minlength=n_tiles) * pixel_mm2
        local = np.full(adata.n_obs, -1)
        local[idx] = np.arange(len(idx))
        mine = local[rows] >= 0
        a, b = rows[mine], cols[mine]
        # each contact is counted in the tile of the cell that comes first by position (x, then y), never by the
        # cells' order in the object: the tiles' contacts, hence the resampled confidence, ignore cell order
        a_first = (xy[a, 0] < xy[b, 0]) | ((xy[a, 0] == xy[b, 0]) & (xy[a, 1] <= xy[b, 1]))
        edge_tile = cell_tile[local[np.where(a_first, a, b)]]
        if contacts is None:
            table["e_it"] = table["e_ii"] = np.full(n_tiles, np.nan)
        else:
            table["e_it"] = np.bincount(edge_tile[it_edge[mine]], minlength=n_tiles)
            table["e_ii"] = np.bincount(edge_tile[ii_edge[mine]], minlength=n_tiles)
        frame = pd.DataFrame(table)
        frame = frame[(frame["area_tissue"] > 0) | (frame.filter(like="n_").sum(axis=1) > 0)]
        ty, tx = np.divmod(frame.index.to_numpy(), n_tx)
        frame.insert(0, "tile_y_um", origin[1] + (ty + 0.5) * tile)
        frame.insert(0, "tile_x_um", origin[0] + (tx + 0.5) * tile)
        frame.insert(0, "tile_um", tile)
        frame.insert(0, "tile", frame.index.to_numpy())
        frame.insert(0, "sample", name)
        frames.append(frame)
    advance("tiles (samples)", len(groups), len(groups))
    out = pd.concat(frames, ignore_index=True)
    if pdl1 is not None:
        out.attrs["cell_area"] = describe_area(area_column(adata))
    return out


def contact_length(contacts: str, contact_distance: float | None) -> float:
    """The contact distance (um) of a contact definition: the given one, else the definition's default."""
    if contacts not in CONTACTS:
        msg = f"Unknown contacts={contacts!r}: use 'touching' (Delaunay neighbours, Keren 2018) or 'radius' (SPIAT)."
        raise ValueError(msg)
    default = TOUCHING_UM if contacts == "touching" else CONTACT_RADIUS_UM
    distance = default if contact_distance is None else float(contact_distance)
    if not distance > 0:
        msg = f"`contact_distance` must be a positive number of micrometres, got {contact_distance}."
        raise ValueError(msg)
    return distance


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(den.shape, np.nan), where=den > 0)


def _summed(table: pd.DataFrame) -> pd.DataFrame:
    """Rows summed per ``sample`` when the table has that column; a table of sums is returned as it is."""
    if "sample" not in table.columns:
        return table
    numeric = table.drop(columns=[c for c in ROW_LABELS if c in table.columns and c != "sample"])
    return numeric.groupby("sample", sort=False).sum()


def tile_metrics(tiles: pd.DataFrame) -> pd.DataFrame:
    """Densities per mm^2, fractions and the mixing score from :func:`tile_table` rows.

    With a ``sample`` column the rows of each sample are summed first; without one each row is taken as a
    sum already (a resampled sample, say). Densities are NaN where a compartment has no area. With PD-L1: ``tps``
    (PD-L1+ / known tumour cells, %), ``cps`` (PD-L1+ tumour and immune cells / known tumour cells x 100, capped at
    100), ``pdl1_share_tumour`` / ``pdl1_share_immune`` (PD-L1+ share of known tumour / immune cells, 0-1) and
    ``ic_percent`` (SP142 IC score: PD-L1+ immune cell area / tumour region area, core and margin, in %, the
    PD-L1+ share of the known immune area standing for the unknown; 0 with no immune cell in the region); NaN
    where the denominator is empty, never 0.

    Parameters
    ----------
    tiles
        Rows of :func:`tile_table` (all of them, a sample's, or a resample of them).

    Returns
    -------
    DataFrame, one row per sample (or per row, without ``sample``): the columns of :func:`infiltration` that come
    from counts and areas.

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("inflamed", rng=0)
    >>> tk.sp.compartments(adata)
    >>> tiles = tk.sp.tile_table(adata, contacts=None)
    >>> round(float(tk.sp.tile_metrics(tiles).loc["all", "density_cd8_core"]))
    664
    """
    sums = _summed(tiles)
    m: dict[str, Any] = {}  # the columns, made into one frame at the end (inserting them one by one is slow)
    for pop in POPULATIONS:
        m[f"n_{pop}"] = sums[f"n_{pop}"]
        for cname in _COMP:
            m[f"n_{pop}_{cname}"] = sums[f"n_{pop}_{cname}"]
            m[f"density_{pop}_{cname}"] = _ratio(sums[f"n_{pop}_{cname}"], sums[f"area_{cname}"])
    for cname in (*_COMP, "tissue"):
        m[f"area_{cname}_mm2"] = sums[f"area_{cname}"]
    m["density_immune_tissue"] = _ratio(sums["n_immune"], sums["area_tissue"])
    m["intratumoral_immune_fraction"] = _ratio(sums["n_immune_inside"], sums["n_immune"])
    for pop in ("cd8", "t"):
        m[f"density_{pop}_intratumoral"] = _ratio(sums[f"n_{pop}_inside"], sums["area_inside"])
        m[f"density_{pop}_stromal"] = _ratio(sums[f"n_{pop}_peri"], sums["area_peri"])
    m["area_intratumoral_mm2"], m["area_stromal_mm2"] = sums["area_inside"], sums["area_peri"]
    if "n_tumor_pdl1" in sums.columns:  # PD-L1 scores (22C3 interpretation): TPS and CPS, in percent
        m["n_tumor_pdl1"], m["n_tumor_pdl1_known"] = sums["n_tumor_pdl1"], sums["n_tumor_pdl1_known"]
        m["tps"] = 100.0 * _ratio(sums["n_tumor_pdl1"], sums["n_tumor_pdl1_known"])
        cps = 100.0 * _ratio(sums["n_tumor_pdl1"] + sums["n_immune_pdl1"], sums["n_tumor_pdl1_known"])
        m["cps"] = np.minimum(cps, 100.0)
        m["pdl1_share_tumour"] = _ratio(sums["n_tumor_pdl1"], sums["n_tumor_pdl1_known"])
        m["pdl1_share_immune"] = _ratio(sums["n_immune_pdl1"], sums["n_immune_pdl1_known"])
    if "ic_area_pdl1" in sums.columns:  # SP142 IC score: PD-L1+ immune cell area / tumour region area, in percent
        region = sums["area_core"].to_numpy(float) + sums["area_margin"].to_numpy(float)
        immune = sums["ic_area_immune"].to_numpy(float)
        # the PD-L1+ share of the known immune area, times the immune area: unknown cells are not negative
        ic = 100.0 * _ratio(sums["ic_area_pdl1"], sums["ic_area_known"]) * _ratio(immune, region)
        # rounded to 1e-9 %: a score at a band's cut by construction is at it, not one rounding error below
        m["ic_percent"] = np.round(np.minimum(np.where((immune == 0) & (region > 0), 0.0, ic), 100.0), 9)
        m["area_immune_region_mm2"], m["area_immune_pdl1_region_mm2"] = immune, sums["ic_area_pdl1"]
    e_it, e_ii = sums["e_it"].to_numpy(float), sums["e_ii"].to_numpy(float)
    m["immune_tumor_contacts"] = e_it
    m["immune_immune_contacts"] = e_ii
    m["mixing_score"] = np.where(e_ii > 0, _ratio(e_it, e_ii), np.where(e_it > 0, np.inf, np.nan))
    m["mixing_fraction"] = _ratio(e_it, e_it + e_ii)
    return pd.DataFrame(m, index=sums.index)


def _cd8_distances(xy: np.ndarray, cd8: np.ndarray, tumor: np.ndarray, signed: np.ndarray) -> dict[str, float]:
    cd8_xy, tum_xy = xy[cd8], xy[tumor]
    out = {"cd8_tumor_distance_median_um": np.nan, "cd8_tumor_distance_mean_um": np.nan}
    out["cd8_within_20um_fraction"] = np.nan
    if len(cd8_xy) and len(tum_xy):
        dist, _ = cKDTree(tum_xy).query(cd8_xy)
        out.update(cd8_tumor_distance_median_um=float(np.median(dist)), cd8_tumor_distance_mean_um=float(dist.mean()))
        out["cd8_within_20um_fraction"] = float((dist <= 20.0).mean())
    out["cd8_boundary_distance_median_um"] = float(np.median(signed[cd8])) if cd8.any() else np.nan
    return out


@accepts_spatialdata
def infiltration(
    adata: AnnData,
    *,
    cell_types: Mapping[str, Any] | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    microns_per_unit: float | None = None,
    compartment_key: str = COMPARTMENT_KEY,
    contacts: str | None = "touching",
    contact_distance: float | None = None,
    tiles: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-sample infiltration metrics (needs :func:`tmekit.sp.compartments` first). Never modifies ``adata``.

    Parameters
    ----------
    adata
        Cells with coordinates and compartments.
    cell_types
        The cell types' ``key`` and ``tumor``, ``immune`` (all leukocytes), ``cd8`` and ``t`` labels (T defaults to
        CD8), as declared with :func:`tmekit.pp.cell_types`; this mapping changes entries for this call only.
    library_key, spatial_key, microns_per_unit
        As for :func:`tmekit.sp.compartments`.
    compartment_key
        Where :func:`tmekit.sp.compartments` wrote its results.
    contacts, contact_distance
        Which cells are in contact, for the mixing score: ``"touching"`` (default; Delaunay neighbours at most
        ``contact_distance`` apart, 12 um by default, as Keren et al. counted touching cells) or ``"radius"``
        (every pair within ``contact_distance``, 20 um by default, SPIAT's radius). squidpy graphs, per sample.
        ``None``: no contacts (the contact and mixing columns are NaN).
    tiles
        The :func:`tile_table` of these arguments, when the caller has it already (it is computed otherwise).

    Returns
    -------
    DataFrame, one row per sample: counts ``n_<pop>`` and ``n_<pop>_<core|margin|stroma>`` for
    tumor, cd8, t and immune cells; compartment and tissue areas (mm^2); densities per mm^2 of each
    compartment (``density_<pop>_<compartment>``) and of tissue for immune cells;
    ``intratumoral_immune_fraction`` (immune cells inside the tumour region / all immune cells);
    ``mixing_score`` (immune-tumour / immune-immune contacts, as SPIAT reports it) and ``mixing_fraction``
    (immune-tumour / (immune-tumour + immune-immune) contacts, the score Keren et al. 2018 classified on), with
    the contact counts; CD8 distances to the nearest tumour cell (median, mean, share within 20 um) and
    their median signed distance to the tumour boundary; the margin half-width and tile size.

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("excluded", rng=0)
    >>> tk.sp.compartments(adata)
    >>> tk.sp.infiltration(adata)[["density_cd8_core", "density_cd8_margin"]].round(1)
            density_cd8_core  density_cd8_margin
    sample
    all                 15.5               819.1
    """
    given = roles(adata, cell_types, need=("key", "tumor", "immune", "cd8"))
    if tiles is None:
        tiles = tile_table(
            adata, cell_types=cell_types, library_key=library_key, spatial_key=spatial_key,
            microns_per_unit=microns_per_unit, compartment_key=compartment_key, contacts=contacts,
            contact_distance=contact_distance,
        )  # fmt: skip
    table = tile_metrics(tiles)
    regions = _regions(adata, compartment_key)["samples"]
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=microns_per_unit, cells=False)
    cd8 = label_mask(adata, cell_type_key=str(given.key), labels=given.cd8, what="cd8")
    tumor = label_mask(adata, cell_type_key=str(given.key), labels=given.tumor, what="tumor")
    signed = adata.obs[DISTANCE_KEY].to_numpy()
    extra = {}
    for name, idx in samples(adata, library_key=library_key):
        info = regions[name]
        extra[name] = {
            "margin_halfwidth_um": float(info["margin_halfwidth_um"]),
            "tile_um": float(tiles.loc[tiles["sample"] == name, "tile_um"].iloc[0]),
            "has_tumor_region": bool(info["has_tumor_region"]),
            "no_area": str(info.get("no_area", "")),
            **_cd8_distances(xy[idx], cd8[idx], tumor[idx], signed[idx]),
        }
    table = table.join(pd.DataFrame.from_dict(extra, orient="index"))
    table.index.name = "sample"
    if "ic_percent" in table.columns:  # every PD-L1 figure, and why one is not measured
        table["ic_category"] = ic_category(table["ic_percent"].to_numpy(float))
        table["pdl1_not_measured"] = not_measured(table, unread_roles(given))
    table["contacts"] = "not computed" if contacts is None else contacts
    table["contact_distance_um"] = np.nan if contacts is None else contact_length(contacts, contact_distance)
    return table
