"""Spatial plots: compartments with the tumour boundary, and per-sample metrics against rule thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tmekit._constants import COMPARTMENT_KEY, SPATIAL_KEY
from tmekit._obs import coordinates_um, samples
from tmekit._spatialdata import accepts_spatialdata
from tmekit.sp import COMPARTMENTS
from tmekit.tl import RULES

if TYPE_CHECKING:
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


@accepts_spatialdata
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

    Parameters
    ----------
    adata
        Cells or spots after :func:`tmekit.sp.compartments`.
    sample
        The sample to draw (default: the first).
    library_key, spatial_key, compartment_key
        The sample column (default: the one the compartments used), the coordinates and the compartments' key.
    point_size
        Marker size.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.sp.compartments(adata, library_key="patient_id", microns_per_unit=800 / 2048)
    >>> fig = tk.pl.compartments(adata, "3")
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
    s = info["samples"][name]
    _draw_boundary(ax, s)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: compartments (margin +/- {s['margin_halfwidth_um']:.0f} um)")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.legend(loc="upper right", markerscale=3, fontsize="small", frameon=True)
    return fig


def _draw_boundary(ax: Axes, sample: dict) -> None:
    """The tumour boundary :func:`tmekit.sp.compartments` stored (a polyline, NaN rows between lines)."""
    line = np.asarray(sample.get("boundary_um", np.empty((0, 2))), dtype=np.float64).reshape(-1, 2)
    if len(line):
        ax.plot(line[:, 0], line[:, 1], c="black", lw=1.2)


def _spot_compartments(
    adata: AnnData, xy: np.ndarray, idx: np.ndarray, comp: np.ndarray, *, name: str, info: dict, ax: Axes, fig: Figure
) -> Figure:
    """Spots as discs of their real diameter, coloured by compartment; boundary = the signed-distance zero line."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle

    params, s = info["params"], info["samples"][name]
    radius = params["spot_diameter_um"] / 2
    for label in COMPARTMENTS:
        sel = comp == label
        patches = [Circle((x, y), radius) for x, y in xy[sel]]
        ax.add_collection(PatchCollection(patches, facecolor=COMPARTMENT_COLORS[label], edgecolor="none"))
        ax.scatter([], [], c=COMPARTMENT_COLORS[label], label=label)
    _draw_boundary(ax, s)
    pad = params["pitch_um"]
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: spot compartments (margin +/- {s['margin_halfwidth_um']:.0f} um)")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.legend(loc="upper right", fontsize="small", frameon=True)
    return fig


def infiltration(table: pd.DataFrame, *, rules: str | None = None, ax: Axes | None = None) -> Figure:
    """Per-sample evidence of a :func:`tmekit.get.phenotypes` table against its rule set's thresholds.

    Each rule set declares the two metrics it is drawn on (``tk.tl.RULES[name].plane``): CD8 density in the
    tumour core and the invasive margin for ``cd8_density``, immune density and mixing score for ``keren2018``,
    CD8 T fractions of core and margin spots for ``spot_cd8``, the tile shares for ``patterns4`` and
    ``intratumoral_stromal``, and so on. Points are coloured by the call; the dashed lines are the thresholds
    used.

    Parameters
    ----------
    table
        :func:`tmekit.get.phenotypes` of a spatial call.
    rules
        Which rule set of the table to draw (default: the first applied).
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.tl.classify(adata, rules=["cd8_density", "keren2018"], library_key="patient_id", microns_per_unit=800 / 2048)
    >>> fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    >>> _ = tk.pl.infiltration(tk.get.phenotypes(adata), ax=axes[0])
    >>> _ = tk.pl.infiltration(tk.get.phenotypes(adata), rules="keren2018", ax=axes[1])
    """
    applied = [r for value in pd.unique(table["rules"].astype(str)) for r in value.split(",")]
    if len(set(pd.unique(table["rules"].astype(str)))) != 1:
        msg = f"The table mixes rule sets {sorted(set(applied))}; plot one rule set at a time."
        raise ValueError(msg)
    name = rules or applied[0]
    if name not in applied:
        msg = f"Rule set {name!r} was not applied in this table ({applied})."
        raise ValueError(msg)
    rule = RULES[name]
    if rule.plane is None:
        msg = f"Rule set {rule.name!r} declares no plane to draw its evidence on."
        raise ValueError(msg)
    calls = table[f"phenotype_{name}"] if f"phenotype_{name}" in table.columns else table["phenotype"]
    plane = rule.plane
    limits = {k: float(table[f"threshold_{k}"].iloc[0]) for k in rule.thresholds}
    fig, ax = _axes(ax)
    others = iter(plt.get_cmap("tab10").colors)
    for phenotype in rule.calls:
        color = PHENOTYPE_COLORS.get(phenotype) or next(others)
        sel = calls.astype(str) == phenotype
        if sel.any():
            ax.scatter(table.loc[sel, plane.x], table.loc[sel, plane.y], c=[color], label=phenotype,
                       edgecolors="black", linewidths=0.3)  # fmt: skip
    ax.axvline(plane.x_line(limits), ls="--", c="black", lw=0.8)
    ax.axhline(plane.y_line(limits), ls="--", c="black", lw=0.8)
    ax.set_xlabel(plane.x_label)
    ax.set_ylabel(plane.y_label)
    ax.set_title(f"{len(table)} samples, rules {rule.name!r}")
    ax.legend(fontsize="small")
    return fig
