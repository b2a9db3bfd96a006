"""Plots of the frameworks: the TIL x PD-L1 quadrants, Immunoscore percentiles, and CD8 density tile by tile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from tmekit import get, sp
from tmekit._constants import PHENOTYPE_KEY
from tmekit._pdl1 import IC_CATEGORIES, IC_CUTS
from tmekit._spatialdata import accepts_spatialdata
from tmekit.tl import RULES

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["cd8_tiles", "immunoscore", "til_pdl1"]

TYPE_COLORS = {"PD-L1+/TIL+": "#d6604d", "PD-L1-/TIL+": "#f4a582", "PD-L1+/TIL-": "#92c5de",
               "PD-L1-/TIL-": "#878787", "indeterminate": "#fee08b"}  # fmt: skip
DENSITY_ORDER = ("CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM")


def _axes(ax: Axes | None, size: tuple[float, float] = (5, 5)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


def _framework(table: pd.DataFrame, rules: str) -> pd.DataFrame:
    """The table with ``rules``' own call in ``phenotype``: from ``phenotype_<rules>`` when several were applied."""
    if f"phenotype_{rules}" in table.columns:
        return table.assign(phenotype=table[f"phenotype_{rules}"], confidence=table[f"confidence_{rules}"])
    if str(table["rules"].iloc[0]) != rules:
        msg = f"The table holds calls of {table['rules'].iloc[0]!r}, not {rules!r}: classify with rules={rules!r}."
        raise ValueError(msg)
    return table


def til_pdl1(table: pd.DataFrame, *, rules: str = "til_pdl1", ax: Axes | None = None) -> Figure:
    """TIL density against the PD-L1 score per sample, with the quadrant lines at the rule set's thresholds.

    ``table``: :func:`tmekit.get.phenotypes` after ``rules="til_pdl1"`` (TPS), ``"til_pdl1_cps"`` (CPS) or
    ``"til_pdl1_ic"`` (SP142 IC score), alone or among other rule sets; ``rules`` picks which one is drawn.
    Quadrants are labelled with both namings (Teng 2015 and T1-T4). With ``rules="til_pdl1_ic"`` the y axis is
    ``ic_percent``: the 1% cut is dashed, the IC1 / IC2 / IC3 band edges (1, 5, 10%) are marked on the right, and
    the range fits the data (at least 0-15%) rather than 0-100%.

    Parameters
    ----------
    table
        :func:`tmekit.get.phenotypes` of a call with a TIL x PD-L1 rule set.
    rules
        ``"til_pdl1"``, ``"til_pdl1_cps"`` or ``"til_pdl1_ic"``.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("inflamed", rng=0, pdl1=(0.3, 0.2))  # 30% of tumour cells PD-L1+
    >>> tk.pp.cell_types(adata, **tk.datasets.synthetic_labels(), pdl1="pdl1", overwrite=True)
    >>> tk.tl.classify(adata, rules=["til_pdl1", "til_pdl1_ic"])
    >>> fig = tk.pl.til_pdl1(tk.get.phenotypes(adata), rules="til_pdl1")
    """
    table = _framework(table, rules)
    rule = RULES[rules]
    limits = {k: float(table[f"threshold_{k}"].iloc[0]) for k in rule.thresholds}
    plane = rule.plane
    fig, ax = _axes(ax)
    x = table[plane.x].to_numpy(float)
    floor = max(np.nanmin(x[x > 0]) / 2, 0.1) if (x > 0).any() else 0.1
    for call, color in TYPE_COLORS.items():
        sel = table["phenotype"].astype(str) == call
        if sel.any():
            ax.scatter(np.maximum(x[sel], floor), table.loc[sel, plane.y], c=color, label=call, edgecolors="black",
                       linewidths=0.3)  # fmt: skip
    xl, yl = plane.x_line(limits), plane.y_line(limits)
    ax.set_xscale("log")
    ax.axvline(xl, ls="--", c="black", lw=0.8)
    ax.axhline(yl, ls="--", c="black", lw=0.8)
    if plane.y == "ic_percent":  # SP142 IC score: the bands' edges, on a range that fits the data (IC mostly < 15%)
        y = table[plane.y].to_numpy(float)
        top = max(15.0, 1.1 * float(np.nanmax(y))) if np.isfinite(y).any() else 15.0
        for cut, band in zip(IC_CUTS, IC_CATEGORIES[1:], strict=True):
            if cut != yl:
                ax.axhline(cut, ls=":", c="grey", lw=0.6)
            ax.text(1.01, cut, band, transform=ax.get_yaxis_transform(), fontsize="x-small", va="bottom")
        ax.set_ylim(-0.02 * top, top)
    else:
        ax.set_ylim(-2, 102)
    for (hx, hy), call in {(0.98, 0.98): "PD-L1+/TIL+", (0.02, 0.98): "PD-L1+/TIL-", (0.98, 0.02): "PD-L1-/TIL+",
                           (0.02, 0.02): "PD-L1-/TIL-"}.items():  # fmt: skip
        ax.text(hx, hy, f"{call}\n{rule.aliases[call]}", transform=ax.transAxes, fontsize="x-small",
                ha="right" if hx > 0.5 else "left", va="top" if hy > 0.5 else "bottom")  # fmt: skip
    ax.set_xlabel(f"{plane.x_label} (log; zero drawn at {floor:.2g})")
    ax.set_ylabel(plane.y_label)
    ax.set_title(f"TIL x PD-L1 ({len(table)} samples, {rules})")
    return fig


def immunoscore(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """The four density percentiles (CD3 / CD8 in core CT and margin IM) per sample, with the category bands.

    ``table``: :func:`tmekit.get.phenotypes` after ``rules="immunoscore"`` (alone or among others). Dotted lines
    at the category cuts of the mean percentile (25, 70); each sample is labelled with its category and I0-I4.

    Parameters
    ----------
    table
        :func:`tmekit.get.phenotypes` of a call with ``immunoscore``.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    A reference of ten tumours of your own (CD3 and CD8 densities per mm^2 in core CT and margin IM):

    >>> reference = pd.DataFrame({c: np.geomspace(50, 2000, 10) for c in ["CD3_CT", "CD3_IM", "CD8_CT", "CD8_IM"]})
    >>> adata = tk.datasets.keren2018_mibi()
    >>> tk.pp.cell_types(adata, **tk.datasets.keren2018_labels(), t=["CD3T", "CD4T", "CD8T", "Treg"], overwrite=True)
    >>> tk.tl.classify(
    ...     adata,
    ...     rules="immunoscore",
    ...     immunoscore_reference=reference,
    ...     library_key="patient_id",
    ...     microns_per_unit=800 / 2048,
    ... )
    >>> table = tk.get.phenotypes(adata)
    >>> table["immunoscore_i"].tolist()
    [3.0, 2.0, 2.0, 3.0]
    >>> fig = tk.pl.immunoscore(table)
    """
    table = _framework(table, "immunoscore")
    columns = [f"percentile_{d}" for d in DENSITY_ORDER]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        msg = f"No Immunoscore percentiles in the table ({missing}): classify with rules='immunoscore' first."
        raise KeyError(msg)
    fig, ax = _axes(ax, (max(5.0, 0.6 * len(table) + 2), 4))
    width = 0.2
    pos = np.arange(len(table))
    colors = ("#fdae61", "#d7191c", "#abd9e9", "#2c7bb6")
    for k, (name, column) in enumerate(zip(DENSITY_ORDER, columns, strict=True)):
        ax.bar(pos + (k - 1.5) * width, table[column].to_numpy(float), width, label=name, color=colors[k])
    for cut in (float(table["threshold_low_max_percentile"].iloc[0]),
                float(table["threshold_intermediate_max_percentile"].iloc[0])):  # fmt: skip
        ax.axhline(cut, ls=":", c="black", lw=0.8)
    grade = table["immunoscore_i"].to_numpy(float)
    ax.set_xticks(pos, [f"{s}\n{p} (I{int(g)})" if np.isfinite(g) else f"{s}\n{p}"
                        for s, p, g in zip(table.index, table["phenotype"].astype(str), grade, strict=True)],
                  fontsize="x-small", rotation=90 if len(table) > 12 else 0)  # fmt: skip
    ax.set_ylim(0, 100)
    ax.set_ylabel("density percentile vs reference")
    ax.legend(fontsize="x-small", ncols=4, loc="upper left")
    ax.set_title("Immunoscore: CD3 / CD8 density percentiles in core (CT) and invasive margin (IM)")
    return fig


@accepts_spatialdata
def cd8_tiles(adata: AnnData, sample: str | None = None, *, key: str = PHENOTYPE_KEY, ax: Axes | None = None) -> Figure:
    """CD8 T-cell density inside the tumour, tile by tile: the evidence of ``patterns4``, ``intratumoral_stromal``.

    Reads the labels and units the call used (:func:`tmekit.tl.classify` on single cells first). Tiles without
    tumour are left blank; tiles above the hot threshold of ``patterns4`` (100 CD8/mm^2) are outlined.

    Parameters
    ----------
    adata
        Cells classified with :func:`tmekit.tl.classify`.
    sample
        The sample to draw (default: the first).
    key
        The ``key_added`` of the call.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("dispersed", rng=0)
    >>> tk.tl.classify(adata, rules="patterns4")
    >>> tk.get.phenotypes(adata)["phenotype"].tolist()
    ['dispersed']
    >>> fig = tk.pl.cd8_tiles(adata)
    """
    params = get.phenotype_params(adata, key=key)
    if params.get("mode") != "spatial" or "cell_type_key" not in params:
        msg = "No spatial call on single cells here: run `tk.tl.classify(adata, ...)` on cells with positions first."
        raise ValueError(msg)
    mpu = float(params["microns_per_unit"])
    tiles = sp.tile_table(
        adata, cell_types={"key": params["cell_type_key"], **{r: list(params[f"{r}_labels"]) or None
                                                           for r in ("tumor", "immune", "cd8", "t")}},
        library_key=params["library_key"] or None,
        spatial_key=params["spatial_key"], microns_per_unit=None if np.isnan(mpu) else mpu,
    )  # fmt: skip
    names = list(pd.unique(tiles["sample"]))
    name = names[0] if sample is None else sample
    if name not in names:
        msg = f"Sample {name!r} not found; samples are {names[:20]}."
        raise KeyError(msg)
    own = tiles[tiles["sample"] == name]
    area = own["area_inside"].to_numpy(float)
    density = np.divide(own["n_cd8_inside"].to_numpy(float), area, out=np.full(len(area), np.nan), where=area > 0)
    hot = RULES["patterns4"].thresholds["hot_cd8_per_mm2"]
    fig, ax = _axes(ax)
    size = float(own["tile_um"].iloc[0])
    positive = density[np.isfinite(density) & (density > 0)]
    low, high = (max(positive.min(), 1.0), max(positive.max(), 10.0)) if len(positive) else (1.0, 10.0)
    norm = LogNorm(vmin=low, vmax=high)
    cmap = plt.get_cmap("magma")
    for x, y, d in zip(own["tile_x_um"], own["tile_y_um"], density, strict=True):
        if not np.isfinite(d):
            continue
        ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, facecolor=cmap(norm(max(d, norm.vmin))),
                               edgecolor="white" if d > hot else "none", linewidth=1.5))  # fmt: skip
    ax.set_xlim(own["tile_x_um"].min() - size, own["tile_x_um"].max() + size)
    ax.set_ylim(own["tile_y_um"].min() - size, own["tile_y_um"].max() + size)
    ax.set_aspect("equal")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="CD8 T cells per mm^2 inside the tumour")
    ax.set_title(f"{name}: CD8 density per {size:.0f} um tile (outlined: > {hot:.0f}/mm^2)")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    return fig
