"""Spatial plots: compartments with the tumour boundary, and per-sample metrics against rule thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from tmekit._constants import COMPARTMENT_KEY, SPATIAL_KEY
from tmekit._obs import coordinates_um, label_mask, samples
from tmekit.sp._compartments import COMPARTMENTS, sample_geometry

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["compartments", "infiltration"]

COMPARTMENT_COLORS = {"tumour core": "#b2182b", "invasive margin": "#f4a582", "stroma": "#92c5de"}
PHENOTYPE_COLORS = {"inflamed": "#d6604d", "excluded": "#4393c3", "desert": "#878787", "indeterminate": "#fee08b"}


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
        return fig, ax
    return ax.figure, ax


def compartments(
    adata: AnnData,
    sample: str | None = None,
    *,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    compartment_key: str = COMPARTMENT_KEY,
    point_size: float = 4.0,
    ax: Axes | None = None,
) -> Figure:
    """Cells (or spots) of one sample coloured by compartment, with the tumour boundary drawn.

    Needs :func:`tmekit.sp.compartments` first; coordinates are shown in micrometres.
    """
    if compartment_key not in adata.obs:
        msg = f"`adata.obs[{compartment_key!r}]` not found. Run `tk.sp.compartments(adata, ...)` first."
        raise KeyError(msg)
    info = adata.uns[compartment_key]
    params = info["params"]
    groups = dict(samples(adata, library_key=library_key or params["library_key"] or None))
    name = sample if sample is not None else next(iter(groups))
    if name not in groups:
        msg = f"Sample {name!r} not found; samples are {list(groups)[:20]}."
        raise KeyError(msg)
    idx = groups[name]
    xy = coordinates_um(adata, spatial_key=spatial_key, microns_per_unit=params["microns_per_unit"], cells=False)[idx]
    fig, ax = _axes(ax)
    comp = adata.obs[compartment_key].to_numpy()[idx]
    if params.get("mode") == "spots":
        return _spot_compartments(adata, xy, idx, comp, name=name, info=info, ax=ax, fig=fig)
    for label in COMPARTMENTS:
        sel = comp == label
        ax.scatter(xy[sel, 0], xy[sel, 1], s=point_size, c=COMPARTMENT_COLORS[label], label=label, linewidths=0)
    tumour = label_mask(adata, cell_type_key=params["cell_type_key"], labels=params["tumor_labels"], what="tumor")
    s = info["samples"][name]
    _, _, geom = sample_geometry(
        xy, tumour[idx], halfwidth=s["margin_halfwidth_um"], pixel_um=s["pixel_um"], bandwidth_um=s["bandwidth_um"],
        min_tumor_fraction=params["min_tumor_fraction"],
    )  # fmt: skip
    grid = geom.signed_grid
    if min(grid.shape) >= 2 and np.isfinite(grid).any() and (grid < 0).any() and (grid > 0).any():
        ny, nx = grid.shape
        gx = geom.origin[0] + (np.arange(nx) + 0.5) * geom.pixel_um
        gy = geom.origin[1] + (np.arange(ny) + 0.5) * geom.pixel_um
        ax.contour(gx, gy, geom.signed_grid, levels=[0.0], colors="black", linewidths=1.2)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: compartments (margin +/- {s['margin_halfwidth_um']:.0f} um)")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.legend(loc="upper right", markerscale=3, fontsize="small", frameon=True)
    return fig


def _spot_compartments(
    adata: AnnData, xy: np.ndarray, idx: np.ndarray, comp: np.ndarray, *, name: str, info: dict, ax: Axes, fig: Figure
) -> Figure:
    """Spots as discs of their real diameter, coloured by compartment; boundary = the signed-distance zero line."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle
    from matplotlib.tri import Triangulation

    params, s = info["params"], info["samples"][name]
    radius = params["spot_diameter_um"] / 2
    for label in COMPARTMENTS:
        sel = comp == label
        patches = [Circle((x, y), radius) for x, y in xy[sel]]
        ax.add_collection(PatchCollection(patches, facecolor=COMPARTMENT_COLORS[label], edgecolor="none"))
        ax.scatter([], [], c=COMPARTMENT_COLORS[label], label=label)
    signed = adata.obs[info["distance_key"]].to_numpy()[idx]
    if np.isfinite(signed).all() and (signed < 0).any() and (signed > 0).any() and len(xy) >= 3:
        ax.tricontour(Triangulation(xy[:, 0], xy[:, 1]), signed, levels=[0.0], colors="black", linewidths=1.2)
    pad = params["pitch_um"]
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: spot compartments (margin +/- {s['margin_halfwidth_um']:.0f} um)")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.legend(loc="upper right", fontsize="small", frameon=True)
    return fig


def infiltration(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Per-sample metrics of a :func:`tmekit.tl.classify` table against its rule's thresholds.

    ``cd8_density``: CD8 density in the tumour core (x) and invasive margin (y); ``keren2018``:
    immune-cell density (x) and mixing score (y); ``spot_cd8``: mean CD8 T fraction of core (x) and
    margin (y) spots. Points are coloured by the call; the dashed
    lines are the thresholds used.
    """
    rules = set(table["rules"])
    if len(rules) != 1:
        msg = f"The table mixes rule sets {sorted(rules)}; plot one rule set at a time."
        raise ValueError(msg)
    rule = rules.pop()
    fig, ax = _axes(ax)
    if rule == "spot_cd8":
        x, y = "fraction_cd8_core", "fraction_cd8_margin"
        vx, hy = table["threshold_core_cd8_fraction"].iloc[0], table["threshold_margin_cd8_fraction"].iloc[0]
        ax.set_xlabel("mean CD8 T fraction, tumour-core spots")
        ax.set_ylabel("mean CD8 T fraction, invasive-margin spots")
    elif rule == "cd8_density":
        x, y = "density_cd8_core", "density_cd8_margin"
        vx, hy = table["threshold_core_cd8_per_mm2"].iloc[0], table["threshold_margin_cd8_per_mm2"].iloc[0]
        ax.set_xlabel("CD8 T cells per mm^2, tumour core")
        ax.set_ylabel("CD8 T cells per mm^2, invasive margin")
    else:
        x, y = "density_immune_tissue", "mixing_score"
        vx = table["threshold_cold_immune_per_field"].iloc[0] / (table["threshold_field_um"].iloc[0] / 1000) ** 2
        hy = table["threshold_mixing_threshold"].iloc[0]
        ax.set_xlabel("immune cells per mm^2 of tissue")
        ax.set_ylabel("mixing score (immune-tumour / immune-immune contacts)")
    for phenotype, color in PHENOTYPE_COLORS.items():
        sel = table["phenotype"].astype(str) == phenotype
        if sel.any():
            ax.scatter(
                table.loc[sel, x], table.loc[sel, y], c=color, label=phenotype, edgecolors="black", linewidths=0.3
            )
    ax.axvline(vx, ls="--", c="black", lw=0.8)
    ax.axhline(hy, ls="--", c="black", lw=0.8)
    ax.set_title(f"{len(table)} samples, rules {rule!r}")
    ax.legend(fontsize="small")
    return fig
