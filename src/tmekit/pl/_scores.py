"""Score plots (heatmap / dotplot / violin by group, spatial score map) and the phenotype summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tmekit._constants import SCORES_KEY, SPATIAL_KEY
from tmekit._obs import samples
from tmekit._spatialdata import accepts_spatialdata
from tmekit.pl._spatial import PHENOTYPE_COLORS, _axes

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["phenotypes", "score_groups", "score_spatial", "score_violin", "teff_ftbrs"]


def _scores(adata: AnnData, signatures: Sequence[str] | str | None, key: str) -> pd.DataFrame:
    if key not in adata.obsm:
        msg = f"`adata.obsm[{key!r}]` not found. Run `tk.tl.score(adata, ...)` first (or pass `key=`)."
        raise KeyError(msg)
    table = adata.obsm[key]
    if signatures is None:
        return table
    names = [signatures] if isinstance(signatures, str) else list(signatures)
    unknown = [n for n in names if n not in table.columns]
    if unknown:
        msg = f"Signatures {unknown} were not scored; scored: {list(table.columns)[:20]}."
        raise KeyError(msg)
    return table[names]


def _groups(adata: AnnData, groupby: str) -> pd.Series:
    if groupby not in adata.obs:
        msg = f"`adata.obs[{groupby!r}]` not found (groupby)."
        raise KeyError(msg)
    return adata.obs[groupby].astype(str)


@accepts_spatialdata
def score_groups(
    adata: AnnData,
    *,
    groupby: str,
    signatures: Sequence[str] | None = None,
    kind: str = "heatmap",
    key: str = SCORES_KEY,
    ax: Axes | None = None,
) -> Figure:
    """Mean score per group: a heatmap, or a dotplot (colour = mean, size = share of cells above the median).

    Parameters
    ----------
    adata
        Scored object (``obsm[key]``).
    groupby
        ``obs`` column to group cells by (cell type, sample, compartment...).
    signatures
        Signatures to show (default: all scored).
    kind
        ``"heatmap"`` or ``"dotplot"``.
    key
        ``obsm`` key of the scores.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> sc.pp.normalize_total(adata, target_sum=1e4)
    >>> sc.pp.log1p(adata)
    >>> tk.tl.score(adata, ["ifng6_ayers2017", "hypoxia_buffa2010"])
    >>> fig = tk.pl.score_groups(adata, groupby="cell_type_major", kind="dotplot")
    """
    scores = _scores(adata, signatures, key)
    groups = _groups(adata, groupby)
    means = scores.groupby(groups.to_numpy()).mean()
    fig, ax = _axes(ax)
    if kind == "heatmap":
        image = ax.imshow(means.to_numpy(), aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax, label="mean score")
    elif kind == "dotplot":
        high = (scores > scores.median()).groupby(groups.to_numpy()).mean()
        yy, xx = np.meshgrid(np.arange(len(means)), np.arange(means.shape[1]), indexing="ij")
        dots = ax.scatter(xx.ravel(), yy.ravel(), s=20 + 280 * high.to_numpy().ravel(), c=means.to_numpy().ravel(),
                          cmap="viridis", edgecolors="black", linewidths=0.3)  # fmt: skip
        fig.colorbar(dots, ax=ax, label="mean score")
        ax.set_xlim(-0.5, means.shape[1] - 0.5)
        ax.set_ylim(len(means) - 0.5, -0.5)
    else:
        msg = f"kind must be 'heatmap' or 'dotplot', got {kind!r}."
        raise ValueError(msg)
    ax.set_xticks(range(means.shape[1]), means.columns, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(len(means)), means.index, fontsize="small")
    ax.set_title(f"mean score by {groupby}")
    return fig


@accepts_spatialdata
def score_violin(
    adata: AnnData, signature: str, *, groupby: str, key: str = SCORES_KEY, ax: Axes | None = None
) -> Figure:
    """Distribution of one signature's score in each group (violins, group sizes in the labels).

    Parameters
    ----------
    adata
        Scored object (``obsm[key]``).
    signature
        The signature to draw.
    groupby
        ``obs`` column to group cells by.
    key
        ``obsm`` key of the scores.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.score(adata, "exhaustion_core_curated")  # rank scores: raw counts are fine
    >>> fig = tk.pl.score_violin(adata, "exhaustion_core_curated", groupby="cell_type_major")
    """
    score = _scores(adata, signature, key)[signature]
    groups = _groups(adata, groupby)
    order = sorted(groups.unique())
    data = [score[groups.to_numpy() == g].to_numpy() for g in order]
    fig, ax = _axes(ax)
    keep = [i for i, d in enumerate(data) if d.size > 1]
    if keep:
        ax.violinplot([data[i] for i in keep], positions=keep, showmedians=True)
    for i, d in enumerate(data):
        if d.size <= 1:
            ax.scatter([i] * d.size, d, c="black", s=8)
    ax.set_xticks(range(len(order)), [f"{g} ({len(d)})" for g, d in zip(order, data, strict=True)],
                  rotation=60, ha="right", fontsize="small")  # fmt: skip
    ax.set_ylabel(f"{signature} score")
    ax.set_title(f"{signature} by {groupby}")
    return fig


@accepts_spatialdata
def score_spatial(
    adata: AnnData,
    signature: str,
    *,
    sample: str | None = None,
    library_key: str | None = None,
    spatial_key: str = SPATIAL_KEY,
    key: str = SCORES_KEY,
    point_size: float = 6.0,
    ax: Axes | None = None,
) -> Figure:
    """Cells (or spots) of one sample at their positions, coloured by a signature's score.

    Parameters
    ----------
    adata
        Scored object with coordinates (``obsm[spatial_key]``).
    signature
        The signature to colour by.
    sample, library_key
        The sample to draw (default: the first) and the ``obs`` column of samples.
    spatial_key, key
        Coordinates in ``obsm``, and the ``obsm`` key of the scores.
    point_size
        Marker size.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> spots = tk.datasets.synthetic_spots("excluded", rng=0)  # raw counts of cell-identity genes
    >>> tk.tl.score(spots, "marker_cd8_t")
    >>> fig = tk.pl.score_spatial(spots, "marker_cd8_t")
    """
    score = _scores(adata, signature, key)[signature].to_numpy()
    if spatial_key not in adata.obsm:
        msg = f"`adata.obsm[{spatial_key!r}]` not found: a spatial map needs coordinates (x, y) per cell."
        raise KeyError(msg)
    groups = dict(samples(adata, library_key=library_key))
    name = sample if sample is not None else next(iter(groups))
    if name not in groups:
        msg = f"Sample {name!r} not found; samples are {list(groups)[:20]}."
        raise KeyError(msg)
    idx = groups[name]
    xy = np.asarray(adata.obsm[spatial_key])[idx]
    fig, ax = _axes(ax)
    dots = ax.scatter(xy[:, 0], xy[:, 1], c=score[idx], s=point_size, cmap="magma", linewidths=0)
    fig.colorbar(dots, ax=ax, label=f"{signature} score")
    ax.set_aspect("equal")
    ax.set_title(f"{name}: {signature}")
    return fig


def phenotypes(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """One bar per sample: its call (colour) and confidence (height), from a ``tk.tl.classify`` table.

    Parameters
    ----------
    table
        :func:`tmekit.get.phenotypes` (any mode).
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> fig = tk.pl.phenotypes(tk.get.phenotypes(bulk))
    """
    if not {"phenotype", "confidence"} <= set(table.columns):
        msg = "Expected a table from `tk.tl.classify` (columns 'phenotype' and 'confidence')."
        raise KeyError(msg)
    ordered = table.sort_values(["phenotype", "confidence"])
    fig, ax = _axes(ax)
    colors = [PHENOTYPE_COLORS.get(str(p), "white") for p in ordered["phenotype"]]
    ax.bar(range(len(ordered)), ordered["confidence"], color=colors, edgecolor="black", linewidth=0.3)
    if len(ordered) <= 40:
        ax.set_xticks(range(len(ordered)), [str(i) for i in ordered.index], rotation=90, fontsize="x-small")
    else:  # too many to label: samples sorted by call, then confidence
        ax.set_xticks([])
        ax.set_xlabel(f"{len(ordered)} samples, sorted by call and confidence")
    ax.set_ylim(0, 1)
    ax.set_ylabel("confidence")
    counts = ordered["phenotype"].astype(str).value_counts()
    handles = [ax.bar(0, 0, color=c, label=f"{p} ({counts.get(p, 0)})") for p, c in PHENOTYPE_COLORS.items()]
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(f"{len(table)} samples")
    return fig


def teff_ftbrs(
    table: pd.DataFrame, *, x: str = "score_cd8_teff", y: str = "score_pan_ftbrs", ax: Axes | None = None
) -> Figure:
    """The CD8 T-effector vs pan-F-TBRS plane of Mariathasan 2018, samples coloured by their call.

    Parameters
    ----------
    table
        :func:`tmekit.get.phenotypes` of an expression call (it has both scores).
    x, y
        The columns on each axis.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> fig = tk.pl.teff_ftbrs(tk.get.phenotypes(bulk))
    """
    missing = [c for c in (x, y, "phenotype") if c not in table.columns]
    if missing:
        msg = f"Columns {missing} not in the table; expected per-sample {x!r} and {y!r} scores and 'phenotype'."
        raise KeyError(msg)
    fig, ax = _axes(ax)
    for phenotype, color in PHENOTYPE_COLORS.items():
        sel = table["phenotype"].astype(str) == phenotype
        if sel.any():
            ax.scatter(table.loc[sel, x], table.loc[sel, y], c=color, label=phenotype, edgecolors="black",
                       linewidths=0.3, s=18)  # fmt: skip
    ax.set_xlabel("CD8 T effector (rank score)")
    ax.set_ylabel("pan-F-TBRS (rank score)")
    ax.set_title("T-effector vs TGF-beta response")
    ax.legend(fontsize="small")
    return fig
