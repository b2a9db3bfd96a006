"""`tk.pp.check`: what the data are, and what is wrong with them, before anything is scored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit import signatures as library
from tmekit._arrays import array_type_name, get_matrix, iter_row_blocks
from tmekit._constants import LOGGER_NAME
from tmekit._genenames import detect_gene_id_type, detect_species, find_symbol_column
from tmekit._spatialdata import accepts_spatialdata
from tmekit._values import decide
from tmekit.pp._positions import check_positions
from tmekit.pp._problem import Problem

if TYPE_CHECKING:
    from anndata import AnnData

    from tmekit.signatures import Signature

__all__ = ["CheckReport", "Problem", "check", "detect_gene_id_type", "detect_species"]

logger = logging.getLogger(LOGGER_NAME)

ValueKind = Literal["raw_counts", "log_normalized", "normalized_unlogged", "scaled", "binary", "empty", "unknown"]

_SAMPLE_ROWS = 2_000


@dataclass
class CheckReport:
    """Result of :func:`tmekit.pp.check`. ``print(report)`` gives the readable summary."""

    n_obs: int
    n_vars: int
    source: str
    array_type: str
    value_kind: ValueKind
    value_detail: str
    min_value: float
    max_value: float
    n_nan: int
    n_inf: int
    n_negative: int
    n_empty_cells: int
    n_empty_genes: int
    duplicated_var_names: list[str]
    n_duplicated_obs_names: int
    gene_id_type: Literal["symbol", "ensembl", "mixed", "unknown"]
    species: Literal["human", "mouse", "mixed", "unknown"]
    symbol_column: str | None
    signature_overlap: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    coordinates: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing of severity ``"error"`` was found."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def codes(self) -> set[str]:
        """The codes of all problems found (e.g. ``{"raw_counts", "empty_cells"}``)."""
        return {p.code for p in self.problems}

    def __str__(self) -> str:
        ov = self.signature_overlap
        full = int((ov["fraction"] >= 1).sum()) if len(ov) else 0
        lines = [
            f"tmekit input check: {self.n_obs:,} cells x {self.n_vars:,} genes ({self.source}, {self.array_type})",
            f"  values:   {self.value_kind} - {self.value_detail}",
            f"  genes:    {self.gene_id_type} IDs, species {self.species}",
            f"  quality:  {self.n_nan} NaN, {self.n_inf} inf, {self.n_empty_cells} empty cells, "
            f"{self.n_empty_genes} all-zero genes, {len(self.duplicated_var_names)} duplicated gene names, "
            f"{self.n_duplicated_obs_names} duplicated cell names",
            f"  library:  {len(ov)} signatures, {full} fully covered, median coverage "
            f"{(ov['fraction'].median() if len(ov) else float('nan')):.0%}",
        ]
        if self.coordinates.get("key"):
            c = self.coordinates
            lines.append(
                f"  position: obsm[{c['key']!r}], {c['n_nan']} cells without coordinates, median spacing "
                f"{c['spacing']:.3g} units ({c['implied']})"
            )
        lines += [f"  {p}" for p in self.problems] or ["  no problems found"]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # noqa: FBT001 - IPython's protocol
        printer.text(str(self))


# ------------------------------------------------------------------------------ matrix statistics
@dataclass
class _Stats:
    n_vars: int
    n_nan: int = 0
    n_inf: int = 0
    n_negative: int = 0
    n_noninteger: int = 0
    n_finite: int = 0
    min_value: float = np.inf
    max_value: float = -np.inf
    empty_cells: int = 0
    col_nnz: np.ndarray = field(init=False)
    col_sum: np.ndarray = field(init=False)
    col_sumsq: np.ndarray = field(init=False)
    col_min: np.ndarray = field(init=False)
    expm1_row_sums: list[float] = field(default_factory=list)
    exp2_row_sums: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.col_nnz = np.zeros(self.n_vars, dtype=np.int64)
        self.col_sum = np.zeros(self.n_vars, dtype=np.float64)
        self.col_sumsq = np.zeros(self.n_vars, dtype=np.float64)
        self.col_min = np.full(self.n_vars, np.inf)

    def add(self, block: np.ndarray | sp.csr_matrix, sample_rows: np.ndarray) -> None:
        if sp.issparse(block):
            values = np.asarray(block.data, dtype=np.float64)
            rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            cols = block.indices
        else:
            dense = np.asarray(block, dtype=np.float64)
            rows, cols = np.nonzero(dense)
            values = dense[rows, cols]  # np.nonzero counts NaN as non-zero, so NaNs are in `values`
        finite = np.isfinite(values)
        self.n_nan += int(np.isnan(values).sum())
        self.n_inf += int(np.isinf(values).sum())
        fin = values[finite]
        self.n_finite += fin.size
        self.n_negative += int((fin < 0).sum())
        self.n_noninteger += int((fin != np.round(fin)).sum())
        if fin.size:
            self.min_value = min(self.min_value, float(fin.min()))
            self.max_value = max(self.max_value, float(fin.max()))
        nonzero = finite & (values != 0)
        row_has = np.bincount(rows[nonzero], minlength=block.shape[0])
        self.empty_cells += int((row_has == 0).sum())
        np.add.at(self.col_nnz, cols[nonzero], 1)
        clean = np.where(finite, values, 0.0)
        np.add.at(self.col_sum, cols, clean)
        np.add.at(self.col_sumsq, cols, clean * clean)
        np.minimum.at(self.col_min, cols[finite], values[finite])
        if sample_rows.size:
            in_sample = np.isin(rows, sample_rows)
            with np.errstate(over="ignore"):
                e1 = np.bincount(rows[in_sample], weights=np.expm1(clean[in_sample]), minlength=block.shape[0])
                e2 = np.bincount(rows[in_sample], weights=np.exp2(clean[in_sample]) - 1, minlength=block.shape[0])
            self.expm1_row_sums += e1[sample_rows].tolist()
            self.exp2_row_sums += e2[sample_rows].tolist()


def _constant(values: list[float]) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    if arr.size < 2:
        return None
    median = float(np.median(arr))
    return median if np.all(np.abs(arr - median) <= 1e-3 * median) else None


def _classify_values(st: _Stats, n_obs: int) -> tuple[ValueKind, str]:
    if st.n_finite == 0 and st.max_value == -np.inf:
        return "empty", "the matrix has no non-zero finite values"
    kind = decide(
        n_values=st.n_finite,
        n_nonfinite=0,
        n_negative=st.n_negative,
        n_noninteger=st.n_noninteger,
        high=st.max_value,
        floor_genes=int((st.col_min == st.min_value).sum()),
    )  # fmt: skip (NaN are reported on their own)
    if kind == "scaled":
        means = st.col_sum / max(n_obs, 1)
        sd = np.sqrt(np.maximum(st.col_sumsq / max(n_obs, 1) - means**2, 0))
        varying = sd > 0
        z_like = varying.any() and np.median(np.abs(means[varying])) < 0.1 and abs(np.median(sd[varying]) - 1) < 0.2
        what = "per-gene centred and scaled (z-scores" if z_like else "negative values without a shared floor (scaled"
        return "scaled", f"{what}; range {st.min_value:.3g} to {st.max_value:.3g})"
    if kind == "log_floor":
        target = _constant(st.exp2_row_sums)
        detail = f"log-scale values with negatives (range {st.min_value:.3g} to {st.max_value:.3g})"
        if target:
            detail += f"; 2^x - 1 sums to {target:.4g} per sample, i.e. log2(normalised + small offset)"
        return "log_normalized", detail
    if kind == "binary":
        return "binary", "values are 0/1 (e.g. marker positivity), not expression levels"
    if kind == "counts":
        return "raw_counts", f"all values are non-negative integers, max {st.max_value:.0f}"
    if kind == "linear":
        return "normalized_unlogged", (
            f"non-integer values up to {st.max_value:.4g}: normalised (e.g. CPM/TPM) but not log-transformed"
        )
    target = _constant(st.expm1_row_sums)
    if target:
        return (
            "log_normalized",
            f"log1p of counts normalised to {target:.4g} per cell (`sc.pp.normalize_total` + log1p)",
        )
    target2 = _constant(st.exp2_row_sums)
    if target2:
        return "log_normalized", f"log2(x + 1) of values normalised to {target2:.4g} per sample"
    return "log_normalized", f"non-negative, non-integer values up to {st.max_value:.3g}: log-scale expression"


# ------------------------------------------------------------------------------ signature overlap
def _overlap_table(var_names: pd.Index, signatures: list[Signature]) -> pd.DataFrame:
    present = set(var_names)
    rows = []
    for sig in signatures:
        found = [g for g in sig.genes if g in present]
        via_alias = [g for g in sig.genes if g not in present and any(a in present for a in sig.aliases.get(g, ()))]
        missing = [g for g in sig.genes if g not in present and g not in via_alias]
        rows.append(
            {
                "signature": sig.name,
                "category": sig.category,
                "n_genes": sig.n_genes,
                "n_found": len(found),
                "n_found_via_alias": len(via_alias),
                "fraction": (len(found) + len(via_alias)) / sig.n_genes,
                "missing": ",".join(missing),
            }
        )
    cols = ["signature", "category", "n_genes", "n_found", "n_found_via_alias", "fraction", "missing"]
    return pd.DataFrame(rows, columns=cols).set_index("signature")


# ------------------------------------------------------------------------------ the check
def _value_problems(kind: ValueKind, detail: str, st: _Stats, source: str) -> list[Problem]:
    problems = []
    if st.n_nan or st.n_inf:
        msg = (
            f"{source} contains {st.n_nan} NaN and {st.n_inf} infinite values; scores of the affected cells would be "
            "undefined. Find them with `np.isnan(X.data)` (sparse) or `np.isnan(X)` and replace them "
            "(e.g. with 0) or remove those cells before scoring."
        )
        problems.append(Problem("nan_values", "error", msg))
    if kind == "raw_counts":
        msg = (
            f"{source} holds raw counts ({detail}). `tk.tl.score(method='rank')` gives the same scores on counts, but "
            "method='mean' and most downstream analyses expect log-normalised expression: keep the counts and add a "
            "normalised layer, e.g. `adata.layers['counts'] = adata.X.copy(); sc.pp.normalize_total(adata, "
            "target_sum=1e4); sc.pp.log1p(adata)`, or pass `layer=` naming a log-normalised layer."
        )
        problems.append(Problem("raw_counts", "warning", msg))
    elif kind == "normalized_unlogged":
        msg = f"{source}: {detail}. Log-transform a copy before scoring: `sc.pp.log1p(adata)`."
        problems.append(Problem("not_log_transformed", "warning", msg))
    elif kind == "scaled":
        msg = (
            f"{source} is {detail}. Per-gene scaling makes every score depend on the other cells/samples in the "
            "object, and `tk.tl.score` refuses negative values. Score unscaled log-normalised data (e.g. `layer=` "
            "naming it, or `adata.raw`)."
        )
        problems.append(Problem("scaled_values", "warning", msg))
    elif kind == "log_normalized" and st.n_negative:
        msg = (
            f"{source} has {st.n_negative:,} negative values ({detail}). Cell scores (`tk.tl.score`) need "
            "non-negative expression (counts or log1p of normalised counts) and refuse these; bulk log2(x + small "
            "offset) values like these are fine for `tk.tl.classify(mode='expression')`."
        )
        problems.append(Problem("negative_values", "warning", msg))
    elif kind == "binary":
        problems.append(Problem("binary_values", "info", f"{source}: {detail}."))
    elif kind == "empty":
        problems.append(Problem("no_values", "error", f"{source}: {detail}. Nothing can be scored."))
    return problems


def _gene_problems(report_fields: dict[str, Any], var: pd.DataFrame) -> list[Problem]:
    problems = []
    id_type, species, symbol_col = (report_fields[k] for k in ("gene_id_type", "species", "symbol_column"))
    if id_type in {"ensembl", "mixed"}:
        fix = (
            f"Use the symbols in `adata.var[{symbol_col!r}]`: "
            f"`adata.var_names = adata.var[{symbol_col!r}].astype(str); adata.var_names_make_unique()` "
            "(on a copy if you need the IDs)."
            if symbol_col
            else "Map them to gene symbols (e.g. from the 10x features.tsv or Ensembl BioMart) and set "
            "`adata.var_names`."
        )
        what = "are Ensembl IDs" if id_type == "ensembl" else "mix Ensembl IDs and symbols"
        msg = f"`adata.var_names` {what} (e.g. {list(var.index[:2])}); tmekit signatures use gene symbols. {fix}"
        problems.append(Problem("ensembl_ids", "error", msg))
    if species == "mouse":
        msg = (
            f"Gene names look like mouse symbols (e.g. {list(var.index[:3])}). Scoring translates the human sets "
            "through orthologs by itself: `tk.tl.score(adata, signatures)` (species='auto'; logged and recorded in "
            "uns), or see one set with `tk.signatures.translation_table('ifng6_ayers2017')`. Mouse-specific sets: "
            "m2_macrophage_mouse_murray2011, mhc1_mouse_curated, mhc2_mouse_curated. Do not upper-case mouse names."
        )
        problems.append(Problem("mouse_symbols", "info", msg))
    elif species == "mixed":
        msg = (
            "Gene names mix human-style (CD8A) and mouse-style (Cd8a) symbols. Check that the object holds one "
            "species and that var_names were not partly upper-cased; if you know the species, score with "
            "`tk.tl.score(adata, signatures, species='mouse')` (or 'human')."
        )
        problems.append(Problem("mixed_species", "error", msg))
    return problems


@accepts_spatialdata
def check(
    adata: AnnData,
    *,
    layer: str | None = None,
    chunk_size: int | None = None,
    spatial_key: str = "spatial",
    library_key: str | None = None,
) -> CheckReport:
    """Inspect an AnnData before scoring: value type, gene IDs, species, bad values, signature coverage.

    Streams the matrix in row chunks (dense, sparse, backed or dask) and never modifies ``adata``.

    Parameters
    ----------
    adata
        The object to check (in memory or opened with ``backed="r"``).
    layer
        Check ``adata.layers[layer]`` instead of ``X``.
    chunk_size
        Rows per chunk (default: about 8 million stored values per chunk).
    spatial_key, library_key
        Positions in ``obsm[spatial_key]`` (when present) are checked too: cells without coordinates, and the
        median distance between neighbouring cells (within each sample of ``obs[library_key]``), which tells
        whether they are micrometres (segmented cells lie 4-15 um apart) or need ``microns_per_unit``.

    Returns
    -------
    A :class:`CheckReport`; ``print(report)`` shows it, ``report.problems`` lists each finding with
    what to do, ``report.signature_overlap`` gives found/total genes for every library signature.
    The summary is also logged to the ``"tmekit"`` logger.

    Examples
    --------
    >>> import tmekit as tk
    >>> report = tk.pp.check(tk.datasets.wu2021_cid4465())
    >>> report.value_kind
    'raw_counts'
    """
    no_matrix = layer is None and adata.X is None  # positions and cell types only (a MIBI/IMC cell table)
    X = None if no_matrix else get_matrix(adata, layer=layer)
    source = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    n_obs, n_vars = adata.n_obs, adata.n_vars
    st = _Stats(n_vars=n_vars)
    sample = np.unique(np.linspace(0, max(n_obs - 1, 0), num=min(n_obs, _SAMPLE_ROWS)).astype(np.int64))
    if n_obs and n_vars and X is not None:
        for start, stop, block in iter_row_blocks(X, chunk_size=chunk_size):
            local = sample[(sample >= start) & (sample < stop)] - start
            st.add(block, local)
    kind, detail = _classify_values(st, n_obs)
    var_names = pd.Index(adata.var_names.astype(str))
    gene_fields = {
        "gene_id_type": detect_gene_id_type(var_names.tolist()),
        "species": detect_species(var_names.tolist()),
        "symbol_column": find_symbol_column(adata.var),
    }
    dup_var = sorted(set(var_names[var_names.duplicated()]))
    n_dup_obs = int(pd.Index(adata.obs_names).duplicated().sum())
    problems = []
    if n_obs == 0 or (n_vars == 0 and not no_matrix):
        msg = f"The object is empty ({n_obs} cells x {n_vars} genes). Check the filtering that produced it."
        problems.append(Problem("empty_object", "error", msg))
    if no_matrix:
        kind, detail = "empty", "no expression matrix (X is None)"
        layers = f"; layers: {list(adata.layers)}" if adata.layers else ""
        msg = (
            f"The object has no expression matrix (X is None{layers}). Spatial calls from cell types and positions "
            "work without one; scoring needs expression values (`layer=` naming a layer that holds them)."
        )
        problems.append(Problem("no_matrix", "info", msg))
    else:
        problems += _value_problems(kind, detail, st, source)
    problems += _gene_problems(gene_fields, adata.var)
    if st.empty_cells:
        msg = (
            f"{st.empty_cells} of {n_obs} cells have no non-zero value in {source}; their scores carry no "
            "information. Remove them with `sc.pp.filter_cells(adata, min_genes=1)` (on a copy if needed)."
        )
        problems.append(Problem("empty_cells", "warning", msg))
    n_empty_genes = int((st.col_nnz == 0).sum())
    if n_empty_genes:
        msg = f"{n_empty_genes} of {n_vars} genes are zero in every cell (harmless; they score as not expressed)."
        problems.append(Problem("empty_genes", "info", msg))
    if dup_var:
        msg = (
            f"{len(dup_var)} gene names occur more than once (e.g. {dup_var[:3]}); a signature gene must name one "
            "column. Make them unique with `adata.var_names_make_unique()`."
        )
        problems.append(Problem("duplicated_genes", "warning", msg))
    if n_dup_obs:
        msg = f"{n_dup_obs} cell names occur more than once; fix with `adata.obs_names_make_unique()`."
        problems.append(Problem("duplicated_cells", "warning", msg))
    coordinates, position_problems = check_positions(adata, spatial_key=spatial_key, library_key=library_key)
    problems += position_problems
    overlap = _overlap_table(var_names, [library.get(name) for name in library.list().index])
    report = CheckReport(
        n_obs=n_obs,
        n_vars=n_vars,
        source=source,
        array_type="none" if X is None else array_type_name(X),
        value_kind=kind,
        value_detail=detail,
        min_value=float(st.min_value) if np.isfinite(st.min_value) else float("nan"),
        max_value=float(st.max_value) if np.isfinite(st.max_value) else float("nan"),
        n_nan=st.n_nan,
        n_inf=st.n_inf,
        n_negative=st.n_negative,
        n_empty_cells=st.empty_cells,
        n_empty_genes=n_empty_genes,
        duplicated_var_names=dup_var,
        n_duplicated_obs_names=n_dup_obs,
        signature_overlap=overlap,
        problems=problems,
        coordinates=coordinates,
        **gene_fields,
    )
    logger.info("%s", report)
    return report
