"""`tk.tl.annotate`: marker-based cell typing from the shipped cell-identity signatures."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import CELL_TYPE_KEY
from tmekit._genenames import sets_in_species
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._warnings import MissingGenesWarning
from tmekit.signatures import list as list_signatures
from tmekit.signatures import resolve
from tmekit.tl._score import compute_scores

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

    from tmekit.signatures import Signature

__all__ = ["CELL_TYPE_LABELS", "annotate", "annotation_labels"]

#: Label written for each library marker set.
CELL_TYPE_LABELS = {
    "marker_epithelial": "Epithelial",
    "marker_t": "T cell",
    "marker_cd8_t": "CD8 T",
    "marker_cd4_t": "CD4 T",
    "marker_treg": "Treg",
    "marker_b": "B cell",
    "marker_plasma": "Plasma",
    "marker_nk": "NK",
    "marker_macrophage": "Macrophage",
    "marker_monocyte": "Monocyte",
    "marker_dc": "Dendritic",
    "marker_mast": "Mast",
    "marker_caf": "Fibroblast",
    "marker_endothelial": "Endothelial",
}
#: Subtypes decided only among cells whose first-level call is the parent type.
SUBTYPES = {"marker_t": ("marker_cd8_t", "marker_cd4_t", "marker_treg")}
UNASSIGNED = "unassigned"


def annotation_labels(key_added: str = CELL_TYPE_KEY) -> dict[str, Any]:
    """The labels of :func:`annotate` as ``tk.tl.classify`` / ``tk.tl.tcell_states`` take them.

    Tumour: ``Epithelial`` (carcinomas); immune: every leukocyte label; CD8: ``CD8 T``; T (CD3+): the T-cell labels.
    """
    immune = ["T cell", "CD8 T", "CD4 T", "Treg", "B cell", "Plasma", "NK", "Macrophage", "Monocyte", "Dendritic",
              "Mast"]  # fmt: skip
    return {"cell_type_key": key_added, "tumor_labels": ["Epithelial"], "immune_labels": immune,
            "cd8_labels": ["CD8 T"], "t_labels": ["T cell", "CD8 T", "CD4 T", "Treg"]}  # fmt: skip


@accepts_spatialdata
@all_or_nothing
def annotate(
    adata: AnnData,
    *,
    markers: Sequence[str | Signature] | Mapping[str, Any] | None = None,
    layer: str | None = None,
    max_rank: int | None = None,
    min_score: float = 0.1,
    min_margin: float = 0.02,
    min_overlap: float = 0.3,
    key_added: str = CELL_TYPE_KEY,
    overwrite: bool = False,
    copy: bool = False,
    species: str = "auto",
) -> AnnData | None:
    """Marker-based cell types with an ``unassigned`` class when no marker set clearly wins.

    Each marker set is scored per cell with the ``rank`` method (UCell; cell-independent, works on
    counts). A cell gets the best-scoring set's label when that score is at least ``min_score`` and
    beats the runner-up by at least ``min_margin``; otherwise ``unassigned``. T-cell subtypes (CD8 T,
    CD4 T, Treg) are decided among the cells called T cells, with the same two thresholds (a T cell
    whose subtype is unclear stays ``T cell``).

    Parameters
    ----------
    adata
        Cells x genes (scRNA-seq or a targeted spatial panel such as Xenium).
    markers
        Marker sets: library names, `Signature` objects or a dict (as for :func:`tmekit.tl.score`).
        Default: the 14 ``cell_identity`` sets of the library (labels in ``CELL_TYPE_LABELS``).
    layer
        Expression layer (counts or log-normalised: ranks are the same).
    max_rank
        UCell ``max_rank``; default ``min(1500, n_vars)`` so small panels rank over what they measure.
    min_score, min_margin
        Thresholds of the assignment (see above).
    min_overlap
        Marker sets with a smaller share of their genes in ``var_names`` are left out (with a
        ``MissingGenesWarning``); targeted panels measure only some markers.
    key_added
        ``obs[key_added]`` gets the labels, ``obsm[key_added + "_scores"]`` the marker scores,
        ``uns[key_added]`` the parameters and the sets used or left out.
    overwrite, copy
        Replace existing results; return a new object instead of writing into ``adata``.
    species
        ``"auto"`` (from the gene names), ``"human"`` or ``"mouse"``: mouse data get the human marker sets
        translated through orthologs (:func:`tmekit.signatures.translate`).

    Returns
    -------
    ``None``, or the new object when ``copy=True``.
    """
    score_key = f"{key_added}_scores"
    if not overwrite and (key_added in adata.obs or score_key in adata.obsm):
        msg = (
            f"`adata.obs[{key_added!r}]` or `adata.obsm[{score_key!r}]` exists. Pass `overwrite=True` or `key_added=`."
        )
        raise ValueError(msg)
    if markers is None:
        markers = list(list_signatures(category="cell_identity").index)
    sigs, _ = sets_in_species(
        resolve(markers), pd.Index(adata.var_names), species=species, min_overlap=0.0, skip_untranslatable=True
    )  # a set too thin to translate is left out by the coverage check below
    present = set(adata.var_names)
    coverage = {
        s.name: sum(g in present or any(a in present for a in s.aliases.get(g, ())) for g in s.genes) / s.n_genes
        for s in sigs
    }
    used = [s for s in sigs if coverage[s.name] >= min_overlap]
    dropped = sorted(set(coverage) - {s.name for s in used})
    if dropped:
        msg = (
            f"Marker sets left out (fewer than {min_overlap:.0%} of their genes measured): "
            f"{', '.join(f'{n} ({coverage[n]:.0%})' for n in dropped)}. Their cell types cannot be called."
        )
        warnings.warn(msg, MissingGenesWarning, stacklevel=2)
    if len(used) < 2:
        msg = f"Only {len(used)} marker set(s) measurable in this object; annotation needs at least two."
        raise ValueError(msg)
    target = adata.copy() if copy else adata
    rank_limit = int(min(1500, adata.n_vars)) if max_rank is None else int(max_rank)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingGenesWarning)  # partial coverage already reported above
        scores, _ = compute_scores(adata, used, layer=layer, max_rank=rank_limit, min_overlap=min_overlap,
                                   species=species)  # fmt: skip
    labels = {s.name: CELL_TYPE_LABELS.get(s.name, s.name) for s in used}
    sub_names = {c for kids in SUBTYPES.values() for c in kids}
    top_names = [n for n in scores.columns if n not in sub_names]
    call = _assign(scores[top_names], labels, min_score=min_score, min_margin=min_margin)
    for parent, kids in SUBTYPES.items():
        kids = [k for k in kids if k in scores.columns]
        if parent in scores.columns and kids:
            is_parent = call == labels[parent]
            refined = _assign(scores.loc[is_parent, kids], labels, min_score=min_score, min_margin=min_margin)
            call[is_parent] = np.where(refined == UNASSIGNED, labels[parent], refined)
    categories = [*dict.fromkeys(labels.values()), UNASSIGNED]
    target.obs[key_added] = pd.Categorical(call, categories=categories)
    target.obsm[score_key] = scores
    target.uns[key_added] = {
        "params": {"min_score": float(min_score), "min_margin": float(min_margin), "min_overlap": float(min_overlap),
                   "max_rank": rank_limit, "layer": layer or "X"},
        "sets_used": [s.name for s in used],
        "sets_left_out": dropped,
        "labels": labels,
    }  # fmt: skip
    return target if copy else None


def _assign(scores: pd.DataFrame, labels: Mapping[str, str], *, min_score: float, min_margin: float) -> np.ndarray:
    values = scores.to_numpy()
    if values.shape[1] == 0:
        return np.full(len(scores), UNASSIGNED, dtype=object)
    order = np.argsort(-values, axis=1, kind="stable")
    best = values[np.arange(len(values)), order[:, 0]]
    second = values[np.arange(len(values)), order[:, 1]] if values.shape[1] > 1 else np.zeros(len(values))
    names = np.array([labels[c] for c in scores.columns], dtype=object)
    return np.where((best >= min_score) & (best - second >= min_margin), names[order[:, 0]], UNASSIGNED)
