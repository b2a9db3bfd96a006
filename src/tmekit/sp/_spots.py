"""Spot-level spatial data (Visium, binned data): per-spot cell-type content, spot graph, tumour region.

A spot mixes several cells, so there is no cell type to count. :func:`spot_content` estimates each spot's
cell-type fractions by non-negative least squares (NNLS) of the spot's expression of the cell-identity
signature genes on per-cell-type reference profiles; :func:`spot_geometry` then finds the tumour region
on the spot graph (squidpy's hexagonal grid graph).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import nnls
from scipy.spatial import cKDTree

from tmekit._arrays import get_matrix, iter_row_blocks
from tmekit._constants import LOGGER_NAME
from tmekit._genenames import data_species, mouse_orthologs
from tmekit._transaction import all_or_nothing
from tmekit._values import LINEAR_ABOVE, block_kind
from tmekit._warnings import InputWarning
from tmekit.sp._compartments import margin_halfwidth
from tmekit.sp._graphs import grid_graph

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

logger = logging.getLogger(LOGGER_NAME)

__all__ = [
    "CONTENT_KEY",
    "SPOTS_KEY",
    "SpotReference",
    "default_spot_reference",
    "is_spot_data",
    "spot_content",
    "spot_reference",
]

CONTENT_KEY = "tmekit_spot_content"  # obsm (spots x cell types) and uns (method, genes, groups)
#: Centre-to-centre distances of spot and bin grids: Visium HD 2 um bins to legacy ST's 200 um pitch, with room.
SPOT_PITCH_UM = (1.0, 300.0)
SPOTS_KEY = "tmekit_spots"  # uns of spot objects made by tmekit (diameter, pitch, units)
VISIUM_SPOT_DIAMETER_UM = 55.0
VISIUM_PITCH_UM = 100.0
GROUPS = ("tumor", "immune", "cd8", "t")

#: Wu et al. 2021 CID4465 cell types (author labels) merged into the default reference's types.
_WU_TYPES = {
    "Cancer Epithelial": "Epithelial",
    "Normal Epithelial": "Epithelial",
    "T cells CD8+": "CD8 T",
    "T cells CD4+": "CD4 T",
    "Cycling T-cells": "CD4 T",
    "NKT cells": "CD4 T",
    "NK cells": "CD4 T",
    "B-cells": "B cell",
    "Plasmablasts": "Plasma",
    "Myeloid": "Myeloid",
    "CAFs": "Fibroblast",
    "Endothelial": "Endothelial",
    "PVL": "Perivascular",
}
_WU_GROUPS = {
    "tumor": ["Epithelial"],
    "immune": ["CD8 T", "CD4 T", "B cell", "Plasma", "Myeloid"],
    "cd8": ["CD8 T"],
    "t": ["CD8 T", "CD4 T"],
}


@dataclass
class SpotReference:
    """Per-cell-type expression profiles for spot deconvolution.

    ``profiles``: cell types x genes, each row the type's mean share of counts over the genes (sums
    to 1); ``library_size``: mean counts per cell of each type over the same genes (turns transcript
    shares into cell fractions); ``groups``: which types are tumour / immune / CD8 T / T cells.
    """

    profiles: pd.DataFrame
    library_size: pd.Series
    groups: dict[str, list[str]]
    source: str
    n_cells: dict[str, int] = field(default_factory=dict)


def spot_reference(
    cells: AnnData,
    *,
    cell_type_key: str,
    tumor_labels: Sequence[str],
    immune_labels: Sequence[str],
    cd8_labels: Sequence[str],
    t_labels: Sequence[str] | None = None,
    layer: str | None = None,
    genes: Sequence[str] | None = None,
    min_cells: int = 10,
    source: str = "user reference",
) -> SpotReference:
    """Reference profiles for :func:`spot_content` from annotated single cells (raw counts).

    Use single cells of the same tissue and, ideally, the same platform as the spots (for example a
    matched scRNA-seq sample, or the single-cell data the spots were aggregated from). Types with
    fewer than ``min_cells`` cells are dropped (their profile would be noise). ``genes`` default to
    the cell-identity signature genes of the library.
    """
    from tmekit._obs import sample_codes, sum_by_sample

    if cell_type_key not in cells.obs:
        msg = f"`cells.obs[{cell_type_key!r}]` not found: the reference needs a cell-type column."
        raise KeyError(msg)
    X = get_matrix(cells, layer=layer)
    wanted = pd.Index(identity_genes() if genes is None else list(genes))
    keep = wanted[wanted.isin(cells.var_names)].unique()
    if len(keep) < 2:
        msg = f"Only {len(keep)} of the {len(wanted)} reference genes are in `cells.var_names`; use gene symbols."
        raise ValueError(msg)
    codes, names = sample_codes(cells, cell_type_key)
    where = "the reference's " + (f"layer {layer!r}" if layer else "X")
    all_sums, _ = sum_by_sample(X, codes, len(names), chunk_size=None, source=where, what="a reference profile")
    n_cells = pd.Series(np.bincount(codes, minlength=len(names)), index=names.astype(str))
    sums = pd.DataFrame(all_sums[:, cells.var_names.get_indexer(keep)], index=n_cells.index, columns=keep)
    types = [t for t in n_cells.sort_values(ascending=False, kind="stable").index if n_cells[t] >= min_cells]
    sums, n_cells = sums.loc[types], n_cells[types]
    library = sums.sum(axis=1) / n_cells
    if (library <= 0).any():
        empty = library.index[library <= 0].tolist()
        msg = f"Cell types {empty} have no counts on the reference genes; they cannot be told apart in spots."
        raise ValueError(msg)
    groups = {"tumor": list(tumor_labels), "immune": list(immune_labels), "cd8": list(cd8_labels)}
    groups["t"] = list(t_labels) if t_labels is not None else list(cd8_labels)
    unknown = sorted({t for g in groups.values() for t in g} - set(types))
    if unknown:
        msg = f"Labels {unknown} are not reference cell types (with >= {min_cells} cells): {types}."
        raise ValueError(msg)
    return SpotReference(
        profiles=sums.div(sums.sum(axis=1), axis=0),
        library_size=library,
        groups=groups,
        source=source,
        n_cells={str(k): int(v) for k, v in n_cells.items()},
    )


def identity_genes() -> list[str]:
    """The genes of the library's cell-identity signatures (the default deconvolution genes)."""
    from tmekit.signatures._library import get, list_signatures

    names = list_signatures(category="cell_identity").index
    return list(dict.fromkeys(g for n in names for g in get(n).genes))


@functools.cache
def default_spot_reference() -> SpotReference:
    """Reference from the bundled Wu et al. 2021 TNBC scRNA-seq (CID4465, author labels), identity genes.

    Nine types: Epithelial (tumour), CD8 T, CD4 T, B cell, Plasma, Myeloid, Fibroblast, Endothelial,
    Perivascular. A breast carcinoma from 10x 3' scRNA-seq: adequate for carcinomas measured with
    3' capture (Visium); for other tumours or panels give your own :func:`spot_reference`.
    """
    from tmekit.datasets import wu2021_cid4465

    wu = wu2021_cid4465()
    minor = wu.obs["cell_type_minor"].astype(str)
    major = wu.obs["cell_type_major"].astype(str)
    wu.obs["reference_type"] = [_WU_TYPES.get(m, _WU_TYPES.get(M)) for m, M in zip(minor, major, strict=True)]
    return spot_reference(
        wu, cell_type_key="reference_type", min_cells=10,
        tumor_labels=_WU_GROUPS["tumor"], immune_labels=_WU_GROUPS["immune"], cd8_labels=_WU_GROUPS["cd8"],
        t_labels=_WU_GROUPS["t"],
        source="Wu SZ, et al. Nat Genet 2021;53:1334-1347 (CID4465 TNBC scRNA-seq, author cell types), "
        "cell-identity signature genes",
    )  # fmt: skip


def _require_counts(X: Any, what: str) -> None:
    _, _, block = next(iter_row_blocks(X, chunk_size=min(500, X.shape[0])))
    kind = block_kind(block)
    if kind in {"scaled", "log_floor"}:
        msg = f"{what} has negative values: spot deconvolution needs raw counts (or linear expression)."
        raise ValueError(msg)
    if kind == "log":
        msg = (
            f"{what} looks log-normalised (non-integer values, none above {LINEAR_ABOVE:g}); spot deconvolution "
            "adds up cells linearly and needs raw counts. Pass `layer=` naming the counts layer."
        )
        raise ValueError(msg)


@all_or_nothing
def spot_content(
    spots: AnnData,
    *,
    reference: SpotReference | None = None,
    layer: str | None = None,
    min_genes: int = 20,
    key_added: str = CONTENT_KEY,
    overwrite: bool = False,
    species: str = "auto",
) -> pd.DataFrame:
    """Estimate each spot's cell-type fractions (tumour, immune, CD8 T, ...) from its counts.

    Method ("NNLS on reference profiles", as in the NNLS baselines of deconvolution benchmarks): over the
    reference genes present (default: the library's cell-identity signature genes), a spot's share of
    counts per gene is modelled as a non-negative mix of the reference types' profiles; each gene is
    scaled by its largest reference value so that marker genes weigh alike whatever their level; the
    mix weights (transcript shares) are divided by each type's reference library size and renormalised,
    giving cell fractions. ``reference=None`` uses :func:`default_spot_reference` (bundled breast
    carcinoma scRNA-seq).

    Limits: fractions are relative (no absolute cell numbers); a cell type missing from the reference
    is absorbed by its nearest neighbours; platform effects on single genes (probe efficiency, 3' bias)
    are not modelled, so a matched reference is better; rare types (< ~5% of a spot) are at the noise
    floor. Compared: cell2location and Tangram (need PyTorch/Pyro, hours on CPU for an atlas
    reference) and RCTD (R only) model more but do not fit a no-GPU, no-R install; decoupler and
    scanpy give enrichment scores, not fractions.

    Mouse spots (``species="auto"`` detects them) read a human reference through the mouse orthologs of its
    genes (one-to-one or best-supported partner; :func:`tmekit.signatures.translation_table`).

    Writes ``obsm[key_added]`` (spots x reference types, fractions summing to 1; NaN for spots with no
    counts on the genes) and ``uns[key_added]`` (genes used, reference source, groups, method) and
    returns the table.
    """
    if not overwrite and (key_added in spots.obsm or key_added in spots.uns):
        msg = (
            f"`spots.obsm[{key_added!r}]` or `spots.uns[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        )
        raise ValueError(msg)
    ref = default_spot_reference() if reference is None else reference
    X = get_matrix(spots, layer=layer)
    if spots.n_obs == 0:
        msg = "No spots: the object is empty."
        raise ValueError(msg)
    _require_counts(X, "spot " + (f"layer {layer!r}" if layer else "X"))
    ref = _reference_in_species(ref, pd.Index(spots.var_names), species=species)
    genes = ref.profiles.columns[ref.profiles.columns.isin(spots.var_names)]
    if len(genes) < min_genes:
        msg = (
            f"Only {len(genes)} of the reference's {ref.profiles.shape[1]} genes are in the spots' var_names "
            f"(need min_genes={min_genes}). Check that var_names are gene symbols of the same species; for a "
            "targeted panel build a reference on its genes: `tk.sp.spot_reference(cells, cell_type_key=..., "
            "genes=panel_genes, ...)`, or lower `min_genes` knowingly."
        )
        raise ValueError(msg)
    profiles = ref.profiles[genes]
    profiles = profiles.div(profiles.sum(axis=1), axis=0)
    library = ref.library_size * ref.profiles[genes].sum(axis=1)  # counts per cell on the genes used
    scale = profiles.max(axis=0).to_numpy()
    scale[scale <= 0] = 1.0
    design = (profiles.to_numpy() / scale).T  # genes x types
    column = spots.var_names.get_indexer(genes)
    fractions = np.full((spots.n_obs, len(profiles)), np.nan)
    residual = np.full(spots.n_obs, np.nan)
    for start, _, block in iter_row_blocks(X):
        sub = block[:, column]
        dense = sub.toarray() if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)
        totals = dense.sum(axis=1)
        for i in np.flatnonzero(totals > 0):
            weights, res = nnls(design, dense[i] / totals[i] / scale)
            cells = weights / library.to_numpy()
            if cells.sum() > 0:
                fractions[start + i] = cells / cells.sum()
                residual[start + i] = res
    table = pd.DataFrame(fractions, index=spots.obs_names.copy(), columns=list(profiles.index))
    n_empty = int(np.isnan(fractions[:, 0]).sum())
    if n_empty:
        warnings.warn(
            f"{n_empty} spots have no counts on the {len(genes)} deconvolution genes; their content is NaN.",
            InputWarning,
            stacklevel=2,
        )
    spots.obsm[key_added] = table
    spots.uns[key_added] = {
        "method": "NNLS on reference profiles (gene-scaled transcript shares -> cell fractions)",
        "reference": ref.source,
        "reference_cells": dict(ref.n_cells),
        "genes_used": list(map(str, genes)),
        "n_genes_reference": int(ref.profiles.shape[1]),
        "groups": {k: list(v) for k, v in ref.groups.items()},
        "median_residual": float(np.nanmedian(residual)) if np.isfinite(residual).any() else float("nan"),
    }
    return table


def _reference_in_species(ref: SpotReference, var_names: pd.Index, *, species: str) -> SpotReference:
    """The reference with its genes renamed to the spots' species (mouse spots, human reference)."""
    target = data_species(var_names, species)
    genes = list(ref.profiles.columns)
    if target != "mouse" or sum(g in set(var_names) for g in genes) > len(genes) / 2:
        return ref
    rename = mouse_orthologs(genes, name="reference")
    keep = [g for g in genes if g in rename]
    profiles = ref.profiles[keep].rename(columns=rename)
    library = ref.library_size * ref.profiles[keep].sum(axis=1)  # counts per cell on the kept genes
    logger.info("human spot reference read through %d mouse orthologs of its %d genes", len(keep), len(genes))
    return dataclasses.replace(
        ref, profiles=profiles.div(profiles.sum(axis=1), axis=0), library_size=library,
        source=f"{ref.source} (through mouse orthologs of {len(keep)} of its {len(genes)} genes)",
    )  # fmt: skip


def is_spot_data(adata: AnnData) -> bool:
    """True for spot objects: made by tmekit, read by ``sc.read_visium`` (array_row/col) or deconvolved."""
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
            stacklevel=3,
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
                f"{group}_labels {unknown or labels} are not columns of `obsm[{content_key!r}]` "
                f"({list(table.columns)}): pass `{group}_labels=` naming the content columns."
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


def spot_geometry(
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
        "tumour_area_mm2": float(inside.sum() * spot_mm2),
        "core_area_mm2": float((signed <= -w).sum() * spot_mm2),
        "margin_area_mm2": float((np.abs(signed) < w).sum() * spot_mm2),
        "stroma_area_mm2": float((signed >= w).sum() * spot_mm2),
        "has_tumour_region": bool(inside.any()),
    }
    return smooth, signed, info


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
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Any]], dict[str, Any]]:
    """Per spot: smoothed tumour content, signed distance (um); per sample: summary; and the parameters."""
    from tmekit._obs import coordinates_um, samples

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
        s, d, info = spot_geometry(
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
    return smooth, signed, per_sample, params


def spot_tables(
    adata: AnnData,
    *,
    content_key: str,
    groups: Mapping[str, Sequence[str] | None],
    compartment_key: str,
    library_key: str | None,
) -> dict[str, pd.DataFrame]:
    """Per sample, one row per spot: its compartment indicators and group fractions in each compartment.

    Summing rows (or weighting them, for a bootstrap) and passing the sums to :func:`spot_metrics`
    gives the sample's metrics.
    """
    from tmekit._obs import samples

    content = group_content(adata, content_key=content_key, groups=groups)
    comp = adata.obs[compartment_key].astype(str).to_numpy()
    names = {"tumour core": "core", "invasive margin": "margin", "stroma": "stroma"}
    frames = {}
    for name, idx in samples(adata, library_key=library_key):
        valid = np.isfinite(content["tumor"].to_numpy()[idx])
        rows = {}
        for label, short in names.items():
            member = (comp[idx] == label) & valid
            rows[f"n_spots_{short}"] = member.astype(float)
            for group in GROUPS:
                rows[f"sum_{group}_{short}"] = np.where(member, content[group].to_numpy()[idx], 0.0)
        frames[name] = pd.DataFrame(rows, index=adata.obs_names[idx])
    return frames


def spot_metrics(sums: pd.DataFrame) -> pd.DataFrame:
    """Mean group fractions per compartment and over all tissue spots, from summed spot rows."""
    out = pd.DataFrame(index=sums.index)
    total = sum(sums[f"n_spots_{c}"] for c in ("core", "margin", "stroma"))
    for c in ("core", "margin", "stroma"):
        out[f"n_spots_{c}"] = sums[f"n_spots_{c}"]
        for group in GROUPS:
            n = sums[f"n_spots_{c}"].to_numpy()
            out[f"fraction_{group}_{c}"] = np.divide(
                sums[f"sum_{group}_{c}"].to_numpy(), n, out=np.full(len(n), np.nan), where=n > 0
            )
    for group in GROUPS:
        summed = sum(sums[f"sum_{group}_{c}"] for c in ("core", "margin", "stroma")).to_numpy()
        out[f"fraction_{group}_tissue"] = np.divide(
            summed, total.to_numpy(), out=np.full(len(total), np.nan), where=total.to_numpy() > 0
        )
    return out
