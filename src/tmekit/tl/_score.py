"""`tk.tl.score`: signature scores for every cell, streamed over row chunks of any array type."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from tmekit import _kernels
from tmekit._arrays import array_type_name, default_chunk_size, get_matrix, iter_row_blocks, to_block
from tmekit._constants import LOGGER_NAME, SCORES_KEY
from tmekit._genenames import sets_in_species
from tmekit._progress import advance
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._values import block_kind, value_kind
from tmekit._version import __version__
from tmekit._warnings import WeightsDroppedWarning
from tmekit.signatures import resolve
from tmekit.tl._genes import MatchedSignature, match_signatures
from tmekit.tl._methods import METHODS, ScoringContext, ScoringMethod

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from anndata import AnnData

    from tmekit.signatures import Signature

__all__ = ["compute_scores", "score"]

logger = logging.getLogger(LOGGER_NAME)
_BLOCKS_PER_THREAD = 4
_CHECK_BLOCKS = 8  # blocks of the one-pass NaN / minimum check of each chunk
_VALUE_CHECK_ROWS = 1_000


def _seed(rng: np.random.Generator | int | None) -> int:
    if rng is None:
        return 0
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**62))
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return int(rng)
    msg = f"`rng` must be None, an int seed or a numpy.random.Generator; got {type(rng).__name__}."
    raise TypeError(msg)


def _clean_block(block: np.ndarray | sp.csr_matrix, start: int, source: str) -> sp.csr_matrix:
    csr = sp.csr_matrix(block, dtype=np.float64) if not sp.issparse(block) else block
    bad, lowest = _kernels.nonfinite_and_min(csr.data, _CHECK_BLOCKS)
    if bad:
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[~np.isfinite(csr.data)]
        msg = (
            f"{source} contains {bad} NaN/infinite values (first in cell {start + int(rows[0])}). Scores would be "
            "undefined: replace them (e.g. with 0) or remove those cells; `tk.pp.check(adata)` lists them."
        )
        raise ValueError(msg)
    if lowest < 0 and value_kind(csr.data, csr.indices) == "scaled":
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        cell = start + int(rows[int(np.argmax(csr.data < 0))])
        msg = (
            f"{source} has negative values ({csr.data.min():.3g} at the lowest; first in cell {cell}): expression "
            "levels cannot be negative. Scaled or centred data (`sc.pp.scale` output, z-scores, "
            "residuals) would be scored as if they were expression, and their scores depend on the other cells. Score "
            "the log-normalised values or the counts instead: `layer=` naming them (e.g. `layer='counts'`), or "
            "`adata.raw.to_adata()` if `sc.pp.scale` replaced X (next time keep them first: "
            "`adata.layers['log1p'] = adata.X.copy()`). Log values with an offset below 1, such as log2(TPM + 0.001), "
            "are accepted: their zeros pile up at one floor value."
        )
        raise ValueError(msg)
    return csr


def _matrix_max(X: Any) -> float:
    """Largest finite value of the whole matrix, streamed over row chunks."""
    top = -np.inf
    for _, _, block in iter_row_blocks(X):
        values = block.data if sp.issparse(block) else np.asarray(block).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            top = max(top, float(values.max()))
    return top


def _check_log_data(X: Any, method: ScoringMethod, source: str) -> None:
    if not method.needs_log_data:
        return
    _, _, block = next(iter_row_blocks(X, chunk_size=min(_VALUE_CHECK_ROWS, X.shape[0])))
    if block_kind(block) == "counts":
        top = _matrix_max(X)  # only on the way to an error: the message quotes the true maximum
        msg = (
            f"{source} looks like raw counts (its first {min(_VALUE_CHECK_ROWS, X.shape[0]):,} cells hold only "
            f"non-negative integers; the maximum is {top:.0f}); method "
            f"{method.name!r} expects log-normalised expression. Normalise first, keeping the counts: "
            "`adata.layers['counts'] = adata.X.copy(); sc.pp.normalize_total(adata, target_sum=1e4); "
            "sc.pp.log1p(adata)`, or pass `layer=` naming a log-normalised layer. (method='rank' works on counts.)"
        )
        raise ValueError(msg)


def _provenance(
    method: ScoringMethod,
    matched: list[MatchedSignature],
    state: Any,
    *,
    params: dict[str, Any],
    array_type: str,
) -> dict[str, Any]:
    per_sig = {}
    for m in matched:
        sig = m.signature
        entry = {
            "n_genes": sig.n_genes,
            "n_found": len(m.used),
            "genes_used": list(m.used),
            "columns_used": list(m.columns),
            "genes_missing": list(m.missing),
            "aliases_used": [f"{g}->{c}" for g, c in m.via_alias.items()],
            "weights_used": bool(sig.is_weighted and method.supports_weights),
            "version": sig.version,
            "sha256": sig.sha256,
            "citation": sig.citation,
            "doi": sig.doi,
            "pmid": sig.pmid,
        }
        if isinstance(state, dict) and "controls" in state:
            entry["control_genes"] = state["controls"][sig.name]
        per_sig[sig.name] = entry
    return {
        "method": method.name,
        "method_description": method.description,
        "method_citation": method.citation,
        "cell_independent": method.cell_independent,
        "params": params,
        "array_type": array_type,
        "dtype": "float64",
        "signatures": per_sig,
        "tmekit_version": __version__,
    }


@accepts_spatialdata
@all_or_nothing
def score(
    adata: AnnData,
    signatures: str | Signature | Mapping[str, Any] | Sequence[str | Signature] | Path,
    *,
    method: str = "rank",
    layer: str | None = None,
    max_rank: int = 1500,
    chunk_size: int | None = None,
    min_overlap: float = 0.5,
    key_added: str = SCORES_KEY,
    overwrite: bool = False,
    n_jobs: int | None = None,
    rng: np.random.Generator | int | None = None,
    copy: bool = False,
    ctrl_size: int = 50,
    n_bins: int = 25,
    control_genes: Mapping[str, Sequence[str]] | None = None,
    use_aliases: bool = True,
    lazy: bool = False,
    species: str = "auto",
) -> AnnData | None:
    """Score every cell (or spot, or sample) with gene signatures.

    Streams the matrix in row chunks (numpy, scipy CSR/CSC, backed ``.h5ad``, dask) without ever
    densifying it, and gives identical results for every array type and chunk size.

    Parameters
    ----------
    adata
        Cells x genes. ``var_names`` must be gene symbols.
    signatures
        Library names (``"ifng6_ayers2017"``, or a module name such as ``"Hypoxia"``),
        :class:`~tmekit.signatures.Signature` objects, a dict ``{name: [genes]}`` or
        ``{name: {"up": [...], "down": [...], "weights": {...}}}``, or a path to a ``.gmt`` file.
    method
        ``"rank"`` (default): UCell's rank statistic; a cell's score depends on that cell only,
        and it works on counts or normalised data alike. ``"mean"``: scanpy ``score_genes``'
        mean-minus-controls on log-normalised data; control bins come from gene means over all
        cells in the object, so scores depend on the other cells. ``tk.tl.score_methods()``
        lists them.
    layer
        Score ``adata.layers[layer]`` instead of ``X``.
    max_rank
        ``rank``: ranks above this count as ``max_rank`` (UCell's ``maxRank``). Use about the number
        of genes detected per cell; for small targeted panels it can exceed the panel size.
    chunk_size
        Rows per chunk (default: about 8 million stored values per chunk). Never changes results.
    min_overlap
        Share of each signature's genes that must be found in ``var_names`` (directly or through the
        library's aliases of renamed genes). Below it, the call raises; above it, missing genes give
        a :class:`~tmekit.MissingGenesWarning` and are recorded.
    key_added
        Results go to ``adata.obsm[key_added]`` and ``adata.uns[key_added]``.
    overwrite
        Replace existing results under ``key_added``.
    n_jobs
        Threads for the compiled kernels (default: all cores). Never changes results.
    rng
        ``mean``: seed or generator for the control-gene draw (default seed 0, so runs repeat).
        Each signature's draw depends only on the seed and its name.
    copy
        Return a new AnnData with the results instead of writing into ``adata``.
    ctrl_size, n_bins
        ``mean``: control genes per expression bin and number of bins (scanpy's defaults).
    control_genes
        ``mean``: fixed control genes per signature name (e.g. to reproduce another tool's draw);
        they must not include the signature's own genes.
    use_aliases
        Match genes whose data use a previous symbol (e.g. ``CTGF`` for ``CCN2``).
    species
        Species of the data: ``"auto"`` (detected from the gene names, as :func:`tmekit.pp.check` does),
        ``"human"`` or ``"mouse"``. Signatures of the other species (the library is human, apart from its
        ``*_mouse`` sets) are translated through well-supported orthologs
        (:func:`tmekit.signatures.translate`: no guessing by case; genes without an ortholog reported);
        the translation is logged and recorded per signature in ``uns[key_added]["translations"]``.
        Gene names that mix human and mouse styles are an error.
    lazy
        Only for a dask ``X``: leave the scores as a dask array (one task per row chunk) in
        ``obsm[key_added]`` instead of computing them; ``.compute()`` (on a ``dask.distributed``
        cluster if one is active) gives exactly the eager scores, in ``uns[key_added]["signatures"]``
        order. ``mean`` still reads the whole matrix once, eagerly, for its gene means (control bins).

    Returns
    -------
    ``None``, or the new object when ``copy=True``. Writes

    - ``obsm[key_added]``: DataFrame, cells x signatures, float64;
    - ``uns[key_added]``: method, parameters, per-signature genes used / missing / resolved via
      alias, control genes (``mean``), versions, hashes, citations, tmekit version.

    Examples
    --------
    >>> import scanpy as sc, tmekit as tk
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.score(adata, ["ifng6_ayers2017", "hypoxia_buffa2010"])
    >>> adata.obsm["tmekit_scores"].columns.tolist()
    ['ifng6_ayers2017', 'hypoxia_buffa2010']
    """
    if not overwrite and (key_added in adata.obsm or key_added in adata.uns):
        msg = (
            f"`adata.obsm[{key_added!r}]` or `adata.uns[{key_added!r}]` already exists. Pass `overwrite=True` to "
            "replace it, or `key_added=` to keep both."
        )
        raise ValueError(msg)
    if copy and adata.isbacked:
        msg = (
            "`copy=True` is not possible on a backed object; use `copy=False` (scores go to obsm/uns, X stays on disk)."
        )
        raise ValueError(msg)
    scores, provenance = compute_scores(
        adata, signatures, method=method, layer=layer, max_rank=max_rank, chunk_size=chunk_size,
        min_overlap=min_overlap, n_jobs=n_jobs, rng=rng, ctrl_size=ctrl_size, n_bins=n_bins,
        control_genes=control_genes, use_aliases=use_aliases, lazy=lazy, species=species,
    )  # fmt: skip
    target = adata.copy() if copy else adata
    target.obsm[key_added] = scores
    target.uns[key_added] = provenance
    logger.info("scored %d signatures on %d cells with method %r", scores.shape[1], adata.n_obs, method)
    return target if copy else None


def compute_scores(
    adata: AnnData,
    signatures: str | Signature | Mapping[str, Any] | Sequence[str | Signature] | Path,
    *,
    method: str = "rank",
    layer: str | None = None,
    max_rank: int = 1500,
    chunk_size: int | None = None,
    min_overlap: float = 0.5,
    n_jobs: int | None = None,
    rng: np.random.Generator | int | None = None,
    ctrl_size: int = 50,
    n_bins: int = 25,
    control_genes: Mapping[str, Sequence[str]] | None = None,
    use_aliases: bool = True,
    lazy: bool = False,
    species: str = "auto",
) -> tuple[Any, dict[str, Any]]:
    """The scores (cells x signatures DataFrame, or a dask array with ``lazy``) and their provenance, unwritten.

    :func:`score` without touching ``adata`` (also backed ones): for callers that use scores without keeping them.
    """
    if method not in METHODS:
        msg = f"Unknown scoring method {method!r}. Available: {sorted(METHODS)}."
        raise ValueError(msg)
    spec = METHODS[method]
    sigs = resolve(signatures)
    if not isinstance(max_rank, int | np.integer) or max_rank < 1:
        msg = f"`max_rank` must be a positive integer, got {max_rank!r}."
        raise ValueError(msg)
    X = get_matrix(adata, layer=layer)
    source = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    if lazy and not type(X).__module__.startswith("dask"):
        msg = f"`lazy=True` needs a dask array as {source} (got {array_type_name(X)}); drop it to score eagerly."
        raise TypeError(msg)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = f"Cannot score an empty object ({adata.n_obs} cells x {adata.n_vars} genes)."
        raise ValueError(msg)
    n_threads = numba.config.NUMBA_NUM_THREADS if n_jobs is None else int(n_jobs)
    if not 1 <= n_threads <= numba.config.NUMBA_NUM_THREADS:
        msg = (
            f"`n_jobs` must be between 1 and {numba.config.NUMBA_NUM_THREADS} (the cores numba can use), got {n_jobs}."
        )
        raise ValueError(msg)
    sigs, translations = sets_in_species(sigs, pd.Index(adata.var_names), species=species, min_overlap=min_overlap)
    matched = match_signatures(sigs, pd.Index(adata.var_names), min_overlap=min_overlap, use_aliases=use_aliases)
    weighted = [s.name for s in sigs if s.is_weighted]
    if weighted and not spec.supports_weights:
        msg = f"Method {method!r} cannot use per-gene weights; {weighted} are scored by their genes only."
        warnings.warn(msg, WeightsDroppedWarning, stacklevel=3)
    _check_log_data(X, spec, source)
    size = default_chunk_size(X) if chunk_size is None else int(chunk_size)
    ctx = ScoringContext(
        X=X, var_names=pd.Index(adata.var_names), matched=matched, chunk_size=size, max_rank=int(max_rank),
        ctrl_size=int(ctrl_size), n_bins=int(n_bins), seed=_seed(rng), control_genes=control_genes,
    )  # fmt: skip
    state = spec.prepare(ctx)
    if lazy:
        scores = _lazy_scores(X, spec, state, source=source, n_threads=n_threads, n_sigs=len(sigs))
    else:
        scores = _eager_scores(X, spec, state, source=source, n_threads=n_threads, n_sigs=len(sigs), size=size)
    params = {"layer": "X" if layer is None else layer, "chunk_size": size, "min_overlap": float(min_overlap)}
    params["use_aliases"] = bool(use_aliases)
    if method == "rank":
        params["max_rank"] = int(max_rank)
    else:
        params.update(
            ctrl_size=int(ctrl_size), n_bins=int(n_bins), seed=ctx.seed, controls_given=control_genes is not None
        )
    if not lazy:
        scores = pd.DataFrame(scores, index=adata.obs_names.copy(), columns=[s.name for s in sigs])
    provenance = _provenance(spec, matched, state, params=params, array_type=array_type_name(X))
    provenance["translations"] = translations
    return scores, provenance


def _score_chunk(spec: ScoringMethod, state: Any, block: Any, start: int, *, source: str, n_threads: int) -> np.ndarray:
    """One row chunk's scores: the single kernel call both the eager and the lazy path use."""
    csr = _clean_block(to_block(block), start, source)  # rows in any index order: the kernels do not sort
    return spec.compute(state, csr, n_threads * _BLOCKS_PER_THREAD)


def _eager_scores(
    X: Any, spec: ScoringMethod, state: Any, *, source: str, n_threads: int, n_sigs: int, size: int
) -> np.ndarray:
    """Scores of every row chunk, computed now with ``n_threads`` numba threads."""
    out = np.empty((X.shape[0], n_sigs), dtype=np.float64)
    previous_threads = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        for start, stop, block in iter_row_blocks(X, chunk_size=size, reuse_buffers=True):
            out[start:stop] = _score_chunk(spec, state, block, start, source=source, n_threads=n_threads)
            advance("scoring cells", stop, X.shape[0])
    finally:
        numba.set_num_threads(previous_threads)
    return out


def _lazy_scores(X: Any, spec: ScoringMethod, state: Any, *, source: str, n_threads: int, n_sigs: int) -> Any:
    """Scores as a dask array: the same per-chunk kernel as the eager path, one task per row chunk."""
    rows = X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X  # a row chunk must hold all genes

    def one_chunk(block: Any, block_info: dict | None = None) -> np.ndarray:
        start = block_info[0]["array-location"][0][0] if block_info else 0
        return _score_chunk(spec, state, block, start, source=source, n_threads=n_threads)

    return rows.map_blocks(one_chunk, dtype=np.float64, chunks=(rows.chunks[0], (n_sigs,)), meta=np.empty((0, 0)))


def score_methods() -> pd.DataFrame:
    """Table of the scoring methods: description, citation, cell independence, what each supports.

    Returns
    -------
    DataFrame indexed by method (``rank``, ``mean``) with ``cell_independent``, ``supports_down``,
    ``supports_weights``, ``needs_log_data``, ``description`` and ``citation``.

    Examples
    --------
    >>> methods = tk.tl.score_methods()
    >>> methods["cell_independent"].to_dict()
    {'rank': True, 'mean': False}
    """
    rows = [
        {
            "method": m.name,
            "cell_independent": m.cell_independent,
            "supports_down": m.supports_down,
            "supports_weights": m.supports_weights,
            "needs_log_data": m.needs_log_data,
            "description": m.description,
            "citation": m.citation,
        }
        for m in METHODS.values()
    ]
    return pd.DataFrame(rows).set_index("method")
