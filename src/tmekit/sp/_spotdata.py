"""Spot data (Visium, binned data): what makes an object spot data, its scale, its grid."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tmekit._constants import CONTENT_KEY, SPOTS_KEY
from tmekit._spatialdata import accepts_spatialdata
from tmekit._warnings import InputWarning
from tmekit.sp._graphs import grid_graph

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import scipy.sparse as sp
    from anndata import AnnData

__all__ = [
    "GROUPS",
    "SPOT_PITCH_UM",
    "VISIUM_PITCH_UM",
    "VISIUM_SPOT_DIAMETER_UM",
    "group_content",
    "is_spot_data",
    "measured_pitch",
    "spot_graph",
    "spot_scale",
]

VISIUM_SPOT_DIAMETER_UM = 55.0
VISIUM_PITCH_UM = 100.0
#: Centre-to-centre distances of spot and bin grids: Visium HD 2 um bins to legacy ST's 200 um pitch, with room.
SPOT_PITCH_UM = (1.0, 300.0)
#: The groups of cell types spot evidence is summed over.
GROUPS = ("tumor", "immune", "cd8", "t")


@accepts_spatialdata
def is_spot_data(adata: AnnData) -> bool:
    """True for spot objects: made by tmekit, read by ``sc.read_visium`` (array_row/col) or deconvolved.

    Parameters
    ----------
    adata
        Any object.

    Returns
    -------
    Whether ``adata`` holds spots (``uns["tmekit_spots"]``, spot content, or Visium's ``array_row`` /
    ``array_col``); :func:`tmekit.sp.compartments` and :func:`tmekit.tl.classify` then work on spots.

    Examples
    --------
    >>> tk.sp.is_spot_data(tk.datasets.synthetic_spots(rng=0)), tk.sp.is_spot_data(tk.datasets.keren2018_mibi())
    (True, False)
    """
    return (
        SPOTS_KEY in adata.uns
        or CONTENT_KEY in adata.obsm
        or {"array_row", "array_col"} <= set(map(str, adata.obs.columns))
    )


def spot_scale(adata: AnnData, *, microns_per_unit: float | None) -> tuple[float, float, float]:
    """``(microns per coordinate unit, spot diameter um, pitch um)`` of a spot object.

    From ``uns["tmekit_spots"]`` (objects made by tmekit), else Visium's scale factors in
    ``uns["spatial"][library]["scalefactors"]["spot_diameter_fullres"]`` (= 55 um), else the given
    ``microns_per_unit`` with Visium's 55 um spots on a 100 um pitch.
    """
    info = adata.uns.get(SPOTS_KEY)
    if info is not None:
        mpu = float(info.get("microns_per_unit", 1.0)) if microns_per_unit is None else float(microns_per_unit)
        return mpu, float(info["spot_diameter_um"]), float(info["pitch_um"])
    if microns_per_unit is None:
        libraries = adata.uns.get("spatial", {})
        diameters = [
            float(v["scalefactors"]["spot_diameter_fullres"])
            for v in libraries.values()
            if isinstance(v, dict) and "spot_diameter_fullres" in v.get("scalefactors", {})
        ]
        if diameters:
            return VISIUM_SPOT_DIAMETER_UM / float(np.median(diameters)), VISIUM_SPOT_DIAMETER_UM, VISIUM_PITCH_UM
        warnings.warn(
            "Spot data without a scale: no uns['tmekit_spots'] and no Visium scalefactors in uns['spatial']; "
            "coordinates are taken as micrometres. Pass `microns_per_unit=` if they are pixels.",
            InputWarning,
            stacklevel=4,
        )
        microns_per_unit = 1.0
    return float(microns_per_unit), VISIUM_SPOT_DIAMETER_UM, VISIUM_PITCH_UM


def group_content(adata: AnnData, *, content_key: str, groups: Mapping[str, Sequence[str] | None]) -> pd.DataFrame:
    """Per-spot fraction of tumour / immune / CD8 T / T cells (sums of the deconvolved types)."""
    if content_key not in adata.obsm:
        msg = (
            f"`adata.obsm[{content_key!r}]` not found: spot data need per-spot cell-type content first. Run "
            "`tk.sp.spot_content(spots)` (raw counts; bundled breast-carcinoma reference by default)."
        )
        raise KeyError(msg)
    table = pd.DataFrame(adata.obsm[content_key])
    stored = adata.uns.get(content_key, {}).get("groups", {})
    out = {}
    for group in GROUPS:
        labels = groups.get(group)
        labels = list(stored.get(group, [])) if labels is None else ([labels] if isinstance(labels, str) else labels)
        if group == "t" and not labels:
            labels = list(groups.get("cd8") or stored.get("cd8", []))
        unknown = sorted(set(labels) - set(table.columns))
        if unknown or not labels:
            msg = (
                f"{group} labels {unknown or labels} are not columns of `obsm[{content_key!r}]` "
                f"({list(table.columns)}): declare the content columns with `tk.pp.cell_types(spots, {group}=[...])` "
                f"or pass `cell_types={{{group!r}: [...]}}`."
            )
            raise ValueError(msg)
        out[group] = table[labels].sum(axis=1, min_count=1).to_numpy()
    return pd.DataFrame(out, index=adata.obs_names)


def grid_neighbours(xy: np.ndarray) -> int:
    """6 for a hexagonal grid (Visium), 4 for a square one (binned data): neighbours at the smallest distance."""
    if len(xy) < 8:
        return 6
    d, _ = cKDTree(xy).query(xy, k=7)
    return 4 if np.median((d[:, 1:] <= d[:, [1]] * 1.05).sum(axis=1)) <= 4 else 6


def measured_pitch(xy_um: np.ndarray) -> float:
    """Centre-to-centre distance of neighbouring spots (median nearest-neighbour distance)."""
    d, _ = cKDTree(xy_um).query(xy_um, k=2)
    return float(np.median(d[:, 1]))


def spot_graph(xy_units: np.ndarray) -> sp.csr_matrix:
    """Spot adjacency from squidpy's grid graph (6 neighbours on a hexagonal Visium grid, 4 on square bins)."""
    return grid_graph(xy_units, n_neighs=grid_neighbours(xy_units))
