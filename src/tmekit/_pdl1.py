"""PD-L1 as the clinical assays read it: each cell's status, cell areas for the IC score, and the IC bands.

**Status.** The ``pdl1`` role (:func:`tmekit.pp.cell_types`) is either a string, an ``obs`` column or a channel /
gene of ``X`` read by :func:`tmekit._markers.marker_status`, or a list of the PD-L1+ labels of the cell-type column
``key`` (multiplex panels whose phenotypes carry PD-L1, e.g. ``"CD8+PD1-PDL1+"``). With labels a cell is PD-L1+
iff its label is listed, and its status is known only on a role (tumour, immune) at least one of whose labels is
listed: a panel whose tumour labels never say PD-L1 did not read PD-L1 on tumour cells, so their status is
unknown (NaN) and the TPS is *not measured* rather than 0%.

**Cell area** (the SP142 immune-cell score is an area): a segmentation area column of ``obs`` when the object has
one, the first of :data:`AREA_COLUMNS`, read in um^2 whatever the units of the coordinates (Xenium's
``cell_area`` is um^2; areas in pixels, e.g. CosMx ``Area`` or MIBI ``cell_size``, must be converted first: a
column whose median is more than :data:`AREA_SPACING_LIMIT` times the area the cells' spacing leaves them raises).
Otherwise an estimate: the disc of radius ``min(MAX_RADIUS_UM, d / 2)``, ``d`` the distance to the nearest other
cell. Such discs never overlap (so the PD-L1+ area never exceeds the tissue), the estimate is deterministic,
independent of cell order and costs one nearest-neighbour query. It is conservative: on the one object here with
segmented areas (Keren 2018 MIBI, patient 6, 2,320 immune cells) the discs sum to 0.69 of the segmented immune
cell area (per-cell correlation 0.62), so an estimated IC score near a cut tends to fall below it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from tmekit._markers import marker_status
from tmekit._obs import label_mask
from tmekit._roles import PDL1_HINT
from tmekit._warnings import InputWarning

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

    from tmekit._roles import Roles

__all__ = [
    "AREA_COLUMNS",
    "IC_CATEGORIES",
    "IC_CUTS",
    "MAX_RADIUS_UM",
    "PDL1_FIGURES",
    "area_column",
    "cell_areas",
    "check_pdl1_labels",
    "describe_area",
    "ic_category",
    "not_measured",
    "pdl1_status",
    "unread_roles",
]

#: Segmentation area columns looked up in ``obs``, in this order (um^2).
AREA_COLUMNS = ("cell_area", "area")
#: Largest radius of an estimated cell (um): half the 75th percentile of the diameters of Keren 2018's segmented
#: cells (10.6 um; median 8.6 um), the cell size :data:`tmekit.sp.TOUCHING_UM` is built on. A lone cell is a
#: 10.6 um disc (88 um^2); in tissue the spacing decides.
MAX_RADIUS_UM = 5.3
#: A segmentation area column whose median exceeds this many times pi (d / 2)^2 (``d`` the median distance to the
#: nearest cell) is taken to be in pixels and refused.
AREA_SPACING_LIMIT = 4.0
#: SP142 (VENTANA PD-L1 SP142) immune-cell score bands: IC0 < 1%, IC1 1-5%, IC2 5-10%, IC3 >= 10% of the tumour area.
IC_CUTS = (1.0, 5.0, 10.0)
IC_CATEGORIES = ("IC0", "IC1", "IC2", "IC3")
#: The PD-L1 figures every spatial call carries when PD-L1 is given.
PDL1_FIGURES = ("tps", "cps", "ic_percent", "ic_category", "pdl1_share_immune", "pdl1_share_tumour")


def unread_roles(given: Roles) -> list[str]:
    """Roles (tumour, immune) on which PD-L1+ labels say nothing: PD-L1 was not read on them (labels only)."""
    labels = given.pdl1_labels
    if labels is None:
        return []
    roles = ("tumor", "immune")
    return [role for role in roles if getattr(given, role) and not set(getattr(given, role)) & set(labels)]


def check_pdl1_labels(adata: AnnData, new: Roles) -> None:
    """PD-L1+ labels: labels of ``key`` that occur (a misspelling raises with the closest), no threshold with them."""
    labels = list(new.pdl1_labels or [])
    if new.key is None:
        msg = "PD-L1+ labels (`pdl1=[...]`) are labels of the cell-type column: declare `key=` too."
        raise ValueError(msg)
    if new.pdl1_threshold is not None:
        msg = "`pdl1_threshold` applies to a PD-L1 column or channel, not to PD-L1+ labels (`pdl1=[...]`): drop it."
        raise ValueError(msg)
    present = set(map(str, adata.obs[new.key].astype(str).unique()))
    absent = [label for label in labels if label not in present]
    if absent:
        with warnings.catch_warnings():  # no cells of these labels: raised below, after a misspelling is named
            warnings.simplefilter("ignore", InputWarning)
            label_mask(adata, cell_type_key=new.key, labels=absent, what="pdl1")
        msg = (
            f"pdl1={absent} do not occur in `adata.obs[{new.key!r}]` (its values: {sorted(present)[:30]}). PD-L1+ "
            "labels must be labels of `key`; to give PD-L1 as an obs column or channel, pass its name as a string."
        )
        raise ValueError(msg)


def pdl1_status(adata: AnnData, given: Roles) -> np.ndarray | None:
    """Each cell's PD-L1 status (1.0 positive, 0.0 negative, NaN unknown), or ``None`` without the ``pdl1`` role."""
    if given.pdl1 is None:
        return None
    labels = given.pdl1_labels
    if labels is None:
        return marker_status(adata, str(given.pdl1), threshold=given.pdl1_threshold, what="PD-L1", hint=PDL1_HINT)
    check_pdl1_labels(adata, given)  # a declaration was checked already; a `cell_types=` override is checked here
    column = adata.obs[given.key].astype(str)
    status = column.isin(labels).to_numpy().astype(np.float64)
    for role in unread_roles(given):
        status[column.isin(getattr(given, role)).to_numpy()] = np.nan
    return status


def ic_category(values: np.ndarray) -> np.ndarray:
    """The SP142 band of each IC score (percent): ``"IC0"`` ... ``"IC3"``, ``""`` where the score is NaN."""
    values = np.asarray(values, dtype=np.float64)
    names = np.asarray(IC_CATEGORIES, dtype=object)
    band = names[np.searchsorted(IC_CUTS, np.nan_to_num(values, nan=0.0), side="right")]
    return np.where(np.isnan(values), "", band).astype(object)


def area_column(adata: AnnData) -> str | None:
    """The segmentation area column of ``obs`` the IC score reads (the first of :data:`AREA_COLUMNS`), or ``None``."""
    return next((c for c in AREA_COLUMNS if c in adata.obs.columns), None)


def describe_area(column: str | None) -> str:
    """How cell areas were obtained, in words (recorded with the calls)."""
    if column is not None:
        return f"segmentation: obs[{column!r}] (um^2)"
    return f"estimate: disc of radius min({MAX_RADIUS_UM} um, half the distance to the nearest cell)"


def cell_areas(adata: AnnData, xy_um: np.ndarray, cells: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Areas (um^2) of the cells ``cells[query]``, among the cells ``cells`` (one sample) at ``xy_um``.

    ``xy_um`` are the sample's positions (rows match ``cells``); ``query`` indexes into ``cells``.
    """
    if len(query) == 0:
        return np.zeros(0)
    column = area_column(adata)
    distance = np.zeros(len(query))
    if len(cells) > 1:
        d, _ = cKDTree(xy_um).query(xy_um[query], k=2)
        distance = d[:, 1]
    if column is None:
        return np.pi * np.minimum(MAX_RADIUS_UM, distance / 2.0) ** 2
    values = adata.obs[column].to_numpy(dtype=np.float64, na_value=np.nan)[cells[query]]
    if not np.isfinite(values).all() or (values < 0).any():
        msg = f"`adata.obs[{column!r}]` (cell areas, um^2) has missing or negative values; fill or drop those cells."
        raise ValueError(msg)
    spacing = np.pi * (np.median(distance) / 2.0) ** 2
    if len(query) >= 10 and spacing > 0 and np.median(values) > AREA_SPACING_LIMIT * spacing:
        msg = (
            f"`adata.obs[{column!r}]` (median {np.median(values):.3g}) is more than {AREA_SPACING_LIMIT:g} times the "
            f"area the cells' spacing leaves each ({spacing:.3g} um^2): are the areas in pixels? The IC score reads "
            f"cell areas in um^2: convert them (`adata.obs[{column!r}] *= um_per_pixel**2`)."
        )
        raise ValueError(msg)
    return values


def not_measured(metrics: pd.DataFrame, unread: list[str]) -> np.ndarray:
    """Why each sample's PD-L1 figures are NaN: ``"<figures>: <reason>"`` clauses joined by ``"; "`` ("" if none).

    ``metrics``: :func:`tmekit.sp.tile_metrics` rows; ``unread``: :func:`unread_roles` of the call.
    """
    n = len(metrics)

    def col(name: str) -> np.ndarray:
        return metrics[name].to_numpy(float) if name in metrics.columns else np.full(n, np.nan)

    if "tumor" in unread:
        tumour = np.full(n, "PD-L1 given as cell-type labels, none of them a tumour label: not read on tumour cells")
    else:
        tumour = np.where(col("n_tumor") > 0, "no tumour cell with a known PD-L1 status (NaN / <NA> = unknown)",
                          "no tumour cells")  # fmt: skip
    if "immune" in unread:
        immune = np.full(n, "PD-L1 given as cell-type labels, none of them an immune label: not read on immune cells")
    else:
        immune = np.where(col("n_immune") > 0, "no immune cell with a known PD-L1 status (NaN / <NA> = unknown)",
                          "no immune cells")  # fmt: skip
    region = col("area_core_mm2") + col("area_margin_mm2")
    in_region = np.where(region > 0, "no immune cell in the tumour region with a known PD-L1 status",
                         "no tumour region")  # fmt: skip
    if "immune" in unread:
        in_region = immune
    why = {"tps": tumour, "cps": tumour, "pdl1_share_tumour": tumour, "pdl1_share_immune": immune,
           "ic_percent": in_region}  # fmt: skip
    out = []
    for k in range(n):
        grouped: dict[str, list[str]] = {}
        for fig, reasons in why.items():
            if np.isnan(col(fig)[k]):
                grouped.setdefault(str(reasons[k]), []).append(fig)
        out.append("; ".join(f"{', '.join(figs)}: {reason}" for reason, figs in grouped.items()))
    return np.asarray(out, dtype=object)
