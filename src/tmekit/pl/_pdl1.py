"""Map of one sample's PD-L1+ immune cells over its tumour region: what the SP142 IC score of the call counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from tmekit import get
from tmekit._constants import COMPARTMENT_KEY, PHENOTYPE_KEY
from tmekit._obs import coordinates_um, samples
from tmekit._pdl1 import pdl1_status
from tmekit._roles import LABEL_ROLES, from_mapping
from tmekit._spatialdata import accepts_spatialdata
from tmekit.pl._frameworks import _axes
from tmekit.pl._spatial import COMPARTMENT_COLORS, _draw_boundary
from tmekit.sp import COMPARTMENTS

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tmekit._roles import Roles

__all__ = ["PDL1_COLORS", "pdl1_map"]

#: Colours of the immune cells by PD-L1 status (inside the tumour region) and of those outside it (not scored).
PDL1_COLORS = {"PD-L1+": "#e7298a", "PD-L1-": "#1b9e77", "unknown": "#ffffff", "outside": "#969696"}


def _call_roles(params: pd.Series) -> Roles:
    """The roles and PD-L1 status source the call used, from its stored parameters."""
    labels = list(params.get("pdl1_labels", []))
    threshold = float(params.get("pdl1_threshold", np.nan))
    return from_mapping({"key": params["cell_type_key"], **{r: list(params[f"{r}_labels"]) for r in LABEL_ROLES},
                         "pdl1": labels or str(params["pdl1_key"]),
                         "pdl1_threshold": None if np.isnan(threshold) else threshold},
                        "the call's parameters")  # fmt: skip


@accepts_spatialdata
def pdl1_map(
    adata: AnnData,
    sample: str | None = None,
    *,
    key: str = PHENOTYPE_KEY,
    compartment_key: str = COMPARTMENT_KEY,
    point_size: float = 8.0,
    ax: Axes | None = None,
) -> Figure:
    """One sample's immune cells over its tumour region, coloured by PD-L1 status: the cells the IC score counted.

    Reads the roles and the PD-L1 status the call used (:func:`tmekit.tl.classify` on single cells with the
    ``pdl1`` role: an obs column / channel or a list of PD-L1+ labels). The compartments of
    :func:`tmekit.sp.compartments` are shaded (tumour core and invasive margin form the tumour region, the IC
    score's denominator) with the tumour boundary drawn; immune cells inside the region are PD-L1+, PD-L1- or
    unknown (status not read), those outside it (stroma, not scored) small and grey. The title gives the sample's
    ``ic_percent`` and ``ic_category`` as the call stored them.

    Parameters
    ----------
    adata
        Cells classified with :func:`tmekit.tl.classify` with the ``pdl1`` role declared.
    sample
        The sample to draw (default: the first).
    key, compartment_key
        The ``key_added`` of the call and of the compartments.
    point_size
        Marker size of the immune cells in the region.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.synthetic_tissue("inflamed", rng=0, pdl1=(0.3, 0.2))
    >>> tk.pp.cell_types(adata, **tk.datasets.synthetic_labels(), pdl1="pdl1", overwrite=True)
    >>> tk.tl.classify(adata, rules="til_pdl1_ic")
    >>> fig = tk.pl.pdl1_map(adata)
    >>> fig.axes[0].get_title()
    'all: PD-L1+ immune cells in the tumour region, IC 0.73% (IC0)'
    """
    params = get.phenotype_params(adata, key=key)
    if params.get("mode") != "spatial" or "cell_type_key" not in params:
        msg = "No spatial call on single cells here: run `tk.tl.classify(adata, ...)` on cells with positions first."
        raise ValueError(msg)
    if not params.get("pdl1_key") and not len(params.get("pdl1_labels", [])):
        msg = (
            f"The call in `uns[{key!r}]` had no PD-L1 status: declare it (`tk.pp.cell_types(adata, pdl1=...)`, an obs "
            "column or a list of PD-L1+ labels) and classify again, e.g. with `rules='til_pdl1_ic'`."
        )
        raise ValueError(msg)
    table = get.phenotypes(adata, key=key)
    groups = dict(samples(adata, library_key=params["library_key"] or None))
    name = next(iter(groups)) if sample is None else sample
    if name not in groups:
        msg = f"Sample {name!r} not found; samples are {list(groups)[:20]}."
        raise KeyError(msg)
    if compartment_key not in adata.obs:
        msg = f"`adata.obs[{compartment_key!r}]` not found. Run `tk.sp.compartments(adata, ...)` first."
        raise KeyError(msg)
    given = _call_roles(params)
    idx = groups[name]
    status = pdl1_status(adata, given)[idx]
    immune = adata.obs[str(given.key)].astype(str).isin(given.immune).to_numpy()[idx]
    comp = adata.obs[compartment_key].astype(str).to_numpy()[idx]
    region = np.isin(comp, COMPARTMENTS[:2])
    mpu = float(params["microns_per_unit"])
    xy = coordinates_um(adata, spatial_key=params["spatial_key"], microns_per_unit=None if np.isnan(mpu) else mpu,
                        cells=False)[idx]  # fmt: skip
    fig, ax = _axes(ax)
    info = adata.uns[compartment_key]["samples"][name]
    _draw_grid(ax, info)
    _draw_boundary(ax, info)
    groups_drawn = {
        "outside": immune & ~region,
        "PD-L1-": immune & region & (status == 0),
        "unknown": immune & region & np.isnan(status),
        "PD-L1+": immune & region & (status == 1),
    }
    words = {"outside": "immune, outside the tumour region (not scored)", "unknown": "immune, PD-L1 unknown",
             "PD-L1-": "immune, PD-L1-", "PD-L1+": "immune, PD-L1+"}  # fmt: skip
    for group, sel in groups_drawn.items():
        if not sel.any():
            continue
        outside = group == "outside"
        ax.scatter(xy[sel, 0], xy[sel, 1], s=point_size / 3 if outside else point_size, c=PDL1_COLORS[group],
                   edgecolors="none" if outside else "black", linewidths=0 if outside else 0.3,
                   label=f"{words[group]} ({int(sel.sum())})", zorder=2 if outside else 3)  # fmt: skip
    handles, _ = ax.get_legend_handles_labels()
    shades = [Patch(facecolor=COMPARTMENT_COLORS[c], alpha=0.35, label=c) for c in COMPARTMENTS]
    ax.legend(
        handles=[*handles, *shades], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small", frameon=False
    )
    ax.set_aspect("equal")
    ax.set_title(f"{name}: PD-L1+ immune cells in the tumour region, {_ic_words(table, name)}", fontsize="small")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    return fig


def _ic_words(table: pd.DataFrame, name: str) -> str:
    """``"IC 3.2% (IC1)"``, or why the sample has no IC score."""
    if "ic_percent" not in table.columns or name not in table.index:
        return "no IC score in the call"
    ic = float(table.loc[name, "ic_percent"])
    if np.isnan(ic):
        return "IC not measured"
    return f"IC {ic:.2f}% ({table.loc[name, 'ic_category']})"


def _draw_grid(ax: Axes, sample: dict) -> None:
    """The compartment grid :func:`tmekit.sp.compartments` stored, shaded (pixels outside the tissue left blank)."""
    grid = sample.get("grid")
    if grid is None:
        return
    codes = np.asarray(grid["compartment"])
    pixel = float(grid["pixel_um"])
    ox, oy = np.asarray(grid["origin_um"], dtype=np.float64)[:2]
    cmap = ListedColormap([COMPARTMENT_COLORS[c] for c in COMPARTMENTS])
    ax.imshow(np.ma.masked_less(codes, 0), cmap=cmap, vmin=-0.5, vmax=len(COMPARTMENTS) - 0.5, alpha=0.35,
              origin="lower", interpolation="nearest", zorder=0,
              extent=(ox, ox + codes.shape[1] * pixel, oy, oy + codes.shape[0] * pixel))  # fmt: skip
