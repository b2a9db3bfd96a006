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
(``hypoxia_buffa2010``) of the sample's tumour cells when tumour cells are declared (the ``tumor`` role). Below
``min_cd8_cells`` (10) CD8 T cells a sample is ``indeterminate``: shares and ratios NaN (one cell would be 10%).

**Targeted panels** (e.g. Xenium breast: no CXCL13, TOX, GZMB, LAYN; 2 of the 6 memory-like genes): a programme with
fewer than 50% of its genes is not measured, and only the states it decides are lost. Progenitor vs terminal needs
exhausted, stemness and terminal; without one of them an exhausted cell is ``exhausted_unsplit`` (its own share
column). Effector/memory (and other) needs exhausted and stemness or memory-like; with one of the two it is read
from that one (cells marked only by the missing one count as other; ``params["effector_memory_rule"]`` says so).
CXCL13+ needs the CXCL13 gene, CXCL13+ CCR5+ also CCR5; the tumour hypoxia score 30% of its genes. A state or flag
not measured has NaN (never 0) counts, shares and ratios, is listed with its missing genes in
``uns[key_added]["params"]["not_measured"]`` and named in one ``MissingGenesWarning``. No state decidable (no
exhausted programme, or neither stemness nor memory-like): ``ValueError``. Protein panels follow the rule exactly: a
cell's state is the one every status of the markers not given would give it, ``exhausted_unsplit`` if progenitor or
terminal, else ``not_measured``; a state is measured when no cell pattern leaves it in doubt (PD-1 + TCF1:
effector/memory; PD-1 + TIM-3: terminal; PD-1 alone: nothing, refused). CXCL13 / CCR5 markers not given are
recorded, not warned about (they are optional).
"""

from __future__ import annotations

import warnings
from itertools import product
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
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

__all__ = ["PROGRAMMES", "STATES", "state_rule", "tcell_states"]

#: The states :func:`tcell_states` gives a CD8 T cell (a panel that cannot split them adds ``exhausted_unsplit``).
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
#: The protein markers the state rule reads (CD39 is optional beside TIM-3).
CORE_MARKERS = ("PD-1", "TIM-3", "TCF1")
#: A CD8 T cell that is exhausted but cannot be split into progenitor vs terminal on this panel.
UNSPLIT = "exhausted_unsplit"
#: A CD8 T cell whose state the markers given cannot decide (protein panels only).
NOT_MEASURED = "not_measured"
#: Every per-cell label: the states, then the two a panel that cannot decide every state gives.
LABELS = (*STATES, UNSPLIT, NOT_MEASURED)


#: Share of a programme's genes the data must measure for it to be scored.
MIN_PROGRAMME_OVERLAP = 0.5


def _programmes_short(
    adata: AnnData, sets: Mapping[str, str] = PROGRAMMES, share: float = MIN_PROGRAMME_OVERLAP
) -> dict[str, str]:
    """The programmes (``sets``) this object does not measure (fewer than ``share`` of their genes), with why."""
    sigs = [get_signature(name) for name in sets.values()]
    sigs, _ = sets_in_species(sigs, adata.var_names, species="auto", min_overlap=0.1, skip_untranslatable=True)
    names = set(map(str, adata.var_names))
    short = {}
    for role, sig in zip(sets, sigs, strict=True):
        found = [g for g in sig.genes if g in names or any(a in names for a in sig.aliases.get(g, ()))]
        if len(found) < share * len(sig.genes):
            missing = sorted(set(sig.genes) - set(found))
            short[role] = f"{sig.name} {len(found)}/{len(sig.genes)} genes (missing {missing})"
    return short


def _rna_not_measured(short: Mapping[str, str]) -> dict[str, str]:
    """Why each state the measured programmes cannot decide is not measured (the module notes give the rule)."""
    why: dict[str, str] = {}
    lacking = [short[r] for r in ("exhausted", "stemness", "terminal") if r in short]
    if lacking:
        reason = f"progenitor vs terminal needs the exhausted, stemness and terminal programmes: {'; '.join(lacking)}"
        why |= dict.fromkeys(("progenitor_exhausted", "terminal_exhausted", "progenitor_terminal_ratio"), reason)
    lacking = [short[r] for r in ("exhausted",) if r in short]
    lacking += [f"{short['stemness']}; {short['memory']}"] if "stemness" in short and "memory" in short else []
    if lacking:
        reason = f"effector/memory needs the exhausted and the stemness or memory-like programme: {'; '.join(lacking)}"
        why |= dict.fromkeys(("effector_memory", "other", "memory_exhausted_ratio"), reason)
    return why


def _effector_rule(short: Mapping[str, str]) -> str:
    """The effector/memory rule as the measured programmes read it (one memory-like programme may be missing)."""
    gone = [r for r in ("stemness", "memory") if r in short]
    if len(gone) != 1:
        return "exhausted off, stemness or memory-like on"
    kept = "memory-like" if gone[0] == "stemness" else "stemness"
    return (
        f"exhausted off and {kept} on ({gone[0]} not measured: {short[gone[0]]}); cells marked only by the {gone[0]} "
        "programme are counted as other"
    )


def _rna_states(adata: AnnData, layer: str | None, min_score: float, max_rank: int, short: Mapping[str, str]) -> tuple[
    np.ndarray, pd.DataFrame]:  # fmt: skip
    measured = [role for role in PROGRAMMES if role not in short]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingGenesWarning)  # coverage is recorded in the scores' provenance
        scores, _ = compute_scores(adata, [PROGRAMMES[r] for r in measured], layer=layer, max_rank=max_rank,
                                   min_overlap=MIN_PROGRAMME_OVERLAP)  # fmt: skip
    scores.columns = measured
    return state_rule(scores, min_score), scores.reindex(columns=list(PROGRAMMES))


def state_rule(scores: pd.DataFrame, min_score: float) -> np.ndarray:
    """Each cell's state from its programme scores (columns ``exhausted``, ``terminal``, ``stemness``, ``memory``).

    A programme is on at ``min_score`` or more. Progenitor exhausted: exhausted on, stemness on and above the
    terminal score; terminal exhausted: exhausted on otherwise; effector/memory: exhausted off, stemness or
    memory-like on; other: the rest. A programme that is not a column is not measured: it is never on, and
    without the stemness or the terminal programme an exhausted cell is ``exhausted_unsplit``. Without the
    exhausted programme, or without both stemness and memory-like, no state can be decided (``ValueError``).
    """
    have = [p for p in PROGRAMMES if p in scores.columns]
    if "exhausted" not in have or not {"stemness", "memory"} & set(have):
        msg = f"No T-cell state can be decided from the programmes {have}: need 'exhausted' and 'stemness' or 'memory'."
        raise ValueError(msg)
    on = scores.reindex(columns=list(PROGRAMMES)) >= min_score  # a programme not measured is never on
    if {"stemness", "terminal"} <= set(have):
        progenitor = on["exhausted"] & on["stemness"] & (scores["stemness"] > scores["terminal"])
        exhausted = [progenitor, on["exhausted"]], ["progenitor_exhausted", "terminal_exhausted"]
    else:
        exhausted = [on["exhausted"]], [UNSPLIT]
    state = np.select([*exhausted[0], on["stemness"] | on["memory"]], [*exhausted[1], "effector_memory"], "other")
    return state.astype(object)


def _protein_rule(status: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each cell's state from its PD-1, TIM-3, TCF1 (and CD39) statuses: 1 positive, 0 negative, NaN unknown."""
    pos = {m: v == 1 for m, v in status.items()}
    terminal = pos["PD-1"] & (pos["TIM-3"] | pos.get("CD39", np.zeros(len(pos["PD-1"]), dtype=bool)))
    progenitor = pos["PD-1"] & ~terminal & (status["TIM-3"] == 0) & pos["TCF1"]
    memory = (status["PD-1"] == 0) & pos["TCF1"]
    state = np.select([progenitor, terminal, memory], ["progenitor_exhausted", "terminal_exhausted",
                                                       "effector_memory"], "other")  # fmt: skip
    return state.astype(object)


def _protein_calls(status: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Each cell's state under the rule, whatever the statuses of the core markers not given.

    The state when every status of theirs gives the same one; ``exhausted_unsplit`` when it is progenitor or
    terminal; else ``not_measured``.
    """
    absent = [m for m in CORE_MARKERS if m not in status]
    calls = np.stack([_protein_rule({**status, **{m: np.full(n, v) for m, v in zip(absent, values, strict=True)}})
                      for values in product((0.0, 1.0), repeat=len(absent))], axis=1)  # fmt: skip
    same = (calls == calls[:, :1]).all(axis=1)
    split = np.isin(calls, ["progenitor_exhausted", "terminal_exhausted"]).all(axis=1)
    return np.where(same, calls[:, 0], np.where(split, UNSPLIT, NOT_MEASURED)).astype(object)


def _protein_not_measured(given: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Why each state the given markers cannot decide is not measured, and the labels a cell can get.

    A state is decided when, for every pattern of the given markers' statuses, the calls under each status of
    the markers not given are all that state or all another one.
    """
    absent = [m for m in CORE_MARKERS if m not in given]
    if not absent:
        return {}, list(STATES)
    used = [m for m in (*CORE_MARKERS, "CD39") if m in given]
    grid = np.array(list(product((0.0, 1.0), repeat=len(used))), dtype=float).reshape(2 ** len(used), len(used))
    calls = np.stack([_protein_rule({**{m: grid[:, i] for i, m in enumerate(used)},
                                     **{m: np.full(len(grid), v) for m, v in zip(absent, values, strict=True)}})
                      for values in product((0.0, 1.0), repeat=len(absent))], axis=1)  # fmt: skip
    reason = f"undecidable without {absent} (not given in `markers`)"

    def decided(group: Sequence[str]) -> bool:  # each pattern's calls all in the group or none
        inside = np.isin(calls, group)
        return not (inside.any(axis=1) & ~inside.all(axis=1)).any()

    why = {s: reason for s in STATES if not decided([s])}
    if "progenitor_exhausted" in why or "terminal_exhausted" in why:
        why["progenitor_terminal_ratio"] = reason
    if "effector_memory" in why or not decided(["progenitor_exhausted", "terminal_exhausted"]):
        why["memory_exhausted_ratio"] = reason
    merged = _protein_calls({m: grid[:, i] for i, m in enumerate(used)}, len(grid))
    return why, [*STATES, *(s for s in (UNSPLIT, NOT_MEASURED) if s in set(merged))]


def _protein_states(adata: AnnData, markers: Mapping[str, str], thresholds: Mapping[str, float]) -> tuple[
    np.ndarray, pd.DataFrame, dict[str, str]]:  # fmt: skip
    status = {m: marker_status(adata, key, threshold=thresholds.get(m), what=m,
                               hint=f"`marker_thresholds={{{m!r}: ...}}`") for m, key in markers.items()}  # fmt: skip
    rules = {m: describe_marker(adata, key, threshold=thresholds.get(m), what=m) for m, key in markers.items()}
    return _protein_calls(status, adata.n_obs), pd.DataFrame(status, index=adata.obs_names), rules


def _not_measured(adata: AnnData, markers: Mapping[str, str] | None) -> tuple[
    dict[str, str], list[str], dict[str, str]]:  # fmt: skip
    """What this object cannot measure, why, and the labels a cell can get; raises when no state can be decided."""
    if markers is not None:
        unknown = sorted(set(markers) - set(PROTEIN_MARKERS))
        if unknown:
            msg = (
                f"Unknown `markers` {unknown}: give PD-1, TIM-3, TCF1 (optional CD39, CXCL13, CCR5) -> obs column "
                "or channel."
            )
            raise ValueError(msg)
        why, labels = _protein_not_measured(list(markers))
        short: dict[str, str] = {}
        what = f"the markers given ({sorted(markers)}; missing {[m for m in CORE_MARKERS if m not in markers]})"
    else:
        short = _programmes_short(adata)
        why = _rna_not_measured(short)
        labels = [*STATES, *([UNSPLIT] if "progenitor_exhausted" in why else [])]
        what = f"this object ({adata.n_vars} genes: a targeted panel?), which lacks {'; '.join(short.values())}"
    if all(s in why for s in STATES):
        msg = (
            f"No CD8 T-cell state can be decided from {what}. RNA needs the exhausted programme and the stemness or "
            f"memory-like one (at least {MIN_PROGRAMME_OVERLAP:.0%} of their genes: {dict(PROGRAMMES)}); protein or "
            "per-cell marker calls need PD-1 with TCF1 or TIM-3: give them as "
            "`markers={'PD-1': ..., 'TIM-3': ..., 'TCF1': ...}`."
        )
        raise ValueError(msg)
    return why, labels, short


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


def _warn_not_measured(why: Mapping[str, str], key_added: str, labels: Sequence[str], effector: str = "") -> None:
    """One MissingGenesWarning naming what is not measured, why, and what would measure it."""
    reasons: dict[str, list[str]] = {}
    for what, reason in why.items():
        reasons.setdefault(reason, []).append(what)
    notes = {UNSPLIT: "exhausted CD8 T cells that cannot be split", NOT_MEASURED: "cells the markers cannot place"}
    unsplit = "".join(f"; {note} are labelled {label!r}" for label, note in notes.items() if label in labels)
    listed = "; ".join(f"{', '.join(whats)} ({reason})" for reason, whats in reasons.items())
    parts = [f"T-cell states not measured here, reported as NaN{unsplit}: {listed}."] if why else []
    parts += [f"Effector/memory here: {effector}."] if effector else []
    if parts:
        msg = " ".join([
            *parts, "Data with those genes or markers (RNA: the missing programme genes, CXCL13, CCR5; protein: "
            "`markers=` with PD-1, TIM-3, TCF1, CXCL13, CCR5) would measure them. Details in "
            f"`adata.uns[{key_added!r}]['params']`.",
        ])  # fmt: skip
        warnings.warn(msg, MissingGenesWarning, stacklevel=5)


def _share(k: int, n: int, *, thin: bool) -> float:
    return np.nan if thin else k / n


def _flag_share(flags: np.ndarray, *, thin: bool) -> float:
    """The share of cells flagged (1.0) among those whose flag is known; NaN when none is or the sample is thin."""
    known = flags[np.isfinite(flags)]
    return np.nan if thin or not known.size else float(known.mean())


def _table(cells: Mapping[str, np.ndarray], groups: list[tuple[str, np.ndarray]], min_cd8: int,
           labels: Sequence[str], why: Mapping[str, str]) -> pd.DataFrame:  # fmt: skip
    """Per sample, from ``cells`` = state, cd8, cxcl13, ccr5 and hypoxia per cell; NaN for what ``why`` names."""
    state, cd8, cxcl13, ccr5, hypoxia = (cells[k] for k in ("state", "cd8", "cxcl13", "ccr5", "hypoxia"))
    rows = {}
    for name, idx in groups:
        mine = idx[cd8[idx]]
        n = len(mine)
        counts = {s: int((state[mine] == s).sum()) for s in labels}
        thin = n < min_cd8

        def share(k: int, n: int = n, *, thin: bool = thin) -> float:
            return _share(k, n, thin=thin)

        exhausted = counts["progenitor_exhausted"] + counts["terminal_exhausted"] + counts.get(UNSPLIT, 0)
        prog, term, mem = counts["progenitor_exhausted"], counts["terminal_exhausted"], counts["effector_memory"]
        rows[name] = {
            "n_cells": len(idx), "n_cd8": n,
            **{f"n_{s}": np.nan if s in why else counts[s] for s in labels},
            **{f"frac_{s}": np.nan if s in why else share(counts[s]) for s in labels},
            "frac_cxcl13": _flag_share(cxcl13[mine], thin=thin),
            "frac_cxcl13_ccr5": _flag_share(cxcl13[mine] * ccr5[mine], thin=thin),
            "progenitor_terminal_ratio": np.nan if thin or term == 0 or "progenitor_terminal_ratio" in why
            else prog / term,
            "memory_exhausted_ratio": np.nan if thin or exhausted == 0 or "memory_exhausted_ratio" in why
            else mem / exhausted,
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
        ``"CCR5"``), each an ``obs`` column or a channel of ``X``; thresholds for continuous intensities. With
        some of PD-1 / TIM-3 / TCF1 only the states they decide are measured (module notes).
    min_score
        RNA: the score at which a programme is on.
    min_cd8_cells
        Smallest number of CD8 T cells a sample needs; fewer: ``indeterminate``, NaN shares and ratios.
    max_rank
        UCell ``max_rank`` (default ``min(1500, n_vars)``).
    key_added, overwrite, copy
        ``obs[key_added]`` gets each CD8 T cell's state (NaN for other cells; ``exhausted_unsplit`` /
        ``not_measured`` where the panel cannot decide), ``obs[key_added + "_cxcl13"]`` the CXCL13+ flag,
        ``obsm[key_added + "_scores"]`` the programme scores or marker statuses and ``uns[key_added]``
        ``{"table", "params"}`` (:func:`tmekit.get.tcell_states`); replace existing results; return a new object.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.annotate(adata)  # declares which cells are CD8 T cells
    >>> tk.tl.tcell_states(adata, library_key="sample_id", min_cd8_cells=5)
    >>> tk.get.tcell_states(adata)["frac_terminal_exhausted"].round(3).tolist()  # of 36 CD8 T cells
    [0.167]
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
    why, labels, short = _not_measured(adata, markers)
    state = np.full(adata.n_obs, None, dtype=object)
    rules: dict[str, str] = {}
    genes = {"CXCL13": None, "CCR5": None}
    if markers is not None:
        call, evidence, rules = _protein_states(adata[cd8], markers, dict(marker_thresholds or {}))
        flags = {m: evidence[m].to_numpy(float) if m in evidence else np.full(int(cd8.sum()), np.nan)
                 for m in ("CXCL13", "CCR5")}  # fmt: skip
        hypoxia = np.full(adata.n_obs, np.nan)
        mode = "protein"
        flagged = {"cxcl13": "CXCL13" in markers, "cxcl13_ccr5": {"CXCL13", "CCR5"} <= set(markers)}
        why |= {k: "no CXCL13 (and CCR5) marker given in `markers`" for k, given in flagged.items() if not given}
    else:
        if cd8.any():
            call, evidence = _rna_states(adata[cd8], layer, min_score, rank_limit, short)
        else:  # no CD8 T cell: nothing to score; every sample is indeterminate (0 CD8 T cells)
            call, evidence = np.empty(0, dtype=object), pd.DataFrame(columns=list(PROGRAMMES), dtype=float)
        genes = {m: _gene_in(adata, m) for m in genes}
        flags = {m: _detected(adata[cd8], gene, layer) for m, gene in genes.items()}
        lacking = [m for m in ("CXCL13", "CCR5") if genes[m] is None]
        if "CXCL13" in lacking:
            why["cxcl13"] = "the object has no CXCL13 gene"
        if lacking:
            why["cxcl13_ccr5"] = f"the object has no {' or '.join(lacking)} gene"
        no_hypoxia = _programmes_short(adata, {"hypoxia": HYPOXIA}, 0.3) if tumour.any() else {}
        why |= {"hypoxia_tumor": f"fewer than 30% of the genes: {no_hypoxia['hypoxia']}"} if no_hypoxia else {}
        partial = len(short.keys() & {"stemness", "memory"}) == 1
        _warn_not_measured(why, key_added, labels, _effector_rule(short) if partial else "")
        scored = tumour.any() and not no_hypoxia
        hypoxia = _hypoxia(adata, tumour, layer, rank_limit) if scored else np.full(adata.n_obs, np.nan)
        mode = "rna"
    state[cd8] = call
    cxcl13, ccr5 = np.full(adata.n_obs, np.nan), np.full(adata.n_obs, np.nan)
    cxcl13[cd8], ccr5[cd8] = flags["CXCL13"], flags["CCR5"]
    cells = {"state": state, "cd8": cd8, "cxcl13": cxcl13, "ccr5": ccr5, "hypoxia": hypoxia}
    if mode == "protein" and any(s in why for s in STATES):
        _warn_not_measured(why, key_added, labels)
    table = _table(cells, list(samples(adata, library_key=library_key)), min_cd8_cells, labels, why)
    target = adata.copy() if copy else adata
    target.obs[key_added] = pd.Categorical(state, categories=labels)
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
        "hypoxia": HYPOXIA if tumour.any() and mode == "rna" and "hypoxia_tumor" not in why else "",
        "not_measured": dict(why), "programmes_not_measured": dict(short),
        "effector_memory_rule": _effector_rule(short) if mode == "rna" else "PD-1- TCF1+",
    }  # fmt: skip
    target.uns[key_added] = {"table": table, "params": params}
    return target if copy else None
