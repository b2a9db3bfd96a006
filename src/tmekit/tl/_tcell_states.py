"""`tk.tl.tcell_states`: progenitor vs terminally exhausted, effector/memory and CXCL13+ CD8 T cells, per sample.

The reviews tie response to anti-PD-1 to T-cell *states*: it acts mainly on progenitor-exhausted CD8 T cells
(PD-1+ TIM-3- TCF-1+), hypoxia pushes them into terminal exhaustion (PD-1+ TIM-3+), and CXCL13 / CCR5 mark the
clonally expanded tumour-reactive ones (Sade-Feldman et al., Cell 2018: the ratio of TCF7+ memory-like to
exhausted CD8 T cells predicts response).

**RNA** (counts or log; the rule is the same): each CD8 T cell is scored (``rank``, UCell: a cell's score
depends on that cell only, and on several genes, so one dropout does not flip it) on four shipped programmes:
exhausted (``exhausted_andreatta2022``: TOX, PDCD1, LAG3, TIGIT, HAVCR2; shared by progenitor and terminal
cells), terminal (``tex_andreatta2022``: HAVCR2, LAYN, LAG3, GZMB, ENTPD1), stemness
(``stemness_andreatta2022``: LEF1, CCR7, TCF7, SELL) and memory-like (``cd8_g_sadefeldman2018``: IL7R, TCF7,
...). A programme is *on* at a score of ``min_score`` (0.15) or more. Then:

- **progenitor exhausted**: exhausted on, stemness on and above the terminal score;
- **terminal exhausted**: exhausted on otherwise;
- **effector/memory**: exhausted off, stemness or memory-like on (TCF7 / IL7R without PD-1);
- **other**: the rest.

0.15 lies between the programme levels of resting and exhausted T cells in Sade-Feldman's clusters (memory
cells: exhausted 0.05, stemness 0.44; exhausted clusters: exhausted 0.43, stemness 0.04); it is a parameter.
**CXCL13+** (and CXCL13+ CCR5+) is flagged separately: CXCL13 detected in the cell (> 0). A single gene drops
out, so the share is a lower bound.

**Protein panels** (``markers={"PD-1": ..., "TIM-3": ..., "TCF1": ...}``, optional ``"CD39"``, ``"CXCL13"``,
``"CCR5"``; obs booleans / intensities or channels of ``X``, positivity as in ``tmekit._markers``): PD-1+ TIM-3-
TCF1+ progenitor; PD-1+ with TIM-3+ (or CD39+) terminal; PD-1- TCF1+ effector/memory; the rest other.

Per sample: ``n_cd8``, the count and share of each state, ``frac_cxcl13``, ``frac_cxcl13_ccr5``,
``progenitor_terminal_ratio`` (progenitor / terminal), ``memory_exhausted_ratio`` (effector/memory /
(progenitor + terminal), Sade-Feldman's TCF7+ memory-like vs exhausted), and the mean hypoxia score
(``hypoxia_buffa2010``) of the sample's tumour cells when ``tumor_labels`` are given. Below ``min_cd8_cells``
(10) CD8 T cells a sample is ``indeterminate``: shares and ratios NaN (one cell would be 10%).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import TCELL_STATES_KEY
from tmekit._genenames import data_species, mouse_orthologs, sets_in_species
from tmekit._markers import describe_marker, marker_status
from tmekit._obs import check_roles, label_mask, samples
from tmekit._roles import roles
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._warnings import MissingGenesWarning
from tmekit.signatures import get as get_signature
from tmekit.tl._score import compute_scores

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData

__all__ = ["PROGRAMMES", "STATES", "state_rule", "tcell_states"]

STATES = ("progenitor_exhausted", "terminal_exhausted", "effector_memory", "other")
#: The programme each state rule reads (library signatures).
PROGRAMMES = {
    "exhausted": "exhausted_andreatta2022",
    "terminal": "tex_andreatta2022",
    "stemness": "stemness_andreatta2022",
    "memory": "cd8_g_sadefeldman2018",
}
HYPOXIA = "hypoxia_buffa2010"
PROTEIN_MARKERS = ("PD-1", "TIM-3", "TCF1", "CD39", "CXCL13", "CCR5")


#: Share of a programme's genes the data must measure for it to be scored.
MIN_PROGRAMME_OVERLAP = 0.5


def _check_programmes(adata: AnnData) -> None:
    """Raise, naming what is measured, when a programme has fewer than half its genes (a targeted panel)."""
    sigs = [get_signature(name) for name in PROGRAMMES.values()]
    sigs, _ = sets_in_species(sigs, adata.var_names, species="auto", min_overlap=0.1, skip_untranslatable=True)
    names = set(map(str, adata.var_names))
    short = {}
    for role, sig in zip(PROGRAMMES, sigs, strict=True):
        found = [g for g in sig.genes if g in names or any(a in names for a in sig.aliases.get(g, ()))]
        if len(found) < MIN_PROGRAMME_OVERLAP * len(sig.genes):
            short[role] = f"{sig.name} {len(found)}/{len(sig.genes)} (missing {sorted(set(sig.genes) - set(found))})"
    if short:
        msg = (
            f"T-cell states need at least {MIN_PROGRAMME_OVERLAP:.0%} of each programme's genes, and this object "
            f"({adata.n_vars} genes: a targeted panel?) measures too few for {list(short)}: "
            f"{'; '.join(short.values())}. "
            "With protein (or per-cell marker) calls give them as `markers={'PD-1': ..., 'TIM-3': ..., 'TCF1': ...}`; "
            "RNA panels without these genes cannot separate the states."
        )
        raise ValueError(msg)


def _rna_states(adata: AnnData, layer: str | None, min_score: float, max_rank: int) -> tuple[np.ndarray, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingGenesWarning)  # coverage is recorded in the scores' provenance
        scores, _ = compute_scores(adata, list(PROGRAMMES.values()), layer=layer, max_rank=max_rank, min_overlap=0.5)
    scores.columns = list(PROGRAMMES)
    return state_rule(scores, min_score), scores


def state_rule(scores: pd.DataFrame, min_score: float) -> np.ndarray:
    """Each cell's state from its programme scores (columns ``exhausted``, ``terminal``, ``stemness``, ``memory``).

    A programme is on at ``min_score`` or more. Progenitor exhausted: exhausted on, stemness on and above the
    terminal score; terminal exhausted: exhausted on otherwise; effector/memory: exhausted off, stemness or
    memory-like on; other: the rest.
    """
    on = scores >= min_score
    progenitor = on["exhausted"] & on["stemness"] & (scores["stemness"] > scores["terminal"])
    state = np.select(
        [progenitor, on["exhausted"], on["stemness"] | on["memory"]],
        ["progenitor_exhausted", "terminal_exhausted", "effector_memory"],
        "other",
    )
    return state.astype(object)


def _protein_states(adata: AnnData, markers: Mapping[str, str], thresholds: Mapping[str, float]) -> tuple[
    np.ndarray, pd.DataFrame, dict[str, str]]:  # fmt: skip
    unknown = sorted(set(markers) - set(PROTEIN_MARKERS))
    missing = [m for m in ("PD-1", "TIM-3", "TCF1") if m not in markers]
    if unknown or missing:
        msg = (
            f"`markers` needs PD-1, TIM-3 and TCF1 (optional CD39, CXCL13, CCR5) -> obs column or channel; "
            f"missing {missing}, unknown {unknown}."
        )
        raise ValueError(msg)
    status = {m: marker_status(adata, key, threshold=thresholds.get(m), what=m,
                               hint=f"`marker_thresholds={{{m!r}: ...}}`") for m, key in markers.items()}  # fmt: skip
    rules = {m: describe_marker(adata, key, threshold=thresholds.get(m), what=m) for m, key in markers.items()}
    pos = {m: v == 1 for m, v in status.items()}
    terminal = pos["PD-1"] & (pos["TIM-3"] | pos.get("CD39", np.zeros(adata.n_obs, dtype=bool)))
    progenitor = pos["PD-1"] & ~terminal & (status["TIM-3"] == 0) & pos["TCF1"]
    memory = (status["PD-1"] == 0) & pos["TCF1"]
    state = np.select([progenitor, terminal, memory], ["progenitor_exhausted", "terminal_exhausted",
                                                       "effector_memory"], "other")  # fmt: skip
    return state.astype(object), pd.DataFrame(status, index=adata.obs_names), rules


def _gene_in(adata: AnnData, gene: str) -> str | None:
    """The var name holding human ``gene`` in this object (itself, or its mouse ortholog in mouse data), or None."""
    if gene in adata.var_names:
        return gene
    if data_species(adata.var_names, "auto") == "mouse":
        mouse = mouse_orthologs([gene]).get(gene)
        return mouse if mouse in adata.var_names else None
    return None


def _detected(adata: AnnData, gene: str | None, layer: str | None) -> np.ndarray:
    """Whether ``gene`` is detected (> 0) in each cell; NaN for every cell when the object does not measure it."""
    if gene is None:
        return np.full(adata.n_obs, np.nan)
    values = (adata.layers[layer] if layer else adata.X)[:, adata.var_names.get_loc(gene)]
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    return (np.asarray(values, dtype=float).ravel() > 0).astype(float)


def _hypoxia(adata: AnnData, tumour: np.ndarray, layer: str | None, max_rank: int) -> np.ndarray:
    out = np.full(adata.n_obs, np.nan)
    if tumour.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingGenesWarning)
            scores, _ = compute_scores(adata[tumour], HYPOXIA, layer=layer, max_rank=max_rank, min_overlap=0.3)
        out[tumour] = scores.iloc[:, 0].to_numpy()
    return out


def _share(k: int, n: int, *, thin: bool) -> float:
    return np.nan if thin else k / n


def _flag_share(flags: np.ndarray, *, thin: bool) -> float:
    """The share of cells flagged (1.0) among those whose flag is known; NaN when none is or the sample is thin."""
    known = flags[np.isfinite(flags)]
    return np.nan if thin or not known.size else float(known.mean())


def _table(cells: Mapping[str, np.ndarray], groups: list[tuple[str, np.ndarray]], min_cd8: int) -> pd.DataFrame:
    """Per sample, from ``cells`` = state, cd8, cxcl13, ccr5 and hypoxia per cell."""
    state, cd8, cxcl13, ccr5, hypoxia = (cells[k] for k in ("state", "cd8", "cxcl13", "ccr5", "hypoxia"))
    rows = {}
    for name, idx in groups:
        mine = idx[cd8[idx]]
        n = len(mine)
        counts = {s: int((state[mine] == s).sum()) for s in STATES}
        thin = n < min_cd8

        def share(k: int, n: int = n, *, thin: bool = thin) -> float:
            return _share(k, n, thin=thin)

        prog, term, mem = counts["progenitor_exhausted"], counts["terminal_exhausted"], counts["effector_memory"]
        rows[name] = {
            "n_cells": len(idx), "n_cd8": n, **{f"n_{s}": counts[s] for s in STATES},
            **{f"frac_{s}": share(counts[s]) for s in STATES},
            "frac_cxcl13": _flag_share(cxcl13[mine], thin=thin),
            "frac_cxcl13_ccr5": _flag_share(cxcl13[mine] * ccr5[mine], thin=thin),
            "progenitor_terminal_ratio": np.nan if thin or term == 0 else prog / term,
            "memory_exhausted_ratio": np.nan if thin or prog + term == 0 else mem / (prog + term),
            "n_tumor": int(np.isfinite(hypoxia[idx]).sum()),
            "hypoxia_tumor": float(np.nanmean(hypoxia[idx])) if np.isfinite(hypoxia[idx]).any() else np.nan,
            "status": "indeterminate" if thin else "ok",
            "reason": f"only {n} CD8 T cells (< min_cd8_cells={min_cd8})" if thin else "",
        }  # fmt: skip
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sample"
    return table


@accepts_spatialdata
@all_or_nothing
def tcell_states(
    adata: AnnData,
    *,
    library_key: str | None = None,
    cell_types: Mapping[str, Any] | None = None,
    layer: str | None = None,
    markers: Mapping[str, str] | None = None,
    marker_thresholds: Mapping[str, float] | None = None,
    min_score: float = 0.15,
    min_cd8_cells: int = 10,
    max_rank: int | None = None,
    key_added: str = TCELL_STATES_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """CD8 T-cell states per cell and their shares per sample (the module notes give every rule).

    Parameters
    ----------
    adata
        Cells: scRNA-seq or spatial RNA (counts or log), or a protein panel with ``markers``.
    library_key
        ``obs`` column of samples (``None``: one sample). A sample's table depends on its own cells only.
    cell_types
        Which cells are CD8 T cells (``key`` and ``cd8``) and tumour cells (``tumor``: their mean hypoxia score is
        reported per sample), as declared with :func:`tmekit.pp.cell_types` or by :func:`tmekit.tl.annotate` (its
        ``"CD8 T"`` label); this mapping changes entries for this call only.
    layer
        Expression layer (RNA); default ``X``.
    markers, marker_thresholds
        Protein panels: ``{"PD-1": key, "TIM-3": key, "TCF1": key}`` (plus optional ``"CD39"``, ``"CXCL13"``,
        ``"CCR5"``), each an ``obs`` column or a channel of ``X``; thresholds for continuous intensities.
    min_score
        RNA: the score at which a programme is on.
    min_cd8_cells
        Smallest number of CD8 T cells a sample needs; fewer: ``indeterminate``, NaN shares and ratios.
    max_rank
        UCell ``max_rank`` (default ``min(1500, n_vars)``).
    key_added, overwrite, copy
        ``obs[key_added]`` gets each CD8 T cell's state (NaN for other cells), ``obs[key_added + "_cxcl13"]``
        the CXCL13+ flag, ``obsm[key_added + "_scores"]`` the programme scores or marker statuses and
        ``uns[key_added]`` ``{"table", "params"}`` (:func:`tmekit.get.tcell_states`); replace existing
        results; return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.
    """
    taken = [f"obs[{k!r}]" for k in (key_added, f"{key_added}_cxcl13") if k in adata.obs]
    taken += [f"obsm[{k!r}]" for k in (f"{key_added}_scores",) if k in adata.obsm]
    taken += [f"uns[{key_added!r}]"] if key_added in adata.uns else []
    if taken and not overwrite:
        msg = f"`adata` has {taken}. Pass `overwrite=True` to replace them, or `key_added=` to write beside them."
        raise ValueError(msg)
    given = roles(adata, cell_types, need=("key", "cd8"))
    cell_type_key, cd8_labels, tumor_labels = str(given.key), given.cd8, given.tumor or None
    if not isinstance(min_cd8_cells, int | np.integer) or min_cd8_cells < 1:
        msg = f"`min_cd8_cells` must be a positive integer, got {min_cd8_cells!r}."
        raise ValueError(msg)
    cd8 = label_mask(adata, cell_type_key=cell_type_key, labels=cd8_labels, what="cd8")
    tumour = (label_mask(adata, cell_type_key=cell_type_key, labels=tumor_labels, what="tumor") if tumor_labels
              else np.zeros(adata.n_obs, dtype=bool))  # fmt: skip
    check_roles(tumor=tumor_labels, cd8=cd8_labels)
    rank_limit = int(min(1500, adata.n_vars)) if max_rank is None else int(max_rank)
    state = np.full(adata.n_obs, None, dtype=object)
    rules: dict[str, str] = {}
    genes = {"CXCL13": None, "CCR5": None}
    if markers is not None:
        call, evidence, rules = _protein_states(adata[cd8], markers, dict(marker_thresholds or {}))
        flags = {m: evidence[m].to_numpy(float) if m in evidence else np.full(int(cd8.sum()), np.nan)
                 for m in ("CXCL13", "CCR5")}  # fmt: skip
        hypoxia = np.full(adata.n_obs, np.nan)
        mode = "protein"
    else:
        _check_programmes(adata)
        if cd8.any():
            call, evidence = _rna_states(adata[cd8], layer, min_score, rank_limit)
        else:  # no CD8 T cell: nothing to score; every sample is indeterminate (0 CD8 T cells)
            call, evidence = np.empty(0, dtype=object), pd.DataFrame(columns=list(PROGRAMMES), dtype=float)
        genes = {m: _gene_in(adata, m) for m in genes}
        flags = {m: _detected(adata[cd8], gene, layer) for m, gene in genes.items()}
        hypoxia = _hypoxia(adata, tumour, layer, rank_limit) if tumour.any() else np.full(adata.n_obs, np.nan)
        mode = "rna"
    state[cd8] = call
    cxcl13, ccr5 = np.full(adata.n_obs, np.nan), np.full(adata.n_obs, np.nan)
    cxcl13[cd8], ccr5[cd8] = flags["CXCL13"], flags["CCR5"]
    cells = {"state": state, "cd8": cd8, "cxcl13": cxcl13, "ccr5": ccr5, "hypoxia": hypoxia}
    table = _table(cells, list(samples(adata, library_key=library_key)), min_cd8_cells)
    target = adata.copy() if copy else adata
    target.obs[key_added] = pd.Categorical(state, categories=list(STATES))
    target.obs[f"{key_added}_cxcl13"] = pd.array(
        np.where(cd8 & np.isfinite(cxcl13), cxcl13 == 1, pd.NA), dtype="boolean"
    )
    full = pd.DataFrame(np.nan, index=target.obs_names, columns=evidence.columns)
    full.loc[target.obs_names[cd8]] = evidence.to_numpy(dtype=float)
    target.obsm[f"{key_added}_scores"] = full
    params: dict[str, Any] = {
        "mode": mode, "library_key": library_key or "", "cell_type_key": cell_type_key,
        "cd8_labels": [cd8_labels] if isinstance(cd8_labels, str) else list(cd8_labels or []),
        "tumor_labels": [tumor_labels] if isinstance(tumor_labels, str) else list(tumor_labels or []),
        "min_score": float(min_score), "min_cd8_cells": int(min_cd8_cells), "max_rank": rank_limit,
        "programmes": dict(PROGRAMMES) if mode == "rna" else {}, "marker_rules": rules,
        "cxcl13": (f"{genes['CXCL13']} detected (> 0) in the cell: a lower bound (single-gene dropout)"
                   if genes["CXCL13"] else "not measured: the object has no CXCL13 gene") if mode == "rna"
        else rules.get("CXCL13", "not measured: no CXCL13 marker given"),
        "hypoxia": HYPOXIA if tumour.any() and mode == "rna" else "",
    }  # fmt: skip
    target.uns[key_added] = {"table": table, "params": params}
    return target if copy else None
