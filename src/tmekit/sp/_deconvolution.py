"""Spot deconvolution: per-cell-type reference profiles and each spot's cell-type fractions (NNLS).

A spot mixes several cells, so there is no cell type to count. :func:`spot_content` estimates each spot's
cell-type fractions by non-negative least squares of the spot's expression of the cell-identity signature
genes on per-cell-type reference profiles (:class:`SpotReference`). The default reference is a table shipped
with tmekit, made by ``tools/build_spot_reference.py`` from the bundled Wu et al. 2021 tumour.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import warnings
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import nnls

from tmekit import signatures
from tmekit._arrays import get_matrix, iter_row_blocks
from tmekit._constants import CONTENT_KEY, LOGGER_NAME
from tmekit._genenames import data_species, mouse_orthologs
from tmekit._obs import sample_codes, sum_by_sample
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._values import block_kind, not_counts
from tmekit._warnings import InputWarning

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["DEFAULT_REFERENCE", "SpotReference", "default_spot_reference", "spot_content", "spot_reference"]

#: The shipped default reference (written by tools/build_spot_reference.py).
DEFAULT_REFERENCE = "wu2021_cid4465_spot_reference.json"


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every number as Python writes it (floats round-trip exactly)."""
        return {
            "format": "tmekit-spot-reference/1",
            "source": self.source,
            "types": list(self.profiles.index),
            "genes": list(self.profiles.columns),
            "profiles": self.profiles.to_numpy().tolist(),
            "library_size": self.library_size.to_numpy().tolist(),
            "groups": {k: list(v) for k, v in self.groups.items()},
            "n_cells": dict(self.n_cells),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpotReference:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != "tmekit-spot-reference/1":
            msg = "Not a tmekit spot reference (missing 'format': 'tmekit-spot-reference/1')."
            raise ValueError(msg)
        types = pd.Index(data["types"])
        return cls(
            profiles=pd.DataFrame(data["profiles"], index=types, columns=pd.Index(data["genes"])),
            library_size=pd.Series(data["library_size"], index=types),
            groups={k: list(v) for k, v in data["groups"].items()},
            source=str(data["source"]),
            n_cells={k: int(v) for k, v in data["n_cells"].items()},
        )


def spot_reference(
    adata: AnnData,
    *,
    cell_types: Mapping[str, Any] | None = None,
    layer: str | None = None,
    genes: Sequence[str] | None = None,
    min_cells: int = 10,
    source: str = "user reference",
) -> SpotReference:
    """Reference profiles for :func:`spot_content` from annotated single cells (raw counts).

    Use single cells of the same tissue and, ideally, the same platform as the spots (for example a
    matched scRNA-seq sample, or the single-cell data the spots were aggregated from). Types with
    fewer than ``min_cells`` cells are dropped (their profile would be noise). ``genes`` default to
    the cell-identity signature genes of the library. The cells' types and which of them are tumour, immune, CD8 T
    and T cells (the spot groups) are those declared with :func:`tmekit.pp.cell_types` on ``adata`` (or by
    :func:`tmekit.tl.annotate`); ``cell_types={...}`` changes entries for this call.

    Parameters
    ----------
    adata
        Annotated single cells with raw counts.
    cell_types
        Changes to the declared roles for this call only (same keys as :func:`tmekit.pp.cell_types`).
    layer
        Layer with the raw counts (default ``X``).
    genes
        Genes of the profiles (default: the library's cell-identity genes).
    min_cells
        Smallest number of cells a type needs to get a profile.
    source
        A description stored with the reference (and in every result made with it).

    Returns
    -------
    A :class:`SpotReference`: per-type profiles, library sizes, cell counts and the groups.

    Examples
    --------
    >>> cells = tk.datasets.wu2021_cid4465()
    >>> tk.pp.cell_types(
    ...     cells,
    ...     key="cell_type_major",
    ...     tumor=["Cancer Epithelial"],
    ...     immune=["T-cells", "B-cells", "Myeloid", "Plasmablasts"],
    ...     cd8=["T-cells"],
    ... )
    >>> reference = tk.sp.spot_reference(cells, source="CID4465, author labels")
    >>> reference.groups["tumor"]
    ['Cancer Epithelial']
    """
    given = roles(adata, cell_types, need=("key", "tumor", "immune", "cd8"))
    cell_type_key = str(given.key)
    if cell_type_key not in adata.obs:
        msg = f"`adata.obs[{cell_type_key!r}]` not found: the reference needs a cell-type column."
        raise KeyError(msg)
    X = get_matrix(adata, layer=layer)
    wanted = pd.Index(identity_genes() if genes is None else list(genes))
    keep = wanted[wanted.isin(adata.var_names)].unique()
    if len(keep) < 2:
        msg = f"Only {len(keep)} of the {len(wanted)} reference genes are in `adata.var_names`; use gene symbols."
        raise ValueError(msg)
    codes, names = sample_codes(adata, cell_type_key)
    where = "the reference's " + (f"layer {layer!r}" if layer else "X")
    all_sums, _ = sum_by_sample(X, codes, len(names), chunk_size=None, source=where, what="a reference profile")
    n_cells = pd.Series(np.bincount(codes, minlength=len(names)), index=names.astype(str))
    sums = pd.DataFrame(all_sums[:, adata.var_names.get_indexer(keep)], index=n_cells.index, columns=keep)
    types = [t for t in n_cells.sort_values(ascending=False, kind="stable").index if n_cells[t] >= min_cells]
    sums, n_cells = sums.loc[types], n_cells[types]
    library = sums.sum(axis=1) / n_cells
    if (library <= 0).any():
        empty = library.index[library <= 0].tolist()
        msg = f"Cell types {empty} have no counts on the reference genes; they cannot be told apart in spots."
        raise ValueError(msg)
    groups = {"tumor": given.tumor, "immune": given.immune, "cd8": given.cd8, "t": given.t or given.cd8}
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
    names = signatures.list(category="cell_identity").index
    get = signatures.get
    return list(dict.fromkeys(g for n in names for g in get(n).genes))


@functools.cache
def default_spot_reference() -> SpotReference:
    """The shipped reference: Wu et al. 2021 TNBC scRNA-seq (CID4465, author labels), cell-identity genes.

    Nine types: Epithelial (tumour), CD8 T, CD4 T, B cell, Plasma, Myeloid, Fibroblast, Endothelial,
    Perivascular. A breast carcinoma from 10x 3' scRNA-seq: adequate for carcinomas measured with
    3' capture (Visium); for other tumours or panels give your own :func:`spot_reference`.

    Returns
    -------
    The :class:`SpotReference` (read once, then cached).

    Examples
    --------
    >>> reference = tk.sp.default_spot_reference()
    >>> reference.groups["cd8"], len(reference.profiles.index)
    (['CD8 T'], 9)
    """
    text = resources.files("tmekit.sp").joinpath("data", DEFAULT_REFERENCE).read_text(encoding="utf-8")
    return SpotReference.from_dict(json.loads(text))


def _require_counts(X: Any, what: str) -> None:
    _, _, block = next(iter_row_blocks(X, chunk_size=min(500, X.shape[0])))
    kind = block_kind(block)
    if kind in {"scaled", "log_floor", "log"}:  # linear expression (TPM, CPM) adds up like counts
        raise ValueError(not_counts(what, kind, "spot deconvolution (cells add up linearly in a spot)"))


@accepts_spatialdata
@all_or_nothing
def spot_content(
    adata: AnnData,
    *,
    reference: SpotReference | None = None,
    layer: str | None = None,
    min_genes: int = 20,
    species: str = "auto",
    key_added: str = CONTENT_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
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

    Parameters
    ----------
    adata
        Spots x genes with raw counts (``X`` or ``layer``).
    reference
        Reference profiles (:func:`spot_reference`); ``None``: :func:`default_spot_reference`.
    layer
        Layer with the raw counts (default ``X``).
    min_genes
        Smallest number of reference genes the spots must measure.
    species
        ``"auto"``, ``"human"`` or ``"mouse"``.
    key_added, overwrite, copy
        ``obsm[key_added]`` gets the fractions (spots x reference types, summing to 1; NaN for spots with no counts
        on the genes; read them back with :func:`tmekit.get.spot_content`) and ``uns[key_added]`` the genes used,
        the reference's source, its groups and the method; replace existing results; return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("excluded", rng=0)  # raw counts, truth in obsm["cell_type_fractions"]
    >>> tk.sp.spot_content(spots)
    >>> content = tk.get.spot_content(spots)
    >>> content.shape
    (489, 9)
    """
    if not overwrite and (key_added in adata.obsm or key_added in adata.uns):
        msg = (
            f"`adata.obsm[{key_added!r}]` or `adata.uns[{key_added!r}]` exists. Pass `overwrite=True` or `key_added=`."
        )
        raise ValueError(msg)
    ref = default_spot_reference() if reference is None else reference
    X = get_matrix(adata, layer=layer)
    if adata.n_obs == 0:
        msg = "No spots: the object is empty."
        raise ValueError(msg)
    _require_counts(X, "adata.X" if layer is None else f"adata.layers[{layer!r}]")
    ref = _reference_in_species(ref, pd.Index(adata.var_names), species=species)
    genes = ref.profiles.columns[ref.profiles.columns.isin(adata.var_names)]
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
    column = adata.var_names.get_indexer(genes)
    fractions = np.full((adata.n_obs, len(profiles)), np.nan)
    residual = np.full(adata.n_obs, np.nan)
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
    table = pd.DataFrame(fractions, index=adata.obs_names.copy(), columns=list(profiles.index))
    n_empty = int(np.isnan(fractions[:, 0]).sum())
    if n_empty:
        warnings.warn(
            f"{n_empty} spots have no counts on the {len(genes)} deconvolution genes; their content is NaN.",
            InputWarning,
            stacklevel=2,
        )
    target = adata.copy() if copy else adata
    target.obsm[key_added] = table
    target.uns[key_added] = {
        "method": "NNLS on reference profiles (gene-scaled transcript shares -> cell fractions)",
        "reference": ref.source,
        "reference_cells": dict(ref.n_cells),
        "genes_used": list(map(str, genes)),
        "n_genes_reference": int(ref.profiles.shape[1]),
        "groups": {k: list(v) for k, v in ref.groups.items()},
        "median_residual": float(np.nanmedian(residual)) if np.isfinite(residual).any() else float("nan"),
    }
    return target if copy else None


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
