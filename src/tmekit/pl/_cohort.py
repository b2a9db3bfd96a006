"""Plots of association with outcome: the forest plot of `tk.tl.associate`, Kaplan-Meier curves, response rates."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import binomtest

from tmekit._clinical import is_categorical, match_ids, read_clinical

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["associations", "response_rates", "survival"]

#: Effect sizes per test: the value of no effect and whether the axis is logarithmic.
_NULL = {"auc": (0.5, False), "cox": (1.0, True), "fisher": (1.0, True)}
_LABEL = {"auc": "AUC (responders vs not)", "cox": "hazard ratio per SD", "fisher": "odds ratio of response"}


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")  # long feature names and level labels fit
        return fig, ax
    return ax.figure, ax


def associations(
    table: pd.DataFrame, *, test: str | None = None, q_cut: float = 0.05, max_features: int = 30, ax: Axes | None = None
) -> Figure:
    """Forest plot of :func:`tmekit.tl.associate`: each feature's effect with its 95% CI, sorted, q marked.

    Parameters
    ----------
    table
        The table :func:`tmekit.tl.associate` returns (or :func:`tmekit.get.associations`).
    test
        Which effect to draw: ``"auc"`` (response), ``"cox"`` (hazard ratio per SD) or ``"fisher"`` (odds ratio of a
        two-level feature). Default: the one the table has; a table with several needs it named.
    q_cut
        Features with Benjamini-Hochberg ``q`` below it are drawn filled and their ``q`` written beside them.
    max_features
        Draw at most this many features: those with the smallest ``p`` (the title says how many were left out).
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    The figure. Indeterminate rows are not drawn (their count is in the title).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> features = tk.get.cohort_features(bulk).rename_axis("patient_id")
    >>> clinical = tk.datasets.imvigor210_clinical()  # the calibration half: 142 of the 348 patients
    >>> result = tk.tl.associate(
    ...     features, clinical, response="binary_response", positive="CR/PR", duration="os_months", event="os_event"
    ... )
    >>> fig = tk.pl.associations(result, test="cox")
    """
    if "test" not in table.columns or "effect" not in table.columns:
        msg = "`table` is not a `tk.tl.associate` result (no `test` / `effect` columns)."
        raise ValueError(msg)
    present = [t for t in _NULL if (table["test"] == t).any()]
    if test is None:
        if len(present) != 1:
            msg = f"The table has effects of {present or 'no test with an effect size'}: pick one with `test=`."
            raise ValueError(msg)
        test = present[0]
    if test not in _NULL:
        msg = f"Unknown test={test!r}: the forest plot draws {sorted(_NULL)}."
        raise ValueError(msg)
    rows = table[table["test"] == test]
    ok = rows[(rows["status"] == "ok") & np.isfinite(rows["effect"].astype(float))]
    shown = ok.nsmallest(max_features, "p", keep="all").iloc[:max_features] if len(ok) > max_features else ok
    shown = shown.sort_values(["effect", "feature"]).reset_index(drop=True)
    null, log = _NULL[test]
    fig, ax = _axes(ax, (6.5, 1.2 + 0.3 * max(len(shown), 1)))
    y = np.arange(len(shown))
    strong = shown["q"].to_numpy(float) < q_cut
    err = np.vstack([shown["effect"] - shown["ci_low"], shown["ci_high"] - shown["effect"]]).astype(float)
    ax.errorbar(shown["effect"], y, xerr=np.clip(err, 0, None), fmt="none", ecolor="grey", elinewidth=1, capsize=2)
    ax.scatter(shown["effect"][~strong], y[~strong], facecolors="white", edgecolors="black", zorder=3, label="")
    ax.scatter(shown["effect"][strong], y[strong], c="#b2182b", edgecolors="black", zorder=3,
               label=f"q < {q_cut:g}")  # fmt: skip
    for k in np.flatnonzero(strong):
        ax.annotate(f"q={shown['q'].iloc[k]:.2g}", (1.01, y[k]), xycoords=("axes fraction", "data"), va="center",
                    fontsize="x-small")  # fmt: skip
    ax.axvline(null, ls="--", c="black", lw=0.8)
    if log:
        ax.set_xscale("log")
    ax.set_yticks(y, shown["feature"].astype(str))
    ax.set_ylim(-0.7, max(len(shown), 1) - 0.3)
    ax.set_xlabel(f"{_LABEL[test]}, 95% CI")
    left_out = len(ok) - len(shown)
    notes = [f"{len(rows) - len(ok)} indeterminate"] if len(rows) > len(ok) else []
    notes += [f"{left_out} more not shown"] if left_out else []
    ax.set_title(f"{test}: {len(shown)} features" + (f" ({', '.join(notes)})" if notes else ""), fontsize="medium")
    if strong.any():
        ax.legend(loc="lower right", fontsize="small")
    return fig


def _rates(rates: pd.DataFrame) -> pd.DataFrame:
    columns = ["feature", "level", "n", "responders", "rate"]
    if set(columns) <= set(rates.columns):
        return rates
    if "rates" in rates.attrs:
        return pd.DataFrame(rates.attrs["rates"], columns=columns)
    msg = "`rates` is neither a `tk.tl.associate` result nor its rates table (feature, level, n, responders, rate)."
    raise ValueError(msg)


def response_rates(rates: pd.DataFrame, *, feature: str, ax: Axes | None = None) -> Figure:
    """Response rate per level of a categorical feature (e.g. the phenotype), with Wilson 95% CIs and the counts.

    Parameters
    ----------
    rates
        The table :func:`tmekit.tl.associate` returns with ``response=`` (its rates are in ``.attrs["rates"]``), or
        the rates table itself (``adata.uns["tmekit_association"]["rates"]``).
    feature
        The categorical feature, e.g. ``"phenotype:keren2018"``.
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    The figure: one bar per level, ``responders / n`` above it.

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> features = tk.get.cohort_features(bulk).rename_axis("patient_id")
    >>> clinical = tk.datasets.imvigor210_clinical()  # the calibration half: 142 of the 348 patients
    >>> result = tk.tl.associate(features, clinical, response="binary_response", positive="CR/PR")
    >>> fig = tk.pl.response_rates(result, feature="phenotype:imvigor210_cd8_phenotype")
    """
    table = _rates(rates)
    part = table[table["feature"] == feature]
    if part.empty:
        known = sorted(table["feature"].unique())
        msg = f"No response rates for {feature!r}; categorical features with rates: {known}."
        raise KeyError(msg)
    fig, ax = _axes(ax, (1.2 + 0.9 * len(part), 3.5))
    x = np.arange(len(part))
    n, hits = part["n"].to_numpy(int), part["responders"].to_numpy(int)
    rate = np.divide(hits, n, out=np.full(len(n), np.nan), where=n > 0)
    low, high = np.zeros(len(n)), np.zeros(len(n))
    for i in np.flatnonzero(n > 0):
        bound = binomtest(int(hits[i]), int(n[i])).proportion_ci(method="wilson")
        low[i], high[i] = rate[i] - bound.low, bound.high - rate[i]
    ax.bar(x, np.nan_to_num(rate), color="#4393c3", edgecolor="black")
    ax.errorbar(x, np.nan_to_num(rate), yerr=np.vstack([low, high]), fmt="none", ecolor="black", capsize=3)
    for i in range(len(part)):
        ax.text(x[i], 1.02, f"{hits[i]}/{n[i]}", ha="center", fontsize="small")
    ax.set_xticks(x, part["level"].astype(str), rotation=30, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("response rate (95% CI)")
    ax.set_title(feature, fontsize="medium")
    return fig


def survival(
    features: pd.DataFrame,
    clinical: pd.DataFrame | str | Path,
    *,
    feature: str,
    duration: str,
    event: str,
    id_key: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Kaplan-Meier curves by a feature, with the numbers at risk and the log-rank p.

    A categorical feature (a phenotype) gives one curve per level; a continuous one two curves, ``high`` (above the
    median) and ``low`` (at or below it): the split of :func:`tmekit.tl.associate`'s ``logrank_median`` test.

    Parameters
    ----------
    features
        Samples or patients x features (:func:`tmekit.get.cohort_features`).
    clinical
        DataFrame or CSV path with the survival columns, keyed like :func:`tmekit.tl.associate` (``id_key``).
    feature
        The column of ``features`` to split by.
    duration, event
        Clinical columns: follow-up time, and 1 / True for an event (death, progression), 0 / False censored.
    id_key
        Clinical column with the ids of ``features``' rows (default: the clinical index).
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    The figure (curves, censoring ticks, numbers at risk under the axis, p in the title).

    Examples
    --------
    >>> bulk = tk.datasets.imvigor210_bulk()
    >>> tk.tl.classify_expression(bulk, scale="zscore")
    >>> features = tk.get.cohort_features(bulk).rename_axis("patient_id")
    >>> clinical = tk.datasets.imvigor210_clinical()  # the calibration half: 142 of the 348 patients
    >>> fig = tk.pl.survival(
    ...     features,
    ...     clinical,
    ...     feature="evidence:score_cd8_teff",
    ...     duration="os_months",
    ...     event="os_event",
    ...     id_key="patient_id",
    ... )
    """
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    if feature not in features.columns:
        msg = f"`features[{feature!r}]` not found; columns include {list(features.columns)[:10]}."
        raise KeyError(msg)
    left, right, _, _ = match_ids(features[[feature]], read_clinical(clinical), id_key)
    for name in (duration, event):
        if name not in right.columns:
            msg = f"`clinical[{name!r}]` not found; its columns are {list(right.columns)[:20]}."
            raise KeyError(msg)
    times = pd.to_numeric(right[duration], errors="coerce")
    flags = pd.to_numeric(right[event].replace({True: 1, False: 0}), errors="coerce")
    column = left[feature]
    known = (times.notna() & flags.notna() & column.notna()).to_numpy()
    if is_categorical(column):
        groups = column.astype(str).to_numpy()
        order = sorted(set(groups[known]))
    else:
        values = column.to_numpy(dtype=float)
        groups = np.where(values > np.nanmedian(values[known]), "high", "low")
        order = ["high", "low"]
    t, e, g = times.to_numpy(float)[known], flags.to_numpy(float)[known], groups[known]
    if len(order) < 2:
        msg = f"{feature!r} has one level among the {known.sum()} matched samples with follow-up: nothing to compare."
        raise ValueError(msg)
    if ax is None:  # the numbers at risk go below the axes: tight layout makes room for them
        fig, ax = plt.subplots(figsize=(6, 4.5))
    fig = ax.figure
    fitters = []
    for level in order:
        sel = g == level
        fit = KaplanMeierFitter(label=f"{level} (n={int(sel.sum())})").fit(t[sel], e[sel])
        fit.plot_survival_function(ax=ax, ci_show=False, show_censors=True)
        fitters.append(fit)
    if len(order) == 2:
        a, b = g == order[0], g == order[1]
        p = logrank_test(t[a], t[b], event_observed_A=e[a], event_observed_B=e[b]).p_value
    else:
        p = multivariate_logrank_test(t, g, e).p_value
    with warnings.catch_warnings():  # lifelines < 0.30.3 converts a 1-element array to a scalar (numpy >= 1.25 warns)
        warnings.filterwarnings("ignore", "Conversion of an array with ndim > 0", DeprecationWarning)
        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    ax.set_xlabel(duration)
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{feature}: log-rank p = {p:.2g}", fontsize="medium")
    fig.tight_layout()
    return fig
