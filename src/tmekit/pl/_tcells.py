"""CD8 T-cell states per sample: stacked shares of progenitor / terminal exhausted, effector/memory and other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tmekit.tl import TCELL_STATES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["tcell_states"]

STATE_COLORS = {"progenitor_exhausted": "#1b9e77", "terminal_exhausted": "#d95f02", "effector_memory": "#7570b3",
                "other": "#bdbdbd", "exhausted_unsplit": "#e6ab02", "not_measured": "#ffffff"}  # fmt: skip


def tcell_states(
    table: pd.DataFrame, *, groupby: str | Mapping[str, str] | pd.Series | None = None, ax: Axes | None = None
) -> Figure:
    """One stacked bar per sample: the shares of its CD8 T cells in each state (``tk.get.tcell_states``).

    ``groupby``: a column of ``table`` or a mapping sample -> group (e.g. a response column you supply); samples
    are then ordered by group, with the group under its bars. Indeterminate samples (too few CD8 T cells) are
    drawn as empty outlined bars, labelled with their CD8 count. On a targeted panel the states it cannot
    decide (NaN) are not drawn, and the ``exhausted_unsplit`` / ``not_measured`` shares are stacked after the others.

    Parameters
    ----------
    table
        :func:`tmekit.get.tcell_states`.
    groupby
        A column of ``table``, or a mapping (or Series) sample -> group.
    ax
        Axes to draw on (a new figure otherwise).

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` drawn on (never shown or saved).

    Examples
    --------
    >>> adata = tk.datasets.wu2021_cid4465()
    >>> tk.tl.annotate(adata)
    >>> tk.tl.tcell_states(adata, library_key="sample_id", min_cd8_cells=5)
    >>> fig = tk.pl.tcell_states(tk.get.tcell_states(adata), groupby={"CID4465": "TNBC"})
    """
    missing = [f"frac_{s}" for s in TCELL_STATES if f"frac_{s}" not in table.columns]
    if missing:
        msg = f"Not a `tk.get.tcell_states` table: columns {missing} missing."
        raise KeyError(msg)
    if groupby is None:
        groups = pd.Series("", index=table.index)
    elif isinstance(groupby, str):
        if groupby not in table.columns:
            msg = f"`groupby={groupby!r}` is not a column of the table; pass a mapping sample -> group instead."
            raise KeyError(msg)
        groups = table[groupby].astype(str)
    else:
        groups = pd.Series(groupby).reindex(table.index)
        if groups.isna().any():
            msg = f"`groupby` has no group for samples {list(groups.index[groups.isna()])[:5]}."
            raise ValueError(msg)
        groups = groups.astype(str)
    order = sorted(table.index, key=lambda s: (groups[s], -np.nan_to_num(table.loc[s, "frac_progenitor_exhausted"]), s))
    shown = table.loc[order]
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(shown) + 2), 4))
    else:
        fig = ax.figure
    pos = np.arange(len(shown))
    bottom = np.zeros(len(shown))
    extra = [s for s in ("exhausted_unsplit", "not_measured") if f"frac_{s}" in table.columns]
    for state in (*TCELL_STATES, *extra):
        values = np.nan_to_num(shown[f"frac_{state}"].to_numpy(float))
        ax.bar(pos, values, bottom=bottom, color=STATE_COLORS[state], label=state.replace("_", " "), width=0.8)
        bottom += values
    thin = shown["status"].astype(str).to_numpy() == "indeterminate"
    for p in pos[thin]:
        ax.bar(p, 1.0, fill=False, edgecolor="black", linewidth=0.6, linestyle=":", width=0.8)
        ax.text(p, 0.5, f"n={int(shown['n_cd8'].iloc[p])}", rotation=90, ha="center", va="center", fontsize="x-small")
    labels = [f"{s}\n{groups[s]}" if groupby is not None else str(s) for s in shown.index]
    ax.set_xticks(pos, labels, rotation=90, fontsize="x-small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of CD8 T cells")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(f"CD8 T-cell states, {len(shown)} samples ({int(thin.sum())} with too few CD8 T cells)")
    return fig
