"""`tk.tl.annotate`: cell types from markers, lineage first (RNA or protein panels), with ``unassigned``.

The hierarchy is ``tmekit.tl._lineages.TREE``: lineages (epithelial, melanoma, T/NK, B, plasma, myeloid, mast,
fibroblast, perivascular, endothelial), then the types within them (T cell -> CD8 T / CD4 T -> Treg; NK; macrophage,
monocyte, dendritic, neutrophil). A cell goes down while one child clearly wins (score at least ``min_score`` and
ahead of the runner-up by ``min_margin``) among the children the data can measure; it keeps the label where it stops.

- **RNA** (counts or log; scRNA-seq, Xenium, CosMx, MERFISH): each node's library marker set is scored per cell by
  ``rank`` (UCell: a cell's score depends on that cell only), with genes down where a type is defined by their
  absence (NK: CD3 genes). A set with fewer than ``min_overlap`` of its genes measured cannot be decided.
- **Protein** (MIBI, IMC, CODEX, mIF; ``modality="protein"`` or recognised from the channel names): channels scaled
  per sample to [0, 1], node score = highest up channel minus highest down channel (``tmekit.tl._protein``).

The tumour is the data's main tumour lineage (carcinoma cells are ``Epithelial``, melanoma cells ``Melanoma``):
``uns[key_added]["roles"]`` lists the labels that are tumour, immune, T and CD8 T, and annotate declares them as the
object's cell types (``uns["tmekit_cell_types"]``, :func:`tmekit.pp.cell_types`) unless it declares another column's
labels already, so the frameworks and T-cell states read them with no label written by hand. Why a level could not
be decided (its markers not measured) is in
``uns[key_added]["not_measured"]``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tmekit._constants import CELL_TYPE_KEY, CELL_TYPES_KEY
from tmekit._genenames import sets_in_species
from tmekit._roles import declared
from tmekit._spatialdata import accepts_spatialdata
from tmekit._transaction import all_or_nothing
from tmekit._warnings import MissingGenesWarning
from tmekit.signatures import resolve
from tmekit.tl._annotate_graph import neighbor_graph, smoothed, vote
from tmekit.tl._lineages import TREE, TUMOR_LINEAGES, UNASSIGNED, Node, labels, nodes, roles_of
from tmekit.tl._protein import channel_map, is_protein_panel, markers_used, node_scores, scaled_channels
from tmekit.tl._score import compute_scores

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anndata import AnnData

    from tmekit.signatures import Signature

__all__ = ["DEFAULTS", "annotate", "annotation_labels"]

#: Default ``min_score`` and ``min_margin`` per modality (UCell scores; protein: scaled channel differences).
DEFAULTS = {"rna": (0.1, 0.02), "protein": (0.1, 0.05)}


def annotation_labels(adata: AnnData | None = None, key_added: str = CELL_TYPE_KEY) -> dict[str, Any]:
    """The roles of :func:`annotate`'s labels, as :func:`tmekit.pp.cell_types` takes them (annotate declares them).

    With an annotated ``adata`` the tumour labels are those :func:`annotate` chose from the data (``Epithelial``
    for carcinomas, ``Melanoma`` for melanomas); without one, or without tumour cells, ``Epithelial``. Immune: every
    leukocyte label; CD8: ``CD8 T``; T (CD3+): the T-cell labels.

    Parameters
    ----------
    adata
        An object :func:`annotate` typed (``None``: the labels of the hierarchy, tumour ``Epithelial``).
    key_added
        The ``key_added`` that :func:`annotate` wrote under.

    Returns
    -------
    ``{"key", "tumor", "immune", "cd8", "t"}``: the keyword arguments of :func:`tmekit.pp.cell_types`.

    Examples
    --------
    >>> labels = tk.tl.annotation_labels()
    >>> labels["key"], labels["tumor"], labels["cd8"]
    ('tmekit_cell_type', ['Epithelial'], ['CD8 T'])
    """
    stored = adata.uns.get(key_added, {}).get("roles") if adata is not None else None
    tumour = list(stored["tumor"]) if stored is not None and len(stored["tumor"]) else ["Epithelial"]
    return {"key": key_added, "tumor": tumour, "immune": roles_of("immune"), "cd8": roles_of("cd8"),
            "t": roles_of("t")}  # fmt: skip


def _lifted(values: np.ndarray, columns: list[str], kind: str) -> np.ndarray:
    """Each node's score as a child: the highest of its own and its children's lifting in ``kind`` (``Node.lifts``)."""
    out, column = values.copy(), {c: i for i, c in enumerate(columns)}

    def walk(node: Node) -> None:
        for child in node.children:
            walk(child)  # children first: a lifted score carries up through several levels
            lifting = [column[k.label] for k in child.children if kind in k.lifts and k.label in column]
            if lifting and child.label in column:
                j = column[child.label]
                out[:, j] = np.maximum(out[:, j], out[:, lifting].max(axis=1))

    walk(TREE)
    return out


def _descend(
    values: np.ndarray,
    columns: list[str],
    node: Node,
    rows: np.ndarray,
    call: np.ndarray,
    *,
    cuts: tuple[float, float],
    neighbors: np.ndarray | None = None,
    top: bool = True,
) -> None:
    """Give ``rows`` the child of ``node`` that clearly wins among the measured ones, and go on down.

    With ``neighbors`` (the scores smoothed over a graph): the lineage (first level) is decided on them; below it a
    cell's own scores decide, and its neighbours' where its own do not (dropout).
    """
    column = {c: i for i, c in enumerate(columns)}
    kids = [k for k in node.children if k.label in column]
    if not kids or not len(rows):
        return
    idx = [column[k.label] for k in kids]

    def clear_winner(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        part = scores[np.ix_(rows, idx)]
        winner = np.argmax(part, axis=1)  # the first of equal scores (tree order)
        best = part[np.arange(len(rows)), winner]
        second = np.partition(part, -2, axis=1)[:, -2] if len(kids) > 1 else np.zeros(len(rows))
        return winner, (best >= cuts[0]) & (best - second >= cuts[1])

    winner, won = clear_winner(neighbors if neighbors is not None and top else values)
    if neighbors is not None and not top:
        near, near_won = clear_winner(neighbors)
        winner, won = np.where(won, winner, near), won | near_won
    for k, kid in enumerate(kids):
        mine = rows[won & (winner == k)]
        call[mine] = kid.label
        _descend(values, columns, kid, mine, call, cuts=cuts, neighbors=neighbors, top=False)


def _rna_scores(
    adata: AnnData, *, layer: str | None, max_rank: int, min_overlap: float, species: str, key_added: str
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Scores of the nodes whose marker sets are measured; why the others are not; the sets used."""
    named = [n for n in nodes() if n.rna]
    sigs, _ = sets_in_species(resolve([n.rna for n in named]), pd.Index(adata.var_names), species=species,
                              min_overlap=0.0, skip_untranslatable=True)  # fmt: skip
    present = set(map(str, adata.var_names))
    missing = {n.label: "no RNA marker set" for n in nodes() if not n.rna}
    used: list[tuple[Node, Signature]] = []
    for node, sig in zip(named, sigs, strict=True):
        have = [g for g in sig.genes if g in present or any(a in present for a in sig.aliases.get(g, ()))]
        if len(have) < min_overlap * len(sig.genes) or not any(g in have for g in sig.genes_up):
            absent = sorted(set(sig.genes) - set(have))
            missing[node.label] = f"{sig.name}: {len(have)}/{len(sig.genes)} genes measured (missing {absent})"
        else:
            used.append((node, sig))
    unmeasured = {k: v for k, v in missing.items() if v != "no RNA marker set"}
    if unmeasured:
        msg = (
            f"Cell types not decidable here (fewer than {min_overlap:.0%} of their marker genes measured): "
            f"{sorted(unmeasured)}; their cells keep the parent's label (e.g. 'T cell'). Details in "
            f"`adata.uns[{key_added!r}]['not_measured']`."
        )
        warnings.warn(msg, MissingGenesWarning, stacklevel=5)
    if len(used) < 2:
        msg = (
            f"Only {len(used)} marker set(s) of the cell-type hierarchy are measured in this object "
            f"({adata.n_vars} genes); annotation needs at least two. Not measured: {missing}."
        )
        raise ValueError(msg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingGenesWarning)  # coverage is reported in uns["not_measured"]
        scores, _ = compute_scores(adata, [s for _, s in used], layer=layer, max_rank=max_rank,
                                   min_overlap=min(min_overlap, 0.99), species=species)  # fmt: skip
    scores.columns = [n.label for n, _ in used]
    return scores, missing, [s.name for _, s in used]


def _flat_root(names: Sequence[str]) -> Node:
    """Your own marker sets: one level, the clear winner among all of them (no hierarchy)."""
    return Node("root", children=tuple(Node(n) for n in names))


def _roles(call: np.ndarray) -> dict[str, list[str]]:
    """Tumour: the data's main tumour lineage (most cells of Epithelial / Melanoma); and the fixed roles."""
    counts = {lineage: int((call == lineage).sum()) for lineage in TUMOR_LINEAGES}
    tumour = [max(counts, key=counts.get)] if any(counts.values()) else []
    return {"tumor": tumour, "immune": roles_of("immune"), "t": roles_of("t"), "cd8": roles_of("cd8"),
            "tumor_lineage_cells": counts}  # fmt: skip


@accepts_spatialdata
@all_or_nothing
def annotate(
    adata: AnnData,
    *,
    modality: str = "auto",
    markers: Sequence[str | Signature] | Mapping[str, Any] | None = None,
    layer: str | None = None,
    library_key: str | None = None,
    max_rank: int | None = None,
    min_score: float | None = None,
    min_margin: float | None = None,
    min_overlap: float = 0.3,
    species: str = "auto",
    neighbors_key: str | None = "auto",
    groupby: str | None = None,
    key_added: str = CELL_TYPE_KEY,
    overwrite: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Cell types from markers, lineage first, with ``unassigned`` where no lineage clearly wins (module notes).

    Parameters
    ----------
    adata
        Cells x genes (scRNA-seq, Xenium, CosMx, MERFISH; counts or log) or cells x protein channels.
    modality
        ``"auto"`` (protein when the channel names are protein markers such as CD45, CD3, Pan-Keratin), ``"rna"``
        or ``"protein"``.
    markers
        RNA only: your own marker sets (library names, `Signature` objects or a dict), decided flat (the clear
        winner among them) instead of the hierarchy.
    layer
        Expression or intensity layer; default ``X``.
    library_key
        Protein: ``obs`` column of samples; each channel is scaled within each sample.
    max_rank
        RNA: UCell ``max_rank``; default ``min(1500, n_vars)`` so small panels rank over what they measure.
    min_score, min_margin
        The smallest winning score and lead over the runner-up at every level; default per modality
        (RNA 0.1 and 0.02, protein 0.1 and 0.05).
    min_overlap
        RNA: marker sets with a smaller share of their genes measured are not decided (targeted panels).
    species
        RNA: ``"auto"``, ``"human"`` or ``"mouse"`` (mouse data read the marker sets through orthologs).
    neighbors_key
        The neighbour graph to read dropout through (``tmekit.tl._annotate_graph``): each node score is also
        averaged with the cell's graph neighbours (``(s + C s) / (1 + C 1)``, C the connectivities); the lineage is
        decided on these neighbour scores, the types within it on the cell's own scores, or its neighbours' where
        its own decide nothing. ``"auto"`` (default): the graph of ``sc.pp.neighbors`` (``obsp["connectivities"]``)
        when there is one, else per cell; a name: ``sc.pp.neighbors(key_added=name)``'s graph or an ``obsp`` key;
        ``None``: per cell only. ``uns[key_added]["params"]["graph"]`` says which graph was read ("" for none).
    groupby
        ``obs`` column of clusters (e.g. ``"leiden"``) to vote over: the deepest type that more than half of a
        cluster's cells are (that label or one below it) goes to its cells of other labels; cells at or below it keep
        their own. Default ``None``: no vote.
    key_added, overwrite, copy
        ``obs[key_added]`` gets the labels, ``obsm[key_added + "_scores"]`` each cell's own node scores (with a graph,
        ``obsm[key_added + "_neighbor_scores"]`` the smoothed ones), ``uns[key_added]`` the parameters, the sets or
        channels used, what was not measured and the roles of the labels (declared in ``uns["tmekit_cell_types"]``
        too, unless that declares another column); replace existing results; return a new object instead.

    Returns
    -------
    ``None``, or the new object when ``copy=True``.

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()  # raw counts, no labels needed
    >>> tk.tl.annotate(adata)
    >>> adata.obs["tmekit_cell_type"].value_counts().index[:3].tolist()
    ['Fibroblast', 'Perivascular', 'Endothelial']
    >>> adata.uns["tmekit_cell_types"]["cd8"]  # the roles are declared for classify, tcell_states, ...
    ['CD8 T']
    """
    score_key, near_key = f"{key_added}_scores", f"{key_added}_neighbor_scores"
    if not overwrite and (key_added in adata.obs or {score_key, near_key} & set(adata.obsm) or key_added in adata.uns):
        msg = (
            f"`adata.obs[{key_added!r}]` or `adata.obsm[{score_key!r}]` exists. Pass `overwrite=True` or `key_added=`."
        )
        raise ValueError(msg)
    if modality not in {"auto", "rna", "protein"}:
        msg = f"Unknown modality={modality!r}: use 'auto', 'rna' (genes) or 'protein' (antibody channels)."
        raise ValueError(msg)
    if groupby is not None and groupby not in adata.obs:
        msg = (
            f"`adata.obs[{groupby!r}]` not found (groupby=). Cluster first, e.g. `sc.tl.leiden(adata)`, or pass "
            "`groupby=None`."
        )
        raise KeyError(msg)
    graph, graph_key = neighbor_graph(adata, neighbors_key)
    kind = ("protein" if is_protein_panel(adata.var_names) else "rna") if modality == "auto" else modality
    if kind == "protein" and markers is not None:
        msg = "`markers=` are RNA marker sets; protein panels are read through the hierarchy's channels: drop it."
        raise ValueError(msg)
    cuts = (DEFAULTS[kind][0] if min_score is None else float(min_score),
            DEFAULTS[kind][1] if min_margin is None else float(min_margin))  # fmt: skip
    rank_limit = int(min(1500, adata.n_vars)) if max_rank is None else int(max_rank)
    record: dict[str, Any] = {}
    if kind == "protein":
        found = channel_map(adata.var_names)
        if not found:
            msg = f"No channel of this panel is a marker of the hierarchy (channels: {list(adata.var_names)[:20]})."
            raise ValueError(msg)
        channels = sorted({c for names in found.values() for c in names})
        scores, missing = node_scores(scaled_channels(adata, channels, library_key=library_key, layer=layer), found)
        record["channels"] = {n.label: markers_used(n, found) for n in nodes() if n.label in scores.columns}
    elif markers is not None:
        sigs = resolve(markers)
        scores, _ = compute_scores(adata, sigs, layer=layer, max_rank=rank_limit, min_overlap=min_overlap,
                                   species=species)  # fmt: skip
        missing, record["sets_used"] = {}, [s.name for s in sigs]
    else:
        scores, missing, record["sets_used"] = _rna_scores(adata, layer=layer, max_rank=rank_limit,
                                                           min_overlap=min_overlap, species=species,
                                                           key_added=key_added)  # fmt: skip
    root = TREE if markers is None else _flat_root(list(scores.columns))
    columns = list(scores.columns)
    own = _lifted(scores.to_numpy(), columns, kind) if markers is None else scores.to_numpy()
    near = None if graph is None else smoothed(scores.to_numpy(), graph)
    call = np.full(adata.n_obs, UNASSIGNED, dtype=object)
    near_own = near if near is None or markers is not None else _lifted(near, columns, kind)
    _descend(own, columns, root, np.arange(adata.n_obs), call, cuts=cuts, neighbors=near_own)
    if groupby is not None:
        call = vote(call, adata.obs[groupby], root)
    categories = labels() if markers is None else [*columns, UNASSIGNED]
    target = adata.copy() if copy else adata
    target.obs[key_added] = pd.Categorical(call, categories=categories)
    target.obsm[score_key] = scores
    if near is not None:
        target.obsm[near_key] = pd.DataFrame(near, index=scores.index, columns=columns)
    elif near_key in target.obsm:
        del target.obsm[near_key]  # overwrite=True: no stale neighbour scores beside new per-cell calls
    target.uns[key_added] = {
        "params": {"modality": kind, "min_score": cuts[0], "min_margin": cuts[1], "min_overlap": float(min_overlap),
                   "max_rank": rank_limit, "layer": layer or "X", "library_key": library_key or "",
                   "neighbors_key": neighbors_key or "", "graph": graph_key, "groupby": groupby or ""},
        **record,
        "not_measured": missing,
        "roles": _roles(call) if markers is None else {},
    }  # fmt: skip
    mine = declared(target)
    if markers is None and (mine is None or mine.key == key_added):  # never replaces a declaration of your labels
        target.uns[CELL_TYPES_KEY] = annotation_labels(target, key_added)
    return target if copy else None
