"""The statistics behind :func:`tmekit.tl.associate`, one function per test, each from a well-kept library.

- AUC and Mann-Whitney p: ``scipy.stats.mannwhitneyu`` (AUC = U / (n1 n0), the same number as scikit-learn's
  ``roc_auc_score``); its 95% CI by a stratified percentile bootstrap, all features at once (:func:`bootstrap_auc`).
- Categorical features x response: ``scipy.stats.fisher_exact`` for two levels (with the conditional maximum
  likelihood odds ratio and its exact CI, ``scipy.stats.contingency.odds_ratio``, as R's ``fisher.test``), else
  ``scipy.stats.chi2_contingency``.
- Survival: lifelines' ``CoxPHFitter`` (Efron ties; the feature z-scored, so the hazard ratio is per standard
  deviation) and log-rank tests (``logrank_test``, ``multivariate_logrank_test``), imported when first needed. These
  are the reference and serve adjusted models, categorical features and fits in trouble; the unadjusted Cox models
  and median-split log-rank tests of many features are computed together in ``tl/_survival_stats.py``.
- Benjamini-Hochberg: ``scipy.stats.false_discovery_control``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Result",
    "benjamini_hochberg",
    "bootstrap_auc",
    "categorical_response",
    "cox",
    "logrank",
    "mann_whitney_auc",
]

#: Two-sided confidence level of every interval.
CONFIDENCE = 0.95
#: Bootstrap counts held at once (samples x replicates): about 40 MB of float32.
_BOOT_CELLS = 10_000_000


class Result(NamedTuple):
    """One test's numbers; ``reason`` non-empty when the test could not be made (then p is NaN)."""

    effect: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    p: float = np.nan
    reason: str = ""


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q values of ``p`` (NaN stays NaN and is not counted among the tests)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return q


def mann_whitney_auc(x_pos: np.ndarray, x_neg: np.ndarray) -> Result:
    """AUC = U / (n1 n0) of responders' over non-responders' values (ties count one half) and the two-sided p."""
    test = stats.mannwhitneyu(x_pos, x_neg, alternative="two-sided")
    return Result(effect=float(test.statistic) / (len(x_pos) * len(x_neg)), p=float(test.pvalue))


@numba.njit(cache=True, parallel=True)
def _bootstrap_u(order, ptr, first, last, positive, counts):  # noqa: PLR0917
    """Twice the Mann-Whitney U, and n1, n0, of every bootstrap replicate for every feature (features x replicates).

    ``order[ptr[f]:ptr[f + 1]]``: the samples where feature f is measured, by increasing value; ``first`` / ``last``:
    where a run of equal values starts / ends. ``counts[i, b]``: how often replicate b drew sample i (samples x
    replicates, so that the inner loop runs over replicates, contiguous: one pass over the sorted samples serves
    them all). A responder adds its weight times the non-responders' weight below its run plus half of theirs in it.
    Sums of whole numbers in float64: exact.
    """
    n_boot, n_features = counts.shape[1], len(ptr) - 1
    u2 = np.zeros((n_features, n_boot))
    n1 = np.zeros((n_features, n_boot))
    n0 = np.zeros((n_features, n_boot))
    for f in numba.prange(n_features):
        below, total_pos, twice_u = np.zeros(n_boot), np.zeros(n_boot), np.zeros(n_boot)
        run_pos, run_neg = np.zeros(n_boot), np.zeros(n_boot)
        for k in range(ptr[f], ptr[f + 1]):
            i = order[k]
            row = counts[i]
            if first[k] and last[k]:  # a value of its own (no tie): no run to keep
                if positive[i]:
                    for b in range(n_boot):
                        twice_u[b] += 2.0 * below[b] * row[b]
                        total_pos[b] += row[b]
                else:
                    for b in range(n_boot):
                        below[b] += row[b]
                continue
            if positive[i]:
                for b in range(n_boot):
                    run_pos[b] += row[b]
            else:
                for b in range(n_boot):
                    run_neg[b] += row[b]
            if last[k]:
                for b in range(n_boot):
                    twice_u[b] += run_pos[b] * (2.0 * below[b] + run_neg[b])
                    below[b] += run_neg[b]
                    total_pos[b] += run_pos[b]
                    run_pos[b] = 0.0
                    run_neg[b] = 0.0
        u2[f], n1[f], n0[f] = twice_u, total_pos, below
    return u2, n1, n0


def _replicate_counts(
    generators: Sequence[np.random.Generator], pos: np.ndarray, neg: np.ndarray, n: int
) -> np.ndarray:
    """How often each sample is drawn in each replicate (samples x replicates): responders and non-responders apart."""
    counts = np.zeros((len(generators), n), dtype=np.int32)
    for row, gen in enumerate(generators):
        counts[row] += np.bincount(pos[gen.integers(0, len(pos), size=len(pos))], minlength=n).astype(np.int32)
        counts[row] += np.bincount(neg[gen.integers(0, len(neg), size=len(neg))], minlength=n).astype(np.int32)
    return np.ascontiguousarray(counts.T, dtype=np.float32)


def bootstrap_auc(
    values: np.ndarray, positive: np.ndarray, *, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile 95% CI of the AUC of each column of ``values`` (samples x features; NaN: not measured).

    Stratified: each replicate draws the responders and the non-responders apart, with replacement, as many as there
    are (pROC's default); every feature sees the same replicates, each feature only its measured samples. Replicate b
    draws from its own generator spawned from ``rng``, so the result does not depend on how replicates are chunked.
    """
    n, n_features = values.shape
    low, high = np.full(n_features, np.nan), np.full(n_features, np.nan)
    positive = np.asarray(positive, dtype=np.bool_)
    if n_boot < 1 or n_features == 0 or positive.all() or not positive.any():  # (also no sample at all)
        return low, high
    order_parts, first_parts, last_parts, ptr = [], [], [], np.zeros(n_features + 1, dtype=np.int64)
    for f in range(n_features):
        column = values[:, f]
        measured = np.flatnonzero(np.isfinite(column))
        idx = measured[np.argsort(column[measured], kind="stable")]
        changes = column[idx][1:] != column[idx][:-1]
        order_parts.append(idx)
        first_parts.append(np.concatenate([[True], changes]) if idx.size else changes)
        last_parts.append(np.concatenate([changes, [True]]) if idx.size else changes)
        ptr[f + 1] = ptr[f] + idx.size
    order = np.concatenate(order_parts).astype(np.int64)
    first, last = np.concatenate(first_parts).astype(np.bool_), np.concatenate(last_parts).astype(np.bool_)
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    generators = rng.spawn(n_boot)
    chunk = max(1, _BOOT_CELLS // max(n, 1))
    aucs = np.empty((n_boot, n_features))
    for start in range(0, n_boot, chunk):
        counts = _replicate_counts(generators[start : start + chunk], pos, neg, n)
        u2, n1, n0 = _bootstrap_u(order, ptr, first, last, positive, counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs[start : start + counts.shape[1]] = np.where((n1 > 0) & (n0 > 0), u2 / (2.0 * n1 * n0), np.nan).T
    alpha = (1 - CONFIDENCE) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (a feature never measured) stays NaN
        low, high = np.nanquantile(aucs, [alpha, 1 - alpha], axis=0)
    return low, high


def categorical_response(table: pd.DataFrame) -> Result:
    """Fisher's exact test (two levels: odds ratio of the first level over the second, exact CI) or chi-square.

    ``table``: levels x (responders, non-responders) counts.
    """
    counts = table.to_numpy(dtype=np.int64)
    if len(counts) == 2:
        p = float(stats.fisher_exact(counts).pvalue)
        ratio = stats.contingency.odds_ratio(counts, kind="conditional")
        ci = ratio.confidence_interval(confidence_level=CONFIDENCE)
        return Result(effect=float(ratio.statistic), ci_low=float(ci.low), ci_high=float(ci.high), p=p)
    return Result(p=float(stats.chi2_contingency(counts, correction=False).pvalue))


def cox(frame: pd.DataFrame, *, feature: str, duration: str, event: str) -> Result:
    """Hazard ratio per standard deviation of ``feature`` (z-scored here), its CI and Wald p (lifelines' CoxPHFitter).

    The other columns of ``frame`` but ``duration`` and ``event`` (numbers: covariates, indicator columns of
    categorical ones) adjust the model.
    """
    from lifelines import CoxPHFitter  # lifelines takes ~2 s to import: only when needed
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    data = frame.copy()
    column = data[feature].to_numpy(dtype=np.float64)
    data[feature] = (column - column.mean()) / column.std(ddof=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = CoxPHFitter().fit(data, duration_col=duration, event_col=event)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            return Result(reason=f"Cox model did not converge: {first}")
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if trouble:
        first = str(trouble[0].message).strip().splitlines()[0]
        return Result(reason=f"Cox model did not converge: {first}")
    row = model.summary.loc[feature]
    alpha = 1 - CONFIDENCE
    if not np.isclose(model.alpha, alpha):  # lifelines' default alpha is 0.05; say so if that ever changes
        msg = f"lifelines CoxPHFitter alpha {model.alpha} != {alpha}"
        raise RuntimeError(msg)
    return Result(effect=float(row["exp(coef)"]), ci_low=float(row["exp(coef) lower 95%"]),
                  ci_high=float(row["exp(coef) upper 95%"]), p=float(row["p"]))  # fmt: skip


def logrank(durations: np.ndarray, events: np.ndarray, groups: np.ndarray) -> Result:
    """Log-rank p across the values of ``groups`` (two: ``logrank_test``; more: ``multivariate_logrank_test``)."""
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    levels = pd.unique(groups)
    if len(levels) == 2:
        a, b = groups == levels[0], groups == levels[1]
        test = logrank_test(durations[a], durations[b], event_observed_A=events[a], event_observed_B=events[b])
    else:
        test = multivariate_logrank_test(durations, groups, events)
    return Result(p=float(test.p_value))
