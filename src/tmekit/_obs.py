"""Reading obs and positions, once for every subpackage: samples, labels, coordinates, grouped sums."""

from __future__ import annotations

import difflib
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit._arrays import iter_row_blocks
from tmekit._units import check_cell_units
from tmekit._values import require_counts
from tmekit._warnings import InputWarning

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from anndata import AnnData

__all__ = ["check_roles", "coordinates_um", "label_mask", "sample_codes", "samples", "sum_by_sample"]


def require_coordinates(adata: AnnData, *, spatial_key: str, also: str = "") -> None:
    """Raise, saying where coordinates may be and how to set them, when ``obsm[spatial_key]`` is missing."""
    if spatial_key in adata.obsm:
        return
    candidates = [k for k in adata.obsm if "spatial" in k.lower() or k.lower() in {"x_spatial", "coords"}]
    hint = f" Found {candidates}: pass `spatial_key={candidates[0]!r}`." if candidates else ""
    cols = " or from obs columns: `adata.obsm['spatial'] = adata.obs[['x', 'y']].to_numpy()`"
    cols = cols if {"x", "y"} <= set(adata.obs.columns) else ""
    msg = (
        f"`adata.obsm[{spatial_key!r}]` not found: spatial functions need cell coordinates.{hint} "
        f"Pass `spatial_key=` or set coordinates with `adata.obsm['spatial'] = ...`{cols}.{also}"
    )
    raise KeyError(msg)


def coordinates_um(
    adata: AnnData,
    *,
    spatial_key: str,
    microns_per_unit: float | None,
    library_key: str | None = None,
    cells: bool = True,
) -> np.ndarray:
    """``obsm[spatial_key]`` as an (n, 2) float array in micrometres, with clear errors.

    ``microns_per_unit=None``: the units were not stated and 1 is assumed. With ``cells=True`` the spacing
    of the cells (each sample of ``library_key`` on its own) and repeated positions are checked by
    :func:`check_cell_units`.
    """
    require_coordinates(adata, spatial_key=spatial_key)
    coords = np.asarray(adata.obsm[spatial_key], dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        msg = f"`adata.obsm[{spatial_key!r}]` must be an (n_cells, 2) array of x, y; got shape {coords.shape}."
        raise ValueError(msg)
    if not np.isfinite(coords[:, :2]).all():
        bad = int((~np.isfinite(coords[:, :2])).any(axis=1).sum())
        msg = f"`adata.obsm[{spatial_key!r}]` has {bad} cells with NaN/infinite coordinates; remove them first."
        raise ValueError(msg)
    if microns_per_unit is not None and not (np.isfinite(microns_per_unit) and microns_per_unit > 0):
        msg = f"`microns_per_unit` must be a positive number, got {microns_per_unit}."
        raise ValueError(msg)
    xy = coords[:, :2] * (1.0 if microns_per_unit is None else float(microns_per_unit))
    if cells:
        check_cell_units(
            xy, samples(adata, library_key=library_key), microns_per_unit=microns_per_unit, library_key=library_key
        )
    return xy


def _no_missing_samples(column: pd.Series, library_key: str) -> None:
    """Raise when some cells have no sample (NaN / None in ``obs[library_key]``): never a sample called "nan"."""
    missing = column.isna()
    if missing.any():
        msg = (
            f"{int(missing.sum()):,} of {len(column):,} cells have no sample in `obs[{library_key!r}]` (NaN). Give "
            f"them a sample id or remove them first: `adata = adata[adata.obs[{library_key!r}].notna()].copy()`."
        )
        raise ValueError(msg)


def samples(adata: AnnData, *, library_key: str | None) -> Iterator[tuple[str, np.ndarray]]:
    """``(sample name, cell indices)`` per sample (one sample named ``"all"`` when ``library_key`` is None)."""
    if library_key is None:
        yield "all", np.arange(adata.n_obs)
        return
    if library_key not in adata.obs:
        msg = f"`adata.obs[{library_key!r}]` not found. Pass `library_key=` naming the sample column, or None."
        raise KeyError(msg)
    column = adata.obs[library_key]
    _no_missing_samples(column, library_key)
    codes, names = pd.factorize(column.astype(str).to_numpy())  # in order of first appearance
    order = np.argsort(codes, kind="stable")  # each sample's cells in their order in the object
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        yield str(name), order[bounds[k] : bounds[k + 1]]


def _normalised(label: str) -> str:
    return re.sub(r"[^0-9a-z]", "", label.lower())


def _looks_like(wanted: str, present: Iterable[str]) -> str | None:
    """The present label that ``wanted`` is most probably a misspelling of (case, spaces, Tumor/Tumour; not CD8/CD4).

    Candidates are the labels with the same digits that equal it, contain it or are contained in it, or are 80%
    alike; the closest wins (``"Otherimmun"`` -> ``"Otherimmune"``, not ``"Other"``).
    """
    key = _normalised(wanted)
    digits = re.sub(r"\D", "", key)
    best, best_score = None, 0.0
    for label in sorted(present):
        other = _normalised(label)
        if not key or not other or re.sub(r"\D", "", other) != digits:
            continue
        ratio = difflib.SequenceMatcher(None, key, other).ratio()
        contained = len(min(key, other, key=len)) >= 3 and (key in other or other in key)
        score = 2.0 if key == other else ratio
        if (key == other or contained or ratio >= 0.8) and score > best_score:
            best, best_score = label, score
    return best


def label_mask(adata: AnnData, *, cell_type_key: str, labels: Iterable[str] | None, what: str) -> np.ndarray:
    """Boolean mask of cells whose ``obs[cell_type_key]`` is one of ``labels``.

    A label that no cell carries is a count of zero (a cold tumour has no CD8 T cells), announced with an
    :class:`~tmekit.InputWarning` when no label of the group occurs at all. A label that looks like a
    misspelling of one that does occur (``"Tumor"`` for ``"Tumour"``, ``"cd8t"`` for ``"CD8T"``) raises.
    """
    if cell_type_key not in adata.obs:
        msg = (
            f"`adata.obs[{cell_type_key!r}]` (the cell types' `key`) not found. Declare the column of cell types with "
            "`tk.pp.cell_types(adata, key=..., ...)` or pass `cell_types={'key': ...}`, or annotate first with "
            "`tk.tl.annotate(adata)` (writes obs['tmekit_cell_type'] and declares its labels)."
        )
        raise KeyError(msg)
    column = adata.obs[cell_type_key].astype(str)
    wanted = [labels] if isinstance(labels, str) else list(labels or [])
    if not wanted:
        msg = (
            f"No {what} labels given. Declare them with `tk.pp.cell_types(adata, key={cell_type_key!r}, {what}=[...])` "
            f"(values of `obs[{cell_type_key!r}]`), or pass `cell_types={{{what!r}: [...]}}`."
        )
        raise ValueError(msg)
    present = set(column.unique())
    absent = [w for w in wanted if w not in present]
    others = sorted(present - set(wanted))
    typos = {w: m for w in absent if (m := _looks_like(w, others))}
    if typos:
        fix = ", ".join(f"{w!r} -> {m!r}" for w, m in typos.items())
        msg = (
            f"{what} labels {list(typos)} do not occur in `adata.obs[{cell_type_key!r}]`, which has similar labels "
            f"({fix}): a misspelling? Its values are: {sorted(present)[:30]}."
        )
        raise ValueError(msg)
    if len(absent) == len(wanted):
        msg = (
            f"No {what} cells: {what} labels {wanted} do not occur in `adata.obs[{cell_type_key!r}]` (its values: "
            f"{sorted(present)[:30]}). They are counted as zero cells; if such cells are there under another "
            "label, pass that label."
        )
        warnings.warn(msg, InputWarning, stacklevel=4)
    return column.isin(wanted).to_numpy()


def _as_labels(value: Iterable[str] | str | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]


def check_roles(present: Iterable[str] | None = None, **roles: Iterable[str] | str | None) -> None:
    """Raise when one label is given two roles that exclude each other, or a T-cell label is not an immune one.

    ``roles``: any of ``tumor``, ``immune``, ``cd8``, ``t`` (label lists). A tumour label may not also be immune,
    CD8 T or T (its cells would be counted on both sides of every tumour-immune metric), and CD8 T and T labels
    must be among the immune labels when those are given (a CD8 T cell left out of the immune cells is missing from
    immune densities and from the mixing score). ``present``: the labels cells carry; others are not checked (they
    count no cell).
    """
    occurs = None if present is None else set(present)
    given = {role: [v for v in _as_labels(value) if occurs is None or v in occurs] for role, value in roles.items()}
    tumour = set(given.get("tumor", []))
    for role in ("immune", "cd8", "t"):
        both = sorted(tumour & set(given.get(role, [])))
        if both:
            msg = (
                f"{both} are both `tumor` and `{role}` labels: a cell is tumour or {role}, not both (its "
                f"cells would be counted on both sides of every tumour-immune metric). Remove them from one of the two."
            )
            raise ValueError(msg)
    immune = set(given.get("immune", []))
    for role in ("cd8", "t"):
        outside = [label for label in given.get(role, []) if immune and label not in immune]
        if outside:
            msg = (
                f"{outside} are `{role}` labels but not `immune` labels: T cells are immune cells, and leaving them "
                "out would drop them from immune densities and contacts. Add them to the `immune` labels."
            )
            raise ValueError(msg)


def sample_codes(adata: AnnData, library_key: str) -> tuple[np.ndarray, pd.Index]:
    """Integer code per cell and the sample names (categories without cells dropped), from ``obs[library_key]``."""
    if library_key not in adata.obs:
        msg = f"`adata.obs[{library_key!r}]` not found: `library_key` must name the obs column identifying samples."
        raise KeyError(msg)
    column = adata.obs[library_key]
    _no_missing_samples(column, library_key)
    cat = pd.Categorical(column.astype(str))
    present = np.unique(cat.codes)  # categories without cells are dropped, never reported as empty samples
    codes = np.searchsorted(present, cat.codes)
    return codes.astype(np.int64), pd.Index(np.asarray(cat.categories)[present], name=library_key)


def sum_by_sample(
    X: object, codes: np.ndarray, n_samples: int, *, chunk_size: int | None, source: str, what: str = "pseudobulk"
) -> tuple[np.ndarray, np.ndarray]:
    """Summed counts (samples x genes, float64) and detected genes per cell, streamed over row chunks."""
    n_vars = X.shape[1]  # type: ignore[attr-defined]
    sums = np.zeros((n_samples, n_vars), dtype=np.float64)
    totals = np.zeros(codes.size, dtype=np.float64)
    for start, stop, block in iter_row_blocks(X, chunk_size=chunk_size):
        require_counts(block, start, source, what=what)
        rows = codes[start:stop]
        indicator = sp.csr_matrix(
            (np.ones(stop - start), (rows, np.arange(stop - start))), shape=(n_samples, stop - start)
        )
        part = indicator @ (block.astype(np.float64) if sp.issparse(block) else np.asarray(block, dtype=np.float64))
        sums += part.toarray() if sp.issparse(part) else np.asarray(part)
        totals[start:stop] = np.asarray(block.sum(axis=1)).ravel()
    return sums, totals
